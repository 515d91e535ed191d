"""An export folder's graph is read before Paddle sees it (checkpoint_io/graph_check.py): hostile graphs are
refused in one line naming the file, through the Python API and tools/infer.py; random and mutated graphs never
crash the reader. Every network's exports pass: tests/inference/test_export_ops.py."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.graph_contents import add_op
from tests.nets import rrdb, srvgg

ROOT = Path(__file__).resolve().parents[2]
LOWBAND = {'type': 'LowBandRRDBNet', 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4, 'corr_feat': 8, 'corr_conv': 2}
KINDS = {'rrdb_x2': rrdb(scale=2), 'lowband': LOWBAND}  # run in both engines and precisions


def _export(arch, out, seed=0):
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import export_static
    paddle.seed(seed)
    net = models.build_network(arch)
    return export_static(net, arch, out), net


@pytest.fixture(scope='module')
def legit(tmp_path_factory):
    """A tiny real export (SRVGGNetCompact x4) and its network."""
    return _export(srvgg(), tmp_path_factory.mktemp('legit') / 'infer')


@pytest.fixture(scope='module')
def photo_png(tmp_path_factory, hr_photos):
    import cv2
    img = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)[:24, :32]
    p = tmp_path_factory.mktemp('img') / 'small.png'
    cv2.imwrite(str(p), img)
    return p


def _program(folder):
    from paddle.base.proto import framework_pb2 as fp
    prog = fp.ProgramDesc()
    prog.ParseFromString((folder / 'inference.pdmodel').read_bytes())
    return prog


def _copy(legit, tmp_path, name):
    d = tmp_path / name
    shutil.copytree(legit[0], d)
    return d


def _hostile(kind, d):
    """Turn the export ``d`` into the hostile graph ``kind``."""
    graph = d / 'inference.pdmodel'
    if kind == 'random':
        graph.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        return 'refused'
    if kind == 'text':
        graph.write_text('this is not a graph\n' * 200)
        return 'refused'
    prog = _program(d)
    if kind == 'save_op':
        add_op(prog, 'save', file_path=str(d.parent / 'written_by_the_graph.py'))
        why = "op 'save'"
    elif kind == 'read_file_op':
        add_op(prog, 'read_file', filename='/etc/passwd')
        why = "op 'read_file'"
    elif kind == 'file_path_attr':
        conv = next(op for op in prog.blocks[0].ops if op.type == 'conv2d')
        a = conv.attrs.add()
        a.name, a.type, a.s = 'file_path', 2, '/tmp/x'
        why = "attribute 'file_path'"
    elif kind == 'self_parent':
        b = prog.blocks.add()
        b.idx, b.parent_idx = 1, 1
        why = 'its own parent'
    elif kind == 'many_ops':
        ops = prog.blocks[0].ops
        for _ in range(200_000):  # small ops (2 MB in all): the op count is what is refused, not the size
            ops.add().type = 'relu'
        why = 'more than 20,000'
    graph.write_bytes(prog.SerializeToString())
    return why


HOSTILE = ('save_op', 'read_file_op', 'file_path_attr', 'self_parent', 'many_ops', 'random', 'text')


@pytest.mark.parametrize('kind', HOSTILE)
def test_hostile_graph_refused_by_the_api(legit, tmp_path, kind, monkeypatch):
    import paddle.inference

    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import ExportRefused, open_export
    d = _copy(legit, tmp_path, kind)
    why = _hostile(kind, d)
    made = []
    monkeypatch.setattr(paddle.inference, 'create_predictor', lambda *a: made.append(a))
    for run in (open_export, PredictorBackend, Upscaler):
        with pytest.raises(ExportRefused) as e:
            run(d)
        msg = str(e.value)
        assert '\n' not in msg and msg.startswith(str(d / 'inference.pdmodel')) and why in msg, msg
    assert made == []  # refused before Paddle was handed the graph
    assert not (tmp_path / 'written_by_the_graph.py').exists()


@pytest.mark.slow
@pytest.mark.parametrize('kind', HOSTILE)
def test_hostile_graph_refused_by_infer(legit, tmp_path, photo_png, kind):
    d = _copy(legit, tmp_path, kind)
    _hostile(kind, d)
    out = tmp_path / 'out'
    res = subprocess.run([sys.executable, 'tools/infer.py', '-m', str(d), '-i', str(photo_png), '-o', str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(lines) == 1 and str(d / 'inference.pdmodel') in lines[0] and 'refused' in lines[0], res.stderr
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / 'written_by_the_graph.py').exists()


BF16_ROUNDING = 2.0 ** -9  # bf16 keeps 8 significant bits: round to nearest is within half an ulp, 2^-9 relative


def bf16_bound(net):
    """What bf16 can promise for ``net``, as the RMS of the error over the RMS of the fp32 output: each conv rounds
    its input, its weights and its output to bf16 (3 roundings of 2^-9 at most), and the rounding errors of a chain
    of L convs add up to at most about 3 L 2^-9 (a linear sum; independent errors would add as the square root). L
    is counted as every conv of the network, an upper bound on its depth. Native bf16 (AVX512-BF16, AMX) and an
    emulation round differently, but both stay within this; a wrong graph is off by the output's own size."""
    import paddle
    convs = sum(isinstance(layer, paddle.nn.Conv2D) for layer in net.sublayers())
    return 3 * convs * BF16_ROUNDING


