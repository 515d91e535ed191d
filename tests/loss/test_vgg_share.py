"""loss/vgg_share.py: the perceptual loss on VGG16 and LPIPS-VGG share one frozen VGG16 and one pass per tensor.

On real photo crops, with the zoo's real weights when the tests have them (tests/conftest.py ``perception``) and
random ones in the zoo's layouts otherwise: the two terms' values and gradients equal those of separate networks
(a VGG16 extractor of its own, LPIPS' own backbone with its own input scaling and the published distance formula);
the memo computes the output's and the target's features once a step and never hands out another tensor's."""
import cv2
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.loss import LPIPSLoss, PerceptualLoss, perceptual
from realesrgan_paddle.loss.perceptual import perceptual_loss
from realesrgan_paddle.loss.vgg_share import VGG16_TAPS, lpips_scaling_is_imagenet
from realesrgan_paddle.models.feature_nets import iqa_nets
from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.feature_nets.vgg import IMAGENET_MEAN, IMAGENET_STD, VGG16FeatureExtractor
from realesrgan_paddle.training.loss_terms import build_terms, validate_losses
from realesrgan_paddle.training.step_terms import StepRefs, evaluate

LAYERS = dict(zip(VGG16_TAPS, (0.1, 0.1, 1.0, 1.0, 1.0)))


@pytest.fixture(params=['zoo', 'random'])
def weights(request, monkeypatch, tmp_path, perception):
    """A model cache holding VGG16 and LPIPS: the zoo's real files, or random ones in their layouts."""
    if request.param == 'zoo':
        return perception('vgg16', 'lpips')
    cache = tmp_path / 'cache'
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(cache))
    paddle.seed(5)
    state = {f'features.{k}': v.numpy() for k, v in iqa_nets.backbone('vgg').state_dict().items()}
    save_checkpoint(zoo.cached_paths(zoo.get_entry('vgg16'))[0], params=state)
    rng = np.random.default_rng(5)
    heads = {f'vgg.lin{i}.model.1.weight': (rng.random((1, c, 1, 1)) * 0.1).astype(np.float32)
             for i, c in enumerate((64, 128, 256, 512, 512))}
    save_checkpoint(zoo.cached_paths(zoo.get_entry('lpips'))[0], params=heads)
    return cache


@pytest.fixture
def pair(photo_crops):
    """Two real 48 px crops (the target) and a blurred, noisier copy (the output), RGB NCHW in [0, 1]."""
    crops = photo_crops(2, 48)
    gt = np.stack([c[..., ::-1] for c in crops]).transpose(0, 3, 1, 2).astype(np.float32) / 255
    out = np.stack([cv2.GaussianBlur(c, (0, 0), 1.2)[..., ::-1] for c in crops]).transpose(0, 3, 1, 2) / 255
    out = np.clip(out + np.random.default_rng(0).normal(0, 0.02, out.shape), 0, 1).astype(np.float32)
    return out, gt


def _published_lpips(fx, fy, heads):
    """LPIPS' own formula on two lists of ReLU features: unit-normalised over channels, squared difference, the
    learnt 1x1 weights, mean over space, sum over taps."""
    total = 0
    for a, b, i in zip(fx, fy, range(5)):
        na = a / (paddle.sqrt((a * a).sum(1, keepdim=True)) + 1e-10)
        nb = b / (paddle.sqrt((b * b).sum(1, keepdim=True)) + 1e-10)
        w = getattr(heads, f'lin{i}').model[1].weight
        total = total + ((na - nb) ** 2 * w.reshape([1, -1, 1, 1])).sum(1).mean([1, 2])
    return total.mean()


def _separate(out, gt):
    """``(percep, lpips, grad of their sum)`` with a network each: a VGG16 extractor of its own for the perceptual
    loss, LPIPS' own backbone and input scaling (the metric's network) for LPIPS."""
    ext = VGG16FeatureExtractor(list(LAYERS))
    perceptual.load_vgg_weights(ext, None)
    lp = iqa_nets.load_lpips('vgg')
    x = paddle.to_tensor(out, stop_gradient=False)
    t = paddle.to_tensor(gt)
    percep, _ = perceptual_loss(ext(x), ext(t), LAYERS)
    lpips = _published_lpips(lp.feats(x), lp.feats(t), lp)
    (percep + lpips).backward()
    return float(percep), float(lpips), x.grad.numpy()


def test_lpips_scaling_is_imagenet_normalisation(pair):
    assert lpips_scaling_is_imagenet()
    x = paddle.to_tensor(pair[1])
    lp = (2 * x - 1 - paddle.to_tensor(iqa_nets.LPIPS_SHIFT).reshape([1, 3, 1, 1])) / \
        paddle.to_tensor(iqa_nets.LPIPS_SCALE).reshape([1, 3, 1, 1])
    imagenet = (x - paddle.to_tensor(IMAGENET_MEAN).reshape([1, 3, 1, 1])) / \
        paddle.to_tensor(IMAGENET_STD).reshape([1, 3, 1, 1])
    np.testing.assert_allclose(lp.numpy(), imagenet.numpy(), rtol=0, atol=2e-6)


