"""Every registered generator through the user paths (issue 61 §2), with the tiny configs of tiny_archs.py:
tools/infer.py through the Paddle Inference predictor (whole, tiled, 16-bit, RGBA, bf16), a short video with
--temporal, ONNX export (every family; the refusal of an unchecked op is tests/inference/test_onnx_export.py's),
the web UI's model list, and a training step per family.

Each architecture is exported once per module (the ``exported`` fixture); the tools run in this process."""
import importlib.util
import logging

import cv2
import numpy as np
import pytest

from tests.models.tiny_archs import TINY_ARCHS
from tests.user_path import ROOT

# the families whose own tests already take trainer steps (tests/models/test_arch_*.py and the smoke tests)
TRAINED_ELSEWHERE = {
    'RRDBNet': 'tests/models/test_arch_esrgan.py', 'LowBandRRDBNet': 'tests/models/test_lowband.py',
    'SRVGGNetCompact': 'tests/training/test_train_smoke_cli.py', 'SPAN': 'tests/models/test_arch_span.py',
    'RealPLKSR': 'tests/models/test_arch_plksr.py', 'OmniSR': 'tests/models/test_arch_omnisr.py',
    'DAT': 'tests/models/test_arch_dat.py', 'RealCUGAN': 'tests/models/test_arch_cugan.py',
    'UpConv7': 'tests/models/test_arch_waifu2x.py', 'SwinIR': 'tests/models/test_arch_swinir.py',
    'HAT': 'tests/models/test_arch_hat.py'}
BF16_EPS = 2.0 ** -8  # bfloat16's 8-bit significand: relative step of one unit in the last place


def _generators():
    from realesrgan_paddle import models
    return [s.name for s in models.all_specs() if s.generator]


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'paths_{name}', ROOT / 'tools' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _status(tool, argv):
    """``tools/<tool>.py``'s ``main(argv)`` in this process; its exit status (``fail`` raises SystemExit)."""
    log = logging.getLogger('inference')
    before = (list(log.handlers), log.propagate, log.level)
    try:
        rc = _tool(tool).main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    log.handlers[:], log.propagate = before[0], before[1]
    log.setLevel(before[2])
    return rc or 0


def test_every_generator_has_a_tiny_config_and_a_training_step():
    names = set(_generators())
    assert names <= set(TINY_ARCHS), f'add a tiny config to tests/models/tiny_archs.py for {names - set(TINY_ARCHS)}'
    assert all(TINY_ARCHS[n]['type'] == n for n in names)
    for name, where in TRAINED_ELSEWHERE.items():
        assert name in (ROOT / where).read_text() or name == 'SRVGGNetCompact', (name, where)
    trained_here = {p.values[0] for p in _train_params()}
    assert names <= set(TRAINED_ELSEWHERE) | trained_here, names - set(TRAINED_ELSEWHERE) - trained_here


@pytest.fixture(scope='module')
def small_photo(tmp_path_factory, hr_photos):
    """A real photo, 24x20, as 8-bit PNG, 16-bit PNG and RGBA PNG (an alpha ramp)."""
    d = tmp_path_factory.mktemp('photo')
    img = next(im for im in (cv2.imread(str(p)) for p in hr_photos) if im is not None and im.ndim == 3)
    small = cv2.resize(img, (24, 20), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(d / 'photo.png'), small)
    cv2.imwrite(str(d / 'photo16.png'), small.astype(np.uint16) * 257)
    alpha = np.tile(np.linspace(40, 250, 24, dtype=np.uint8), (20, 1))
    cv2.imwrite(str(d / 'photo_rgba.png'), np.dstack([small, alpha]))
    return d