def _relative_rms(out, ref):
    return float(np.sqrt(np.mean((out - ref) ** 2)) / np.sqrt(np.mean(ref ** 2)))


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_exports_still_run(tmp_path, precision):
    """The check leaves this project's exports running, on both engines and both precisions (bf16 falls back to
    fp32 where the CPU has no native bfloat16), with the dynamic graph's numbers: within 1e-3 in fp32, within what
    bf16's 8-bit mantissa can promise over the network's depth in bf16 (``bf16_bound``), whatever the CPU's bf16."""
    import paddle

    from realesrgan_paddle.inference.backends import PredictorBackend
    x = np.random.default_rng(0).random((1, 3, 16, 20), dtype=np.float32)
    for name in ('rrdb_x2', 'lowband'):
        d, net = _export(KINDS[name], tmp_path / name)
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        for engine in ('openvino', 'onednn'):
            try:
                b = PredictorBackend(d, precision=precision, engine=engine)
            except ValueError as e:
                assert 'OpenVINO' in str(e)
                continue
            out = b.forward(x)
            if b.precision == 'bf16':
                assert _relative_rms(out, ref) < bf16_bound(net), (name, engine, _relative_rms(out, ref))
            else:
                assert np.abs(out - ref).max() < 1e-3, (name, engine)


def test_the_bf16_bound_holds_for_rounding_and_catches_a_wrong_network():
    """The bound against an emulation of bf16 in numpy (input, weights and each conv's output rounded to 8
    significant bits, by truncation: the coarser, biased rounding) on a tiny RRDBNet, within half the bound (native
    OpenVINO bf16 on an AMD EPYC with AVX512-BF16: 0.010 of 0.123), and against a network with other
    weights (a wrong graph), which it must refuse."""
    import paddle

    from realesrgan_paddle import models
    paddle.seed(0)
    net = models.build_network(KINDS['rrdb_x2'])
    net.eval()
    x = np.random.default_rng(0).random((1, 3, 16, 20), dtype=np.float32)
    with paddle.no_grad():
        ref = net(paddle.to_tensor(x)).numpy()
        for p in net.parameters():
            p.set_value(_bf16_truncate(p.numpy()))
        hooks = [layer.register_forward_post_hook(lambda _l, _i, out: paddle.to_tensor(_bf16_truncate(out.numpy())))
                 for layer in net.sublayers() if isinstance(layer, paddle.nn.Conv2D)]
        emulated = net(paddle.to_tensor(_bf16_truncate(x))).numpy()
        for h in hooks:
            h.remove()
        paddle.seed(1)
        other = models.build_network(KINDS['rrdb_x2'])(paddle.to_tensor(x)).numpy()
    bound = bf16_bound(net)
    assert 1e-4 < _relative_rms(emulated, ref) < bound / 2, (_relative_rms(emulated, ref), bound)  # 0.034, 0.123
    assert _relative_rms(other, ref) > 5 * bound


def _bf16_truncate(a):
    """float32 -> bf16 -> float32 by dropping the low 16 bits of the mantissa (8 significant bits left)."""
    return (np.ascontiguousarray(a, np.float32).view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)


