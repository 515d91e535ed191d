"""What tools/convert_torch.py writes, the product's loader reads (issue 81).

SRVGGNetCompact with no body convolutions (``num_conv`` 0: the first conv, its activation, the last conv, the pixel
shuffle and the skip; the official network allows it) once converted from ncnn with exit 0 and was then refused by
``load_network`` ("num_conv: must be between 1 and 512, got 0"): now both run it, from an ncnn graph and from a
state dict, through ``load_network`` and the public ``Upscaler``, against the same function written here with
plain Paddle ops. And for every registered generator's tiny config (tests/models/tiny_archs.py): its state dict
through the converter, read back by ``load_network`` with the arch the converter stored and the same tensors."""
import importlib.util
from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import load_state_file, save_checkpoint
from tests.models.tiny_archs import TINY_ARCHS
from tests.models.user_files import api_outputs, odd_crop
from tests.ref_compare import psnr
from tests.skips import SAFETENSORS_SKIP

ROOT = Path(__file__).resolve().parents[2]
NO_BODY = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 4, 'num_conv': 0, 'upscale': 2,
           'act_type': 'prelu'}
# an ncnn graph of it, as the Real-ESRGAN exporter writes Compact graphs (a Split feeding the skip's Interp)
NO_BODY_PARAM = """7767517
8 9
Input            in0   0 1 data
Split            sp0   1 2 data d0 d1
Convolution      c0    1 1 d1 a 0=4 1=3 4=1 5=1 6=108
PReLU            p0    1 1 a b 0=4
Convolution      c1    1 1 b c 0=12 1=3 4=1 5=1 6=432
PixelShuffle     ps0   1 1 c e 0=2
Interp           up0   1 1 d0 f 0=1 1=2.000000e+00 2=2.000000e+00
BinaryOp         add0  2 1 e f out 0=0
"""


