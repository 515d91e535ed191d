"""The ncnn files that took memory past 3 GiB (the cgroup killed the tool) are refused in bounded memory: a 4 GiB
sparse .bin or .param, a 66 MB .param of 6 million one-token layers (and an 8 MB one of 4 million, within the size
bound), UpConv7's transposed conv declaring 10^6 outputs and Real-CUGAN's last conv 4 x 10^6 (with the .bin
holding their weights), a graph declaring 1.2 GB of weights beside a 1.2 MB .bin. tools/convert_torch.py runs on
all of them in one child process; its peak resident memory, read with getrusage(RUSAGE_CHILDREN) by a small
launcher (so that this process's memory is not folded in), stays under 1 GiB, and each file gets its one line.
The bounds: models/ncnn/ncnn_bounds.py."""
import json
import subprocess
import sys

import numpy as np
import pytest

from realesrgan_paddle.models.ncnn import ncnn_bounds
from realesrgan_paddle.models.ncnn.ncnn_import import TAG_FP16, parse_param, wheel_model_files
from tests.cli_checks import one_line
from tests.models.ncnn_hostile_files import REAL, ROOT, hostile, real_files, set_key, widen

PEAK_BOUND = 1 << 30  # bytes; the tool with paddle loaded takes about 0.35 GiB

# the child: tools/convert_torch.py on each file given, its stderr kept; RLIMIT_AS only spares the machine should
# a bound be lost (an allocation then fails at 2.5 GiB of address space, before the cgroup's limit: a different line)
CHILD = r'''
import contextlib, importlib.util, io, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (5 << 29, 5 << 29))
spec = importlib.util.spec_from_file_location('convert_torch_cli', 'tools/convert_torch.py')
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
out = []
for param in sys.argv[1:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = tool.main(['--input', param, '--output', param + '.pdparams'])
        except BaseException as e:
            rc = repr(e)
    out.append({'param': param, 'rc': rc, 'err': err.getvalue()})
print(json.dumps(out))
'''
LAUNCHER = ('import resource, subprocess, sys\n'
            'code = subprocess.run(sys.argv[1:]).returncode\n'
            'print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n')


def _sparse(path, size=4 << 30):
    with open(path, 'wb') as f:
        f.truncate(size)  # no disk: a hole
    return path


def _last_weights_replaced(cout, count):
    """``weights(bin)``: the last weighted layer's arrays (fp16 kernel of ``count`` values, fp32 bias of ``cout``)
    put where the real ones were (at the end of the file), so that the .bin holds all that the .param declares."""
    def weights(data):
        return data + np.uint32(TAG_FP16).tobytes() + np.zeros(count, '<f2').tobytes() + np.zeros(cout, '<f4').tobytes()
    return weights


def _upconv7_wide(tmp_path):
    """conv7_layer: 10^6 outputs from one input channel (16 x 10^6 fp16 values, 36 MB): before, UpConv7 built with a
    256 -> 10^6 transposed conv (16 GB)."""
    tail = 4 + 2 * 3 * 256 * 16 + 4 * 3  # the real conv7_layer: tag, fp16 kernel, fp32 bias
    param = hostile(tmp_path, 'upconv7', lambda ls: set_key('conv7_layer', 6, 16_000_000)(
        set_key('conv7_layer', 0, 1_000_000)(ls)), name='upconv7_wide',
        weights=lambda data: _last_weights_replaced(1_000_000, 16_000_000)(data[:-tail]))
    return param, ['conv7_layer', '1000000']


def _cugan_wide(tmp_path):
    """conv_46 (unet2's last conv): 4 x 10^6 outputs from one channel (88 MB of weights): before, Real-CUGAN built
    with a 64 -> 4 x 10^6 conv (9 GB)."""
    tail = 4 + 2 * 3 * 64 * 9 + 4 * 3
    param = hostile(tmp_path, 'cugan', lambda ls: set_key('conv_46', 6, 36_000_000)(
        set_key('conv_46', 0, 4_000_000)(ls)), name='cugan_wide',
        weights=lambda data: _last_weights_replaced(4_000_000, 36_000_000)(data[:-tail]))
    return param, ['conv_46', '4000000']


