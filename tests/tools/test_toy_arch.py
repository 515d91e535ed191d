"""A new network through one ArchSpec alone: it converts, predicts, exports and infers with the unchanged tools.

The toy net (two convs and a pixel shuffle, scale key ``factor``) is registered
at test time; the tools run in-process (``main(argv)``, or the script run as
``__main__``) so that they see the registration. Its spec declares the ops its
export holds beyond the plumbing (``export_ops``: its ReLU and pixel shuffle),
which the graph check reads: nothing in inference/ is edited for it.
"""
import math
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.skips import SAFETENSORS_SKIP
from tests.cli_checks import a_line
from tests.graph_contents import legacy_contents, outside

ROOT = Path(__file__).resolve().parents[2]
ARCH = {'type': 'ToyShuffleNet', 'num_in_ch': 3, 'num_feat': 8, 'factor': 2}


def _toy_spec():
    import paddle.nn as nn
    import paddle.nn.functional as F

    from realesrgan_paddle import models
    from realesrgan_paddle.models import export_ops as ops
    from realesrgan_paddle.models.specs import shape_of

    class ToyShuffleNet(nn.Layer):
        def __init__(self, num_in_ch=3, num_feat=16, factor=2):
            super().__init__()
            self.factor = factor
            self.head = nn.Conv2D(num_in_ch, num_feat, 3, 1, 1)
            self.tail = nn.Conv2D(num_feat, num_in_ch * factor * factor, 3, 1, 1)

        def forward(self, x):
            return F.pixel_shuffle(self.tail(F.relu(self.head(x))), self.factor)

    def detect(state):
        if set(state) != {'head.weight', 'head.bias', 'tail.weight', 'tail.bias'}:
            return None
        feat, in_ch = shape_of(state['head.weight'])[:2]
        factor = math.isqrt(shape_of(state['tail.weight'])[0] // in_ch)
        return {'type': 'ToyShuffleNet', 'num_in_ch': in_ch, 'num_feat': feat, 'factor': factor}

    return models.ArchSpec('ToyShuffleNet', ToyShuffleNet, detect=detect, scale_key='factor',
                           bytes_per_pixel=lambda arch: 4.0 * (2 * arch['num_feat'] + 3 * arch['factor'] ** 2),
                           export_ops=ops.RELU | ops.PIXEL_SHUFFLE)


def _load_tool(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'toy_{name}', ROOT / 'tools' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run_script(name, argv, monkeypatch):
    """Run tools/<name>.py as ``__main__`` in this process; its exit status."""
    import logging
    log = logging.getLogger('inference')  # the tools add their console handler here and must remove it
    before = (list(log.handlers), log.propagate, log.level)
    monkeypatch.setattr(sys, 'argv', [str(ROOT / 'tools' / f'{name}.py'), *map(str, argv)])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(ROOT / 'tools' / f'{name}.py'), run_name='__main__')
    assert (list(log.handlers), log.propagate, log.level) == before, f'{name}.py left the inference logger changed'
    return e.value.code


@pytest.fixture
def toy(tmp_path, hr_photos):
    import paddle

    from realesrgan_paddle import models
    spec = models.register(_toy_spec())
    try:
        paddle.seed(0)
        net = models.build_network(ARCH)
        state = {k: v.numpy() for k, v in net.state_dict().items()}
        state['tail.weight'] *= 0.3
        state['tail.bias'][:] = 0.5  # image-like output, mostly inside [0, 1]
        photo = next(img for img in (cv2.imread(str(p)) for p in hr_photos) if img is not None and img.ndim == 3)
        cv2.imwrite(str(tmp_path / 'photo.png'), photo[40:88, 60:124])
        yield spec, state, tmp_path
    finally:
        models.unregister('ToyShuffleNet')


def _expected(state, img):
    """The toy network run in the dynamic graph on a BGR uint8 image -> BGR uint8."""
    import paddle

    from realesrgan_paddle import models
    net = models.build_network(ARCH)
    net.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    net.eval()
    x = paddle.to_tensor(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)[None] / 255.0, np.float32))
    with paddle.no_grad():
        y = net(x).numpy()[0]
    return (np.clip(y, 0, 1).transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)