@pytest.fixture(scope='module', params=sorted(TINY_ARCHS))
def exported(request, tmp_path_factory):
    """``(name, arch, weights file, export folder)``: the tiny network, seeded, saved and exported once."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    from tests.export_memo import memo_export
    name = request.param
    if name not in _generators():
        pytest.skip(f'{name} is not registered in this build')
    d = tmp_path_factory.mktemp(name)
    paddle.seed(0)
    arch = TINY_ARCHS[name]
    net = models.build_network(arch).eval()
    save_checkpoint(d / f'{name}.pdparams', params=net.state_dict(), arch=arch)
    seen = memo_export(net, arch, d / 'infer')[1]  # made once a session (tests/export_memo.py), its warnings kept
    assert not [w for w in seen if 'force_cpu' in w], [w[:80] for w in seen]  # no Paddle deprecation notice
    return name, arch, d / f'{name}.pdparams', d / 'infer'


def _infer(export, src, out, *extra):
    assert _status('infer', ['-i', src, '-o', out, '-m', export, '-q', *extra]) == 0
    return cv2.imread(str(out), cv2.IMREAD_UNCHANGED)


def test_infer_whole_tiled_16bit_alpha_bf16(exported, small_photo, tmp_path):
    from realesrgan_paddle import models
    name, arch, _, export = exported
    s = models.net_scale(arch)
    whole = _infer(export, small_photo / 'photo.png', tmp_path / 'whole.png', '-t', 0)
    assert whole.shape == (20 * s, 24 * s, 3) and whole.dtype == np.uint8
    # 6 tiles of 8x8, each with context past the image's edges (its receptive field is the whole image, as in
    # one forward): the stitching gives the whole image's output (the arch tests check short contexts)
    tiled = _infer(export, small_photo / 'photo.png', tmp_path / 'tiled.png', '-t', 8, '--tile_pad', 24)
    assert tiled.shape == whole.shape and np.abs(tiled.astype(int) - whole).max() <= 1, name
    # tiles of 8 with 4 px of context: the network's own smallest input (Real-CUGAN: past its reflect padding) is kept
    short = _infer(export, small_photo / 'photo.png', tmp_path / 'short.png', '-t', 8, '--tile_pad', 4)
    assert short.shape == whole.shape
    deep = _infer(export, small_photo / 'photo16.png', tmp_path / 'deep.png', '-t', 0)
    assert deep.dtype == np.uint16 and deep.shape == whole.shape
    assert np.abs(deep.astype(np.int64) // 257 - whole).max() <= 2  # the 8-bit picture, at 16 bits
    rgba = _infer(export, small_photo / 'photo_rgba.png', tmp_path / 'rgba.png', '-t', 0)
    assert rgba.shape == (20 * s, 24 * s, 4)  # alpha through the network (the default): kept as a channel
    rgba = _infer(export, small_photo / 'photo_rgba.png', tmp_path / 'rgba.png', '-t', 0, '--alpha_upsampler', 'resize')
    assert rgba.shape == (20 * s, 24 * s, 4) and np.abs(rgba[..., :3].astype(int) - whole).max() <= 1
    ramp = np.tile(np.linspace(40, 250, 24 * s), (20 * s, 1))
    assert np.abs(rgba[..., 3].astype(float) - ramp).mean() < 8  # the alpha ramp upscaled, not dropped or opaque
    bf16 = _infer(export, small_photo / 'photo.png', tmp_path / 'bf16.png', '-t', 0, '--bf16')
    assert bf16.shape == whole.shape
    # rounding every activation to bf16 moves an output by a few ulps of its range: 8 ulps of [0, 255]
    assert np.abs(bf16.astype(int) - whole).mean() <= 8 * BF16_EPS * 255, name


@pytest.fixture(scope='module')
def pan_clip(tmp_path_factory, hr_photos):
    """Six frames, 24x20, of a pan across a real photo (ffmpeg)."""
    from tests.pipeline.finetune_run import ffmpeg
    out = tmp_path_factory.mktemp('clip') / 'pan.mp4'
    ffmpeg('-loop', 1, '-t', 0.6, '-i', hr_photos[0], '-vf',
           "scale=240:200,crop=24:20:x='t*60':y='t*40',fps=10,format=yuv420p", '-c:v', 'libx264', '-crf', 12, out)
    return out


def _frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_video_with_temporal(exported, pan_clip, tmp_path):
    from realesrgan_paddle import models
    name, arch, _, export = exported
    s = models.net_scale(arch)
    assert _status('infer', ['-i', pan_clip, '-o', tmp_path / 'out.mp4', '-m', export, '-q', '--temporal']) == 0
    frames, src = _frames(tmp_path / 'out.mp4'), _frames(pan_clip)
    assert len(frames) == len(src) >= 5, name
    assert all(f.shape == (20 * s, 24 * s, 3) for f in frames)


@pytest.mark.slow  # paddle2onnx: 4 to 12 s an architecture
def test_onnx_export_matches(exported, tmp_path, capsys):
    pytest.importorskip('paddle2onnx')
    name, arch, weights, _ = exported
    rc = _status('export_onnx', ['-m', weights, '-o', tmp_path / 'net.onnx', '--check', 24, 29])
    out, err = capsys.readouterr()
    # its --check compared onnxruntime with Paddle (>= 50 dB) at 24x(24+mod) and 29x(29+mod), each rounded down to
    # the mod (Real-CUGAN needs over 18 px a side)
    assert rc == 0, err
    assert out.count('onnxruntime vs Paddle PSNR') == 2 and (tmp_path / 'net.onnx').stat().st_size > 0, out


def test_web_ui_lists_upscalers_only():
    import sys
    sys.path.insert(0, str(ROOT))
    from realesrgan_paddle.models import get_spec, zoo
    from webui.handlers import find_models
    listed = find_models()
    families = {zoo.get_entry(n).arch['type'] for n in listed}
    assert {'SPAN', 'DAT', 'RealCUGAN', 'UpConv7', 'CUNet', 'RRDBNet', 'SRVGGNetCompact'} <= families
    assert all(get_spec(zoo.get_entry(n).arch).generator for n in listed), listed


def _train_params():
    return [pytest.param(n, marks=pytest.mark.slow) for n in sorted(TINY_ARCHS) if n not in TRAINED_ELSEWHERE]


@pytest.mark.parametrize('name', _train_params())
def test_train_py_takes_two_steps(name, tmp_path):
    from realesrgan_paddle import models
    from tests.models.arch_paths import train_two_steps
    arch = dict(TINY_ARCHS[name])
    if models.net_scale(arch) == 3:  # the smoke recipe's 64 px crops: x2 (x3 is refused in one line)
        arch[models.get_spec(arch).scale_key] = 2
    flow = '{' + ', '.join(f'{k}: {v}' for k, v in arch.items()) + '}'
    net, got = models.load_network(train_two_steps(tmp_path, flow, models.net_scale(arch)))
    assert got['type'] == name