def _cases(tmp_path):
    """``[(param, words its line names)]``."""
    anime_param, anime_bin = real_files('animevideov3')
    sparse_bin = tmp_path / 'sparse_bin.param'
    sparse_bin.write_bytes(anime_param.read_bytes())
    _sparse(sparse_bin.with_suffix('.bin'))
    sparse_param = _sparse(tmp_path / 'sparse_param.param')
    sparse_param.with_suffix('.bin').write_bytes(anime_bin.read_bytes())
    lines = tmp_path / 'many_layers.param'
    with open(lines, 'wb') as f:
        f.write(b'7767517\n6000000 6000000\n')
        for _ in range(60):
            f.write(b'Interp    \n' * 100_000)  # 6 million one-token layers, 66 MB
    lines.with_suffix('.bin').write_bytes(b'')
    short = tmp_path / 'short_lines.param'  # within the size bound: 4 million 1-character lines, 8 MB
    short.write_bytes(b'7767517\n10000 20000\n' + b'x\n' * 4_000_000)
    short.with_suffix('.bin').write_bytes(b'')
    return [(sparse_bin, ['sparse_bin.bin', '4294967296 bytes', f'{ncnn_bounds.MAX_BIN_BYTES >> 20} MiB']),
            (sparse_param, ['4294967296 bytes', f'{ncnn_bounds.MAX_PARAM_BYTES >> 20} MiB']),
            (lines, ['66000024 bytes']), (short, ['short_lines.param:3', "cannot parse layer line 'x'"]),
            _upconv7_wide(tmp_path), _cugan_wide(tmp_path),
            (hostile(tmp_path, 'animevideov3', widen(2048), name='widened'), ['need at least 1210118408 bytes'])]


@pytest.mark.slow
def test_memory_attacks_are_refused_under_1_gib(tmp_path):
    for key in ('animevideov3', 'upconv7', 'cugan'):
        real_files(key)  # skips without the wheels
    cases = _cases(tmp_path)
    proc = subprocess.run([sys.executable, '-c', LAUNCHER, sys.executable, '-c', CHILD] + [str(p) for p, _ in cases],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)  # a hang guard only
    *child_out, last = proc.stdout.strip().splitlines()
    code, peak = map(int, last.split())
    assert code == 0, proc.stderr[-3000:]
    results = json.loads(child_out[-1])
    for (param, words), result in zip(cases, results):
        assert result['rc'] == 2, result
        one_line(result['err'], str(param), *words)
        assert not param.with_name(param.name + '.pdparams').exists()
    print(f'peak resident memory of the tool over {len(cases)} files: {peak / 2 ** 20:.0f} MiB')
    assert peak < PEAK_BOUND, f'{peak / 2 ** 30:.2f} GiB'


def test_the_bounds_leave_room_over_every_real_model():
    """Each installed wheel's files are well inside the bounds (real sizes: models/ncnn/ncnn_bounds.py's comments)."""
    found = [f for f in (wheel_model_files(*REAL[key]) for key in REAL) if f is not None]
    if not found:
        pytest.skip('no ncnn weight wheel is installed')
    for param, binf in found:
        layers = parse_param(param)
        assert param.stat().st_size * 8 < ncnn_bounds.MAX_PARAM_BYTES, param
        assert binf.stat().st_size * 4 < ncnn_bounds.MAX_BIN_BYTES, binf
        assert len(layers) * 10 <= ncnn_bounds.MAX_LAYERS, param
        assert max(max(L.shape or (0,)) for L in layers) * 8 <= ncnn_bounds.MAX_CHANNELS, param