def test_shared_values_and_gradients_equal_separate_networks(weights, pair):
    out, gt = pair
    ref_p, ref_l, ref_g = _separate(out, gt)
    percep, lpips = PerceptualLoss(network='vgg16'), LPIPSLoss('vgg')
    assert percep.shared is lpips.vgg and percep.layer_weights == LAYERS  # one VGG16 for both
    x, t = paddle.to_tensor(out, stop_gradient=False), paddle.to_tensor(gt)
    computed = percep.shared.memo.computed
    p, _ = percep(x, t)
    v = lpips(x, t)
    assert percep.shared.memo.computed == computed + 2  # one pass of the output, one of the target
    (p + v).backward()
    assert float(p) == pytest.approx(ref_p, rel=1e-5) and float(v) == pytest.approx(ref_l, rel=1e-5)
    assert float(v) > 1e-3 and float(p) > 1e-3
    g = x.grad.numpy()
    # float tolerance: the two input scalings differ by round-off, which LPIPS' unit normalisation amplifies where
    # a feature vector is near zero (a few pixels of a real photo): the bulk to 1e-4 of the largest, the whole in norm
    close = np.abs(g - ref_g) <= 1e-4 * np.abs(ref_g).max()
    assert close.mean() >= 0.999 and np.linalg.norm(g - ref_g) <= 1e-3 * np.linalg.norm(ref_g)
    # nothing differentiates the frozen weights; the target's features carry no graph
    assert all(q.grad is None for q in [*percep.parameters(), *lpips.parameters()])
    feats = percep.shared.features(t, VGG16_TAPS, target=True)
    assert all(f.stop_gradient for f in feats.values())


def test_the_memo_never_serves_another_tensor(weights, pair):
    out, gt = pair
    percep, lpips = PerceptualLoss(network='vgg16'), LPIPSLoss('vgg')
    memo = percep.shared.memo

    def fresh(loss, a, b):  # the value of a loss on a network without a memo entry for these tensors
        memo.clear()
        return float(loss(paddle.to_tensor(a), paddle.to_tensor(b)) if loss is lpips else
                     loss(paddle.to_tensor(a), paddle.to_tensor(b))[0])

    x, t = paddle.to_tensor(out), paddle.to_tensor(gt)
    first = float(lpips(x, t))
    n = memo.computed
    assert float(lpips(x, t)) == first and memo.computed == n  # the same tensors: served
    t2 = paddle.to_tensor(gt)  # equal values, another tensor: computed again
    assert float(lpips(x, t2)) == pytest.approx(first, rel=1e-6) and memo.computed == n + 1
    other = np.ascontiguousarray(gt[:, :, ::-1])  # another target (as gt against gt_usm): its own features
    t3 = paddle.to_tensor(other)
    percep(x, t)
    got = float(lpips(x, t3))
    assert got == pytest.approx(fresh(lpips, out, other), rel=1e-6) and abs(got - first) > 1e-3
    t.scale_(0.5)  # changed in place (its version moves): computed again
    got = float(lpips(x, t))
    assert got == pytest.approx(fresh(lpips, out, gt * 0.5), rel=1e-6) and abs(got - first) > 1e-3


def test_a_tensor_after_its_backward_gets_a_new_graph(weights, pair):
    """The memo drops an output's features once its backward ran (their graph is freed): the same tensor through
    the loss again differentiates again, the same gradient."""
    out, gt = pair
    lpips = LPIPSLoss('vgg')
    x, t = paddle.to_tensor(out, stop_gradient=False), paddle.to_tensor(gt)
    lpips(x, t).backward()
    once = x.grad.numpy().copy()
    lpips(x, t).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * once, rtol=1e-5, atol=1e-9)


class _Trainer:
    teacher_out = None


def test_the_trainer_s_terms_take_one_vgg16_pass_per_tensor(weights, pair):
    """``train.losses`` with both terms, as the trainer evaluates them (training/loss_terms.py, training/step_terms.py): the output and the
    GT go through VGG16 once each, and each term is the one computed alone."""
    out, gt = pair
    problems = []
    entries = validate_losses([{'type': 'PerceptualLoss', 'weight': 1.0, 'network': 'vgg16'},
                               {'type': 'LPIPSLoss', 'weight': 0.5, 'net': 'vgg'}], problems)
    assert not problems and [e['target'] for e in entries] == ['gt', 'gt']
    terms = build_terms(entries)
    memo = terms[0].loss.shared.memo
    x, t = paddle.to_tensor(out, stop_gradient=False), paddle.to_tensor(gt)
    n = memo.computed
    values = evaluate(terms, StepRefs(_Trainer(), F.avg_pool2d(t, 4), t, paddle.to_tensor(gt), x))
    assert memo.computed == n + 2
    alone_p = float(PerceptualLoss(network='vgg16')(paddle.to_tensor(out), paddle.to_tensor(gt))[0])
    alone_l = float(LPIPSLoss('vgg')(paddle.to_tensor(out), paddle.to_tensor(gt)))
    assert float(values['l_g_percep']) == pytest.approx(alone_p, rel=1e-6)
    assert float(values['l_g_lpips']) == pytest.approx(0.5 * alone_l, rel=1e-6)
