"""evaluation/iqa.py: LPIPS and DISTS in Paddle against torch references, with weights in the official file layouts."""
import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.evaluation import iqa, iqa_weights
from tests.skips import need_torch


# ---------------------------------------------------------------- torch references (the published formulas)
def torch_alex():
    tnn = need_torch().nn
    return tnn.Sequential(tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(), tnn.MaxPool2d(3, 2), tnn.Conv2d(64, 192, 5, 1, 2),
                          tnn.ReLU(), tnn.MaxPool2d(3, 2), tnn.Conv2d(192, 384, 3, 1, 1), tnn.ReLU(),
                          tnn.Conv2d(384, 256, 3, 1, 1), tnn.ReLU(), tnn.Conv2d(256, 256, 3, 1, 1), tnn.ReLU(),
                          tnn.MaxPool2d(3, 2))


def torch_vgg16():
    tnn = need_torch().nn
    layers, ch = [], 3
    for v in (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'):
        if v == 'M':
            layers.append(tnn.MaxPool2d(2, 2))
        else:
            layers += [tnn.Conv2d(ch, v, 3, 1, 1), tnn.ReLU()]
            ch = v
    return tnn.Sequential(*layers)


def torch_lpips(features, lins, x, y, taps):
    torch = need_torch()
    TF = torch.nn.functional
    shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1)
    scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)

    def feats(z):
        z, out = (2 * z - 1 - shift) / scale, []
        for i, layer in enumerate(features):
            z = layer(z)
            if i in taps:
                out.append(z / (z.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out
    return sum(TF.conv2d((a - b) ** 2, w).mean([2, 3]) for a, b, w in zip(feats(x), feats(y), lins)).flatten()


def torch_dists(features, alpha, beta, x, y):
    torch = need_torch()
    tnn, TF = torch.nn, torch.nn.functional
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    han = torch.tensor([0.5, 1.0, 0.5])
    g = (han[:, None] * han[None, :]) / (han[:, None] * han[None, :]).sum()

    def feats(z):
        out, h = [z], (z - mean) / std
        for i, layer in enumerate(features):
            if isinstance(layer, tnn.MaxPool2d):
                c = h.shape[1]
                h = (TF.conv2d(h ** 2, g.expand(c, 1, 3, 3), stride=2, padding=1, groups=c) + 1e-12).sqrt()
            else:
                h = layer(h)
            if i in (3, 8, 15, 22, 29):
                out.append(h)
        return out
    chans = [3, 64, 128, 256, 512, 512]
    w = alpha.sum() + beta.sum()
    a_s, b_s = torch.split(alpha / w, chans, 1), torch.split(beta / w, chans, 1)
    total = 0
    for fx, fy, a, b in zip(feats(x), feats(y), a_s, b_s):
        mx, my = fx.mean([2, 3], keepdim=True), fy.mean([2, 3], keepdim=True)
        vx, vy = ((fx - mx) ** 2).mean([2, 3], keepdim=True), ((fy - my) ** 2).mean([2, 3], keepdim=True)
        cov = (fx * fy).mean([2, 3], keepdim=True) - mx * my
        total = total + (a * (2 * mx * my + 1e-6) / (mx ** 2 + my ** 2 + 1e-6)).sum(1, keepdim=True) \
            + (b * (2 * cov + 1e-6) / (vx + vy + 1e-6)).sum(1, keepdim=True)
    return (1 - total).flatten()


# ---------------------------------------------------------------- fixtures: random weights, official layouts
def _save_backbone(path, features, seed):
    torch = need_torch()
    tnn = torch.nn
    torch.manual_seed(seed)
    for m in features:
        if isinstance(m, tnn.Conv2d):
            tnn.init.normal_(m.weight, 0, (2.0 / (m.in_channels * m.kernel_size[0] ** 2)) ** 0.5)
            tnn.init.uniform_(m.bias, -0.1, 0.1)
    state = {f'features.{k}': v for k, v in features.state_dict().items()}
    state['classifier.1.weight'] = torch.zeros(4, 3)  # torchvision files carry the classifier too
    torch.save(state, path)


@pytest.fixture(scope='module')
def weights(tmp_path_factory, torch):
    d = tmp_path_factory.mktemp('iqa')
    alex, vgg = torch_alex(), torch_vgg16()
    _save_backbone(d / 'alexnet-owt-7be5be79.pth', alex, 0)
    _save_backbone(d / 'vgg16-397923af.pth', vgg, 1)
    g = torch.Generator().manual_seed(2)
    lins = [torch.rand(1, c, 1, 1, generator=g) * 0.1 for c in (64, 192, 384, 256, 256)]
    torch.save({f'lin{i}.model.1.weight': w for i, w in enumerate(lins)}, d / 'lpips_v0.1_alex.pth')
    alpha, beta = torch.rand(1, 1475, 1, 1, generator=g), torch.rand(1, 1475, 1, 1, generator=g)
    torch.save({'alpha': alpha, 'beta': beta}, d / 'dists_weights.pt')
    return {'dir': d, 'alex': alex.eval(), 'vgg': vgg.eval(), 'lins': lins, 'alpha': alpha, 'beta': beta}


@pytest.fixture(scope='module')
def pair(photo_crops):
    """Two real 96x96 crops and their blurred copies: RGB NCHW float32 in [0, 1]."""
    crops = [c[..., ::-1] for c in photo_crops(2, 96)]
    x = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255
    y = np.stack([cv2.GaussianBlur(c, (0, 0), 1.5) for c in crops]).transpose(0, 3, 1, 2).astype(np.float32) / 255
    return x, y


def test_lpips_matches_torch_reference(weights, pair, torch):
    net = iqa.load_lpips(weights['dir'] / 'alexnet-owt-7be5be79.pth', weights['dir'] / 'lpips_v0.1_alex.pth')
    x, y = pair
    ours = net(paddle.to_tensor(x), paddle.to_tensor(y)).numpy()
    with torch.no_grad():
        ref = torch_lpips(weights['alex'], weights['lins'], torch.from_numpy(x), torch.from_numpy(y),
                          iqa.ALEX_TAPS).numpy()
    assert ours.shape == (2,) and (ref > 0).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-4)
    same = net(paddle.to_tensor(x), paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(same, 0, atol=1e-7)


@pytest.mark.slow
def test_dists_matches_torch_reference(weights, pair, torch):
    net = iqa.load_dists(weights['dir'] / 'vgg16-397923af.pth', weights['dir'] / 'dists_weights.pt')
    x, y = pair
    ours = net(paddle.to_tensor(x), paddle.to_tensor(y)).numpy()
    with torch.no_grad():
        ref = torch_dists(weights['vgg'], weights['alpha'], weights['beta'], torch.from_numpy(x),
                          torch.from_numpy(y)).numpy()
    assert ours.shape == (2,) and (ref > 0).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)
    assert abs(net(paddle.to_tensor(x), paddle.to_tensor(x)).numpy()).max() < 1e-5


def test_metric_on_bgr_images_and_gradient(weights, pair):
    net = iqa.load_lpips(weights['dir'] / 'alexnet-owt-7be5be79.pth', weights['dir'] / 'lpips_v0.1_alex.pth')
    x, y = pair
    bgr = (x[0].transpose(1, 2, 0)[..., ::-1] * 255).round().astype(np.uint8)
    blurred = (y[0].transpose(1, 2, 0)[..., ::-1] * 255).round().astype(np.uint8)
    m = iqa.Metric('lpips', net)
    direct = float(net(paddle.to_tensor(x[:1]), paddle.to_tensor(y[:1])).numpy()[0])
    assert m.score(blurred, bgr) == pytest.approx(direct, rel=1e-2)
    xt = paddle.to_tensor(y[:1], stop_gradient=False)
    net(xt, paddle.to_tensor(x[:1])).sum().backward()
    assert xt.grad is not None and float(xt.grad.abs().sum()) > 0


def test_bad_weights_files(weights, tmp_path, torch):
    torch.save({'alpha': torch.zeros(1, 1475, 1, 1)}, tmp_path / 'bad.pt')
    with pytest.raises(ValueError, match='alpha/beta'):
        iqa.load_dists(weights['dir'] / 'vgg16-397923af.pth', tmp_path / 'bad.pt')
    with pytest.raises(ValueError, match='missing'):
        iqa.load_lpips(weights['dir'] / 'vgg16-397923af.pth', weights['dir'] / 'lpips_v0.1_alex.pth')
    with pytest.raises(ValueError, match="'alex' or 'vgg'"):
        iqa.LPIPS('squeeze')


def test_available_without_weights_is_a_note(monkeypatch, tmp_path):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    metrics, notes = iqa.available()
    assert metrics == {} and len(notes) == 2
    assert 'LPIPS skipped' in notes[0] and 'alexnet-owt-7be5be79.pth' in notes[0] and 'DISTS skipped' in notes[1]


def test_available_checks_the_official_sha256(monkeypatch, tmp_path, weights):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    (tmp_path / 'cache' / 'iqa').mkdir(parents=True)
    for name in ('alexnet-owt-7be5be79.pth', 'lpips_v0.1_alex.pth'):
        (tmp_path / 'cache' / 'iqa' / name).write_bytes((weights['dir'] / name).read_bytes())
    with pytest.raises(ValueError, match='sha256 differs'):
        iqa.available()


def test_zoo_entries():
    for e in iqa_weights.IQA_ENTRIES:
        assert e.url.startswith('https://') and len(e.sha256) == 64 and e.size > 0
    for name in ('alexnet', 'vgg16'):  # torchvision names carry the first 8 hex digits of the sha256
        e = iqa_weights.get_iqa_entry(name)
        assert e.sha256.startswith(e.filename.split('-')[-1][:8])
    assert iqa_weights.get_iqa_entry('LPIPS').name == 'lpips-alex-v0.1'
    with pytest.raises(KeyError, match='unknown metric weights'):
        iqa_weights.get_iqa_entry('ssim')
