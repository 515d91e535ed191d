"""An export folder's ``inference.pdiparams`` is walked header by header before Paddle loads it
(checkpoint_io/graph_check.py, check_params): headers that claim more data than the file holds, truncated or padded files,
random bytes and non-regular files are refused in one line naming the file, before Paddle reads it; this project's
exports pass and read back the network's own tensor shapes."""
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.nets import srvgg

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def export(tmp_path_factory):
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export.paddle_export import export_static
    paddle.seed(0)
    arch = srvgg()
    net = models.build_network(arch)
    return export_static(net, arch, tmp_path_factory.mktemp('exp') / 'infer'), net


def _varint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _first_dims(data, dims):
    """The stream with its first tensor's description replaced by FP32 ``dims`` (its data left as it was)."""
    (size,) = struct.unpack_from('<i', data, 16)
    desc = b'\x08\x05' + b''.join(b'\x10' + _varint(d) for d in dims)
    return data[:16] + struct.pack('<i', len(desc)) + desc + data[20 + size:]


HOSTILE = {
    'random': (lambda d: np.random.default_rng(1).bytes(len(d)), ('not a tensor stream',)),
    'huge_claim': (lambda d: _first_dims(d, [1 << 30, 16]), ('claims 68,719,476,736 bytes',)),
    'claims_more_than_the_file': (lambda d: _first_dims(d, [1 << 20]), ('more than the',)),
    'truncated': (lambda d: d[:len(d) - 100], ('more than the', 'truncated')),  # inside a header or data
    'padded': (lambda d: d + b'junk', ('truncated',)),
    'empty': (lambda d: b'', ('empty',)),
    'bad_dtype': (lambda d: d[:20] + b'\x08\x09' + d[22:], ('data type',)),
}


def test_this_projects_export_reads_back_the_networks_shapes(export):
    from realesrgan_paddle.checkpoint_io.graph_check import check_params
    folder, net = export
    tensors = check_params(folder / 'inference.pdiparams', 1 << 30)
    shapes = sorted(tuple(p.shape) for p in net.state_dict().values())
    assert sorted(tuple(d) for _, d in tensors) == shapes and {t for t, _ in tensors} == {5}


@pytest.mark.parametrize('kind', sorted(HOSTILE))
def test_hostile_params_refused_by_the_api(export, tmp_path, kind, monkeypatch):
    import paddle.inference

    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.export.paddle_export import ExportRefused, open_export
    make, why = HOSTILE[kind]
    d = tmp_path / kind
    shutil.copytree(export[0], d)
    p = d / 'inference.pdiparams'
    p.write_bytes(make(p.read_bytes()))
    made = []
    monkeypatch.setattr(paddle.inference, 'create_predictor', lambda *a: made.append(a))
    for run in (open_export, Upscaler):
        with pytest.raises(ExportRefused) as e:
            run(d)
        msg = str(e.value)
        assert '\n' not in msg and msg.startswith(str(p)) and any(w in msg for w in why), msg
    assert made == []  # refused before Paddle was handed the parameters


def test_a_fifo_as_the_params_is_refused_without_blocking(export, tmp_path):
    from realesrgan_paddle.inference.export.paddle_export import ExportRefused, open_export
    d = tmp_path / 'fifo'
    shutil.copytree(export[0], d)
    (d / 'inference.pdiparams').unlink()
    os.mkfifo(d / 'inference.pdiparams')
    with pytest.raises(ExportRefused, match='regular file'):  # opened without blocking: no hang here
        open_export(d)


@pytest.mark.slow
def test_infer_says_one_line_and_writes_nothing(export, tmp_path, hr_photos):
    import cv2
    d = tmp_path / 'claim'
    shutil.copytree(export[0], d)
    p = d / 'inference.pdiparams'
    p.write_bytes(_first_dims(p.read_bytes(), [1 << 30, 16]))
    src = tmp_path / 'in.png'
    cv2.imwrite(str(src), cv2.imread(str(hr_photos[0]))[:24, :32])
    out = tmp_path / 'out.png'
    res = subprocess.run([sys.executable, 'tools/infer.py', '-m', str(d), '-i', str(src), '-o', str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and str(p) in lines[0], res.stderr[-2000:]
    assert not out.exists()