def test_a_cache_shipped_in_the_folder_is_not_used(legit, tmp_path):
    """An export folder that brings its own ``_onednn_opt`` (with a stamp that matches) is not trusted: the
    optimised graph and OpenVINO's blobs live in the user cache, named from the graph's sha256."""
    import paddle

    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import open_export
    d = _copy(legit, tmp_path, 'shipped')
    opt = d / '_onednn_opt'
    opt.mkdir()
    _hostile('save_op', shutil.copytree(d, tmp_path / 'evil', ignore=shutil.ignore_patterns('_onednn_opt')))
    shutil.copy(tmp_path / 'evil' / 'inference.pdmodel', opt / '_optimized.pdmodel')
    shutil.copy(d / 'inference.pdiparams', opt / '_optimized.pdiparams')
    st = [(d / n).stat() for n in ('inference.pdmodel', 'inference.pdiparams')]
    (opt / 'stamp').write_text(f'{paddle.__version__}|' + '|'.join(f'{s.st_size}:{s.st_mtime_ns}' for s in st))
    b = PredictorBackend(d, engine='onednn')
    assert not b.opt_cache_hit and open_export(d).side_base != d
    assert b.forward(np.zeros((1, 3, 8, 8), np.float32)).shape == (1, 3, 32, 32)


# ---------------------------------------------------------------- the sidecar and the output's size
def _lie(d, **changes):
    p = d / 'model_info.json'
    info = json.loads(p.read_text())
    for k, v in changes.items():
        if k.startswith('arch.'):
            info['arch'][k[5:]] = v
        else:
            info[k] = v
    p.write_text(json.dumps(info))


def test_sidecar_out_of_range_or_huge_is_refused(legit, tmp_path):
    from realesrgan_paddle.inference.export.paddle_export import ExportRefused, open_export
    cases = {'mod5000': dict(mod=5000), 'scale7': dict(scale=7), 'scale_text': dict(scale='4'),
             'disagree': dict(scale=2), 'engine': dict(cpu_engine='/tmp/x')}
    for name, change in cases.items():
        d = _copy(legit, tmp_path, name)
        _lie(d, **change)
        with pytest.raises(ExportRefused, match=str(d / 'model_info.json')) as e:
            open_export(d)
        assert '\n' not in str(e.value)
    d = _copy(legit, tmp_path, 'huge')
    (d / 'model_info.json').write_text(json.dumps(json.loads((d / 'model_info.json').read_text())) + ' ' * (1 << 20))
    with pytest.raises(ExportRefused, match='bytes, more than the 65,536 allowed'):  # its size, before reading
        open_export(d)