def test_toy_arch_converts_predicts_exports_and_infers(toy, monkeypatch, capsys):
    from realesrgan_paddle import models
    from realesrgan_paddle.evaluation.metrics import psnr
    st = pytest.importorskip('safetensors.numpy', reason=SAFETENSORS_SKIP)
    spec, state, d = toy
    assert models.find_spec('ToyShuffleNet') is spec and models.NETWORKS['ToyShuffleNet'] is spec.cls
    convert = _load_tool('convert_torch')

    # convert: a bare .safetensors and a bare .pdparams, detected by the spec; --scale means `factor` here
    st.save_file(state, str(d / 'toy.safetensors'))
    assert convert.main(['--input', str(d / 'toy.safetensors'), '--output', str(d / 'toy.pdparams'),
                         '--scale', '2', '--arch', 'ToyShuffleNet']) == 0
    _, arch = models.load_network(d / 'toy.pdparams')
    assert arch == ARCH
    import paddle
    paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, str(d / 'bare.pdparams'))
    assert convert.main(['--input', str(d / 'bare.pdparams'), '--output', str(d / 'bare_conv.pdparams')]) == 0
    assert models.load_network(d / 'bare_conv.pdparams')[1] == ARCH
    capsys.readouterr()
    assert convert.main(['--input', str(d / 'toy.safetensors'), '--output', str(d / 'x.pdparams'),
                         '--scale', '3']) == 2
    a_line(capsys.readouterr().err, '--scale 3', 'factor=2')
    assert convert.main(['--input', str(d / 'toy.safetensors'), '--output', str(d / 'x.pdparams'),
                         '--block', '3']) == 2
    a_line(capsys.readouterr().err, '--block', 'ToyShuffleNet')

    # predict (dynamic graph)
    photo = cv2.imread(str(d / 'photo.png'))
    assert _run_script('predict', ['-i', d / 'photo.png', '-o', d / 'pred.png', '-m', d / 'toy.pdparams', '-q'],
                       monkeypatch) == 0
    pred = cv2.imread(str(d / 'pred.png'))
    expected = _expected(state, photo)
    assert pred.shape == (96, 128, 3)
    assert np.abs(pred.astype(int) - expected.astype(int)).max() <= 1

    # export (its --check compares the predictor with the dynamic graph) and infer (Paddle Inference)
    export = _load_tool('export_model')
    assert export.main(['-m', str(d / 'toy.pdparams'), '-o', str(d / 'infer'), '--check', '32']) == 0
    assert 'ToyShuffleNet, x2' in capsys.readouterr().out
    from realesrgan_paddle.inference.export.paddle_export import load_info
    from realesrgan_paddle.checkpoint_io.graph_check import LEGACY_BASE, LEGACY_BASE_ATTRS
    assert load_info(d / 'infer')['arch'] == ARCH and load_info(d / 'infer')['mod'] == 1
    held = dict(zip(('legacy', 'legacy_attrs'), legacy_contents(d / 'infer' / 'inference.pdmodel')))
    assert not outside(held, {'legacy': LEGACY_BASE | spec.export_ops.legacy,  # its declaration is complete
                              'legacy_attrs': LEGACY_BASE_ATTRS | spec.export_ops.legacy_attrs})
    assert 'pixel_shuffle' in held['legacy']
    assert _run_script('infer', ['-i', d / 'photo.png', '-o', d / 'infer.png', '-m', d / 'infer', '-q'],
                       monkeypatch) == 0
    got = cv2.imread(str(d / 'infer.png'))
    assert got.shape == pred.shape and psnr(got, pred) >= 45
    from realesrgan_paddle.inference.backends import PredictorBackend
    assert PredictorBackend(d / 'infer').engine == 'onednn'  # the spec's default CPU engine


def test_toy_spec_is_checked_when_registered():
    from realesrgan_paddle import models
    spec = _toy_spec()
    with pytest.raises(ValueError, match='already registered'):
        models.register(models.get_spec('RRDBNet'))
    with pytest.raises(ValueError, match='needs scale_key'):
        models.ArchSpec('Bad', spec.cls)
    with pytest.raises(ValueError, match=r"\['num_blocks'\] are not constructor keys"):
        models.ArchSpec('Bad', spec.cls, scale_key='factor', aliases={'block': 'num_blocks'})
    with pytest.raises(ValueError, match='cpu_engine'):
        models.ArchSpec('Bad', spec.cls, scale_key='factor', cpu_engine='tensorrt')
    assert models.find_spec('ToyShuffleNet') is None  # nothing was registered
