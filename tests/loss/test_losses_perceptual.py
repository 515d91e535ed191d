"""Perceptual loss: the VGG path runs with random weights written to a file (no ImageNet
weights offline); it is checked against a torch re-computation, and a missing file must
fail with the fix."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.loss import PerceptualLoss, VGGWeightsMissing, build_loss, perceptual_loss
from realesrgan_paddle.loss.perceptual import DEFAULT_LAYER_WEIGHTS, gram_matrix
from realesrgan_paddle.models.feature_nets.vgg import VGG19FeatureExtractor, torchvision_index_map
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint

LAYERS = {'conv1_2': 0.1, 'conv2_2': 0.5}


@pytest.fixture(scope='module')
def vgg_file(tmp_path_factory):
    """Random VGG19 weights up to conv2_2, stored under torchvision's ``features.N`` names."""
    paddle.seed(7)
    ext = VGG19FeatureExtractor(['conv2_2'])
    inv = {v: k for k, v in torchvision_index_map().items()}
    state = {}
    for k, v in ext.state_dict().items():
        if k in ('mean', 'std'):
            continue
        layer, what = k.split('.')
        state[f'features.{inv[layer]}.{what}'] = v.numpy()
    path = tmp_path_factory.mktemp('vgg') / 'vgg19_random.pdparams'
    save_checkpoint(path, params=state)
    return path, state


def _imgs(seed, n=1, s=24):
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, s, s)).astype('float32'), rng.random((n, 3, s, s)).astype('float32')


def test_missing_weights_error_tells_the_fix(tmp_path):
    with pytest.raises(VGGWeightsMissing) as e:
        PerceptualLoss(LAYERS, vgg_weights=str(tmp_path / 'nope.pdparams'))
    msg = str(e.value)
    assert 'nope.pdparams' in msg and 'tools/download_models.py --names vgg19' in msg
    assert 'tools/convert_torch.py --input vgg19-dcbb9e9d.pth' in msg and '\n' not in msg


def test_wrong_file_is_rejected(tmp_path):
    p = tmp_path / 'other.pdparams'
    save_checkpoint(p, params={'conv_first.weight': np.zeros((4, 3, 3, 3), 'float32')})
    with pytest.raises(ValueError, match='not a VGG19 state dict'):
        PerceptualLoss(LAYERS, vgg_weights=str(p))


def test_matches_torch_recomputation(vgg_file, torch):
    path, state = vgg_file
    crit = PerceptualLoss(LAYERS, vgg_weights=str(path), perceptual_weight=2.0)
    x, gt = _imgs(0)
    percep, style = crit(paddle.to_tensor(x), paddle.to_tensor(gt))
    assert style is None

    def feats(img):
        t = torch.from_numpy(img)
        t = (t - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
            1, 3, 1, 1)
        out = {}
        for idx in range(9):  # conv1_1 relu pool ... up to conv2_2 (features.7)
            if f'features.{idx}.weight' in state:
                t = torch.nn.functional.conv2d(t, torch.from_numpy(state[f'features.{idx}.weight']),
                                               torch.from_numpy(state[f'features.{idx}.bias']), padding=1)
                name = torchvision_index_map()[idx]
                if name in LAYERS:
                    out[name] = t.clone()  # before the ReLU
            elif idx in (1, 3, 6, 8):
                t = torch.relu(t)
            elif idx == 4:
                t = torch.nn.functional.max_pool2d(t, 2)
        return out

    fx, fg = feats(x), feats(gt)
    ref = 2.0 * sum((fx[k] - fg[k]).abs().mean().item() * w for k, w in LAYERS.items())
    assert float(percep) == pytest.approx(ref, rel=1e-4)


def test_zero_for_identical_and_gradient_reaches_input_only(vgg_file):
    path, _ = vgg_file
    crit = PerceptualLoss(LAYERS, vgg_weights=str(path))
    x, gt = _imgs(1)
    same, _ = crit(paddle.to_tensor(gt), paddle.to_tensor(gt))
    assert float(same) == pytest.approx(0.0, abs=1e-7)
    tx = paddle.to_tensor(x, stop_gradient=False)
    loss, _ = crit(tx, paddle.to_tensor(gt))
    loss.backward()
    assert tx.grad is not None and float(tx.grad.abs().sum()) > 0
    assert all(p.grad is None for p in crit.vgg.parameters())


def test_style_term_and_switches(vgg_file):
    path, _ = vgg_file
    x, gt = _imgs(2)
    crit = PerceptualLoss(LAYERS, vgg_weights=str(path), perceptual_weight=0.0, style_weight=1.0)
    percep, style = crit(paddle.to_tensor(x), paddle.to_tensor(gt))
    assert percep is None and float(style) > 0
    g = gram_matrix(paddle.ones([1, 2, 3, 3]))
    np.testing.assert_allclose(g.numpy(), np.full((1, 2, 2), 9 / 18), rtol=1e-6)
    built = build_loss({'type': 'PerceptualLoss', 'layer_weights': LAYERS, 'vgg_weights': str(path)})
    assert isinstance(built, PerceptualLoss)


def test_function_form_and_bad_criterion():
    a = {'conv1_2': paddle.ones([1, 2, 4, 4])}
    b = {'conv1_2': paddle.zeros([1, 2, 4, 4])}
    p, s = perceptual_loss(a, b, {'conv1_2': 0.5}, 'l2', 3.0)
    assert float(p) == pytest.approx(1.5) and s is None
    with pytest.raises(ValueError, match='criterion'):
        perceptual_loss(a, b, {'conv1_2': 1.0}, 'cosine')


def test_default_layer_weights_are_the_official_ones():
    assert DEFAULT_LAYER_WEIGHTS == {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1.0, 'conv4_4': 1.0, 'conv5_4': 1.0}