@pytest.mark.parametrize('claim', [2, 8])
def test_a_lying_scale_is_refused_not_written(legit, tmp_path, photo_png, claim):
    """The sidecar says x2 (the graph's output is larger) or x8 (smaller, where rows were left unwritten):
    the first forward refuses it in one line; nothing is written, and infer.py stops there (exit 2)."""
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.backends import OutputMismatch
    d = _copy(legit, tmp_path, f'x{claim}')
    _lie(d, scale=claim, **{'arch.upscale': claim})
    up = Upscaler(d, progress=False)
    img = np.full((24, 32, 3), 128, np.uint8)
    with pytest.raises(OutputMismatch, match=f'x{claim}') as e:  # the scale the sidecar claims
        up.upscale(img)
    assert str(e.value).startswith(str(d)) and '\n' not in str(e.value)
    out = tmp_path / 'out'
    res = subprocess.run([sys.executable, 'tools/infer.py', '-m', str(d), '-i', str(photo_png), '-o', str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and 'sidecar' in res.stderr, res.stderr[-2000:]
    assert 'Traceback' not in res.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture(scope='module')
def onnx_model(tmp_path_factory):
    pytest.importorskip('paddle2onnx')
    pytest.importorskip('onnxruntime')
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.onnx_export import export_onnx
    paddle.seed(0)
    arch = srvgg()
    return export_onnx(models.build_network(arch), arch, tmp_path_factory.mktemp('onnx') / 'tiny.onnx')


def test_onnx_sidecar_lies_and_size(onnx_model, tmp_path):
    from realesrgan_paddle.inference.backends import OutputMismatch
    from realesrgan_paddle.inference.export.paddle_export import ExportRefused
    from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
    x = np.random.default_rng(0).random((1, 3, 8, 12), dtype=np.float32)
    assert OnnxBackend(onnx_model).forward(x).shape == (1, 3, 32, 48)
    for claim in (2, 8):
        m = tmp_path / f'x{claim}.onnx'
        shutil.copy(onnx_model, m)
        info = json.loads(onnx_model.with_suffix('.json').read_text())
        info['scale'] = info['arch']['upscale'] = claim
        m.with_suffix('.json').write_text(json.dumps(info))
        with pytest.raises(OutputMismatch, match=f'{m}: .* not x{claim}'):
            OnnxBackend(m).forward(x)
    m = tmp_path / 'huge.onnx'
    shutil.copy(onnx_model, m)
    m.with_suffix('.json').write_text(onnx_model.with_suffix('.json').read_text() + ' ' * (1 << 20))
    with pytest.raises(ExportRefused, match=f'{m.with_suffix(".json")}: .*more than'):
        OnnxBackend(m)


# ---------------------------------------------------------------- fuzz
FUZZ = r'''
import random, sys, time
sys.path.insert(0, sys.argv[1])
from realesrgan_paddle.checkpoint_io.graph_check import GraphRefused, check_graph
seeds = [open(p, 'rb').read() for p in sys.argv[2:]]
rng = random.Random(55)
t, passed, refused = time.perf_counter(), 0, 0
for i in range(2000):
    kind = i % 4
    if kind == 0:  # random bytes
        data = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 7, 64, 512, 4096])))
    else:  # a real graph, mutated: flipped bytes, cut, a piece repeated
        seed = bytearray(seeds[i % len(seeds)])
        for _ in range(rng.randint(1, 8)):
            j = rng.randrange(len(seed))
            seed[j] = rng.getrandbits(8)
        if kind == 2:
            seed = seed[:rng.randrange(len(seed))]
        if kind == 3:
            a = rng.randrange(len(seed)); b = min(len(seed), a + rng.randint(1, 2000))
            seed[a:a] = seed[a:b] * rng.randint(1, 50)
        data = bytes(seed)
    name = sys.argv[2 + i % len(seeds)] if kind else ('inference.json' if i % 8 else 'inference.pdmodel')
    try:
        check_graph(name, data)
        passed += 1
    except GraphRefused as e:
        assert '\n' not in str(e)
        refused += 1
print(passed, refused, round(time.perf_counter() - t, 2))
'''


def test_fuzz_the_graph_reader(legit, tmp_path):
    """2000 random and mutated ``.pdmodel``/``.json`` byte strings through the checker, in a child process
    (a crash fails the test instead of killing pytest): each passes or is refused in one line."""
    import paddle

    from realesrgan_paddle.inference.export.onnx_ops import onnx_convertible_ops
    from realesrgan_paddle.inference.export.paddle_export import trace_save
    net = legit[1]
    with onnx_convertible_ops():
        trace_save(net, srvgg(), tmp_path / 'pir' / 'inference', legacy=False)
    del paddle
    seeds = [str(legit[0] / 'inference.pdmodel'), str(tmp_path / 'pir' / 'inference.json')]
    res = subprocess.run([sys.executable, '-c', FUZZ, str(ROOT), *seeds], capture_output=True, text=True, timeout=600,
                         env={**os.environ, 'PYTHONFAULTHANDLER': '1'})
    assert res.returncode == 0, res.stderr[-3000:]
    passed, refused, seconds = res.stdout.split()
    assert int(passed) + int(refused) == 2000 and int(refused) > 1500


def test_a_fifo_or_device_as_the_graph_is_refused_without_blocking(legit, tmp_path):
    from realesrgan_paddle.inference.export.paddle_export import ExportRefused, open_export
    d = _copy(legit, tmp_path, 'fifo')
    graph = d / 'inference.pdmodel'
    graph.unlink()
    os.mkfifo(graph)
    for _ in range(2):
        with pytest.raises(ExportRefused, match=f'{graph}: the graph is not a regular file'):  # opened without blocking
            open_export(d)
        graph.unlink()
        graph.symlink_to('/dev/zero')