def _tool():
    spec = importlib.util.spec_from_file_location('convert_torch_cli', ROOT / 'tools' / 'convert_torch.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _no_body_weights(seed=0):
    rng = np.random.default_rng(seed)
    return {'body.0.weight': (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32),
            'body.0.bias': (rng.standard_normal(4) * 0.1).astype(np.float32),
            'body.1.weight': np.full(4, 0.2, np.float32),
            'body.2.weight': (rng.standard_normal((12, 4, 3, 3)) * 0.1).astype(np.float32),
            'body.2.bias': np.zeros(12, np.float32)}


def _no_body_by_hand(w, x):
    """The network on ``x`` (C, H, W), from plain Paddle ops, not the project's Layer."""
    t = paddle.to_tensor(x[None])
    h = F.prelu(F.conv2d(t, paddle.to_tensor(w['body.0.weight']), paddle.to_tensor(w['body.0.bias']), padding=1),
                paddle.to_tensor(w['body.1.weight']))
    h = F.conv2d(h, paddle.to_tensor(w['body.2.weight']), paddle.to_tensor(w['body.2.bias']), padding=1)
    return (F.pixel_shuffle(h, 2) + F.interpolate(t, scale_factor=2, mode='nearest')).numpy()[0]


def _write_ncnn(folder, w):
    (folder / 'nobody.param').write_text(NO_BODY_PARAM)
    flag = np.uint32(0).tobytes()  # fp32 kernels
    (folder / 'nobody.bin').write_bytes(b''.join([
        flag, w['body.0.weight'].astype('<f4').tobytes(), w['body.0.bias'].astype('<f4').tobytes(),
        w['body.1.weight'].astype('<f4').tobytes(),
        flag, w['body.2.weight'].astype('<f4').tobytes(), w['body.2.bias'].astype('<f4').tobytes()]))
    return folder / 'nobody.param'


def _write_state(folder, state, name='state'):
    st = pytest.importorskip('safetensors.numpy', reason=SAFETENSORS_SKIP)
    path = folder / f'{name}.safetensors'
    st.save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    return path


@pytest.mark.parametrize('source', ['ncnn', 'state_dict'])
def test_compact_without_body_convs_converts_loads_and_upscales(source, photo, tmp_path, capsys):
    w = _no_body_weights()
    src = _write_ncnn(tmp_path, w) if source == 'ncnn' else _write_state(tmp_path, w)
    out = tmp_path / 'nobody.pdparams'
    assert _tool().main(['--input', str(src), '--output', str(out), '--quiet']) == 0, capsys.readouterr().err
    assert load_state_file(out)['arch'] == NO_BODY
    net, arch = models.load_network(out)
    assert arch == NO_BODY and len(net.body) == 3
    x = odd_crop(photo)
    got, up = api_outputs(out, x)
    want = _no_body_by_hand(w, x)
    assert up.arch == NO_BODY and got.shape == want.shape == (3, 74, 90)
    assert psnr(got, want) >= 90


def test_the_converter_refuses_in_one_line_what_the_loader_refuses(tmp_path, capsys):
    """An ncnn graph whose arch is out of the loader's bounds is refused before anything is written (it once
    wrote num_conv 0 that the loader then refused; now the bound is the loader's, checked on both sides)."""
    src = _write_ncnn(tmp_path, _no_body_weights())
    src.write_text(NO_BODY_PARAM.replace('0=12 1=3 4=1 5=1 6=432', '0=300 1=3 4=1 5=1 6=10800')
                   .replace('PixelShuffle     ps0   1 1 c e 0=2', 'PixelShuffle     ps0   1 1 c e 0=10')
                   .replace('1=2.000000e+00 2=2.000000e+00', '1=1.000000e+01 2=1.000000e+01'))
    out = tmp_path / 'x10.pdparams'
    assert _tool().main(['--input', str(src), '--output', str(out), '--quiet']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(src) in err, err
    assert not out.exists()


# a CUNet x2 has Real-CUGAN se x2's keys exactly (models/archs/waifu2x/waifu2x.py): from the weights alone it is a
# RealCUGAN, and it keeps its type only in a file that stores its arch
AMBIGUOUS = ('CUNet',)


def _convert_and_load(tool, src, out, state, overrides=()):
    """None when the converter writes ``out`` from ``src`` and ``load_network`` reads it back with the arch the
    converter stored, the same tensors and a forward of the right shape; else what went wrong."""
    if tool.main(['--input', str(src), '--output', str(out), '--quiet', *overrides]) != 0:
        return 'converter refused'
    stored = load_state_file(out)
    net, loaded = models.load_network(out)
    if loaded != stored['arch']:
        return f'stored {stored["arch"]}, loaded {loaded}'
    got = net.state_dict()
    if sorted(got) != sorted(state) or any(not np.array_equal(got[k].numpy(), state[k]) for k in state):
        return 'the tensors read back are not the ones written'
    mod = models.pad_multiple(loaded)
    m = -(-max(models.min_side(loaded), 40) // mod) * mod
    with paddle.no_grad():
        y = net(paddle.rand([1, 3, m, m]))
    s = models.net_scale(loaded)
    return None if tuple(y.shape) == (1, 3, m * s, m * s) else f'output shape {tuple(y.shape)}'


@pytest.mark.slow(seconds=20)
def test_every_family_converter_writes_what_the_loader_reads(tmp_path, capsys):
    """Each registered generator's tiny config, as a bare .safetensors (the weights alone: its values the weights
    cannot show given by flag, as users give them) and as a .pdparams that stores its arch (train.py's
    checkpoints): through the converter, then ``load_network``: the arch the converter stored (the tiny config's
    own, from the stored arch), the same tensors, a forward of the right shape."""
    tool = _tool()
    generators = {s.name for s in models.all_specs() if s.generator}
    assert generators <= set(TINY_ARCHS), sorted(generators - set(TINY_ARCHS))
    failed = {}
    for name in sorted(TINY_ARCHS):
        arch = TINY_ARCHS[name]
        paddle.seed(0)
        state = {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}
        spec = models.get_spec(arch)
        overrides = []
        for key in spec.undetectable:
            if key in arch and spec.flag_for(key) in tool.ARCH_FLAGS:
                overrides += [f'--{spec.flag_for(key)}', str(arch[key])]
        if name not in AMBIGUOUS:
            bad = _convert_and_load(tool, _write_state(tmp_path, state, name), tmp_path / f'{name}.pdparams', state,
                                    overrides)
            if bad:
                failed[f'{name} (weights alone)'] = bad if bad != 'converter refused' else capsys.readouterr().err
        stored = tmp_path / f'{name}_trained.pdparams'
        save_checkpoint(stored, params=state, arch=arch)
        out = tmp_path / f'{name}_converted.pdparams'
        bad = _convert_and_load(tool, stored, out, state)
        if bad is None and load_state_file(out)['arch'] != arch:
            bad = f'the converter stored {load_state_file(out)["arch"]}, not {arch}'
        if bad:
            failed[f'{name} (arch stored)'] = bad if bad != 'converter refused' else capsys.readouterr().err
    assert not failed, failed
