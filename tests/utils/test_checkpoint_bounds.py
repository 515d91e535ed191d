"""checkpoint_io.state_file and models.loading against small files that asked for unbounded work or memory
(issue 26, second round): shared-tuple DAGs that hash or compare 2^40 nodes, repeated copies made by
the functions a pickle may call, error messages that quoted huge objects, a stored arch larger than its
weights, complex weights, and odd keys and types. Each is read in a fresh interpreter (its timeout only a guard
against a hang), with its peak RSS measured and, for a stored arch, the convolutions it built counted, and
must give a one-line error that starts with the file's path."""
import importlib.util
import json
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('crafted_checkpoints',
                                               Path(__file__).with_name('crafted_checkpoints.py'))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)

RSS_BOUND_MB = 400   # python + numpy + the reader (the attacks took 1.6 to over 3 GB before)
HANG_GUARD_S = 300   # each case takes well under a second of work now; depth 40 was 2^40 steps (days) before
PROTO4 = b'\x80\x04'
DUP, TUPLE2, FROZENSET, POP, APPENDS = b'2', b'\x86', b'\x91', b'0', b'e'

_CHILD = '''import json, sys
built = []
try:
    if sys.argv[2] == 'build':
        import paddle
        init = paddle.nn.Conv2D.__init__
        def counted(self, in_channels, out_channels, *args, **kwargs):  # what a stored arch made us build
            built.append(max(in_channels, out_channels))
            init(self, in_channels, out_channels, *args, **kwargs)
        paddle.nn.Conv2D.__init__ = counted
        from realesrgan_paddle.models.loading import load_network
        load_network(sys.argv[1])
    elif sys.argv[2] == 'read':
        from realesrgan_paddle.models.loading import read_checkpoint
        read_checkpoint(sys.argv[1])
    else:
        from realesrgan_paddle.checkpoint_io.state_file import load_state_file
        load_state_file(sys.argv[1])
    out = {"error": None}
except Exception as e:
    out = {"error": type(e).__name__, "msg": str(e)}
out["convs"], out["widest"] = len(built), max(built, default=0)
out["maxrss_mb"] = int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]) / 1024
print(json.dumps(out))
'''


def _isolated(path, how='load'):
    """Read ``path`` in a fresh interpreter (a hang is killed by the timeout and fails the test)."""
    res = subprocess.run([sys.executable, '-c', _CHILD, str(path), how], cwd=ROOT, capture_output=True, text=True,
                         timeout=HANG_GUARD_S)
    assert res.returncode == 0, f'the reader crashed (exit {res.returncode}): {res.stderr[-800:]}'
    return json.loads(res.stdout.strip().splitlines()[-1])


def _refused_isolated(path, words, how='load'):
    out = _isolated(path, how)
    assert out['error'], out
    msg = out['msg']
    assert msg.startswith(f'{path}: ') and '\n' not in msg and len(msg) < 400, msg[:1000]
    assert words in msg, msg
    assert out['maxrss_mb'] < RSS_BOUND_MB, out
    return msg, out


def dag(depth):
    """A tuple shared at every level: ``t = (t, t)`` ``depth`` times (4 bytes a level, 2^depth paths)."""
    return cc.EMPTY_TUPLE + (DUP + TUPLE2) * depth


def _list_levels(depth):
    """The same with lists: ``l = [l, l]`` (not hashed, but copying or printing walks every path)."""
    # [] on the stack; each level: BINPUT i, POP, EMPTY_LIST, MARK, BINGET i, BINGET i, APPENDS
    out = b''
    for i in range(depth):
        out += b'r' + struct.pack('<I', i) + POP + cc.EMPTY_LIST + cc.MARK + (b'j' + struct.pack('<I', i)) * 2 \
            + APPENDS
    return out


def _valid_params():
    """A real state dict of a tiny SRVGGNetCompact, as ``save_checkpoint`` writes it, minus the outer dict."""
    return {'body.0.weight': np.zeros((4, 3, 3, 3), np.float32)}


# ---------------------------------------------------------------- 1. DAGs: hashing or comparing 2^40 nodes
@pytest.mark.parametrize('where', ['dict-key', 'frozenset', 'setitems-key', 'zip'])
def test_shared_tuple_dag_40_deep_is_refused_at_once(tmp_path, where):
    d = dag(40)
    body = {'dict-key': cc.EMPTY_DICT + d + cc.num(1) + cc.SETITEM,
            'frozenset': cc.MARK + d + FROZENSET,
            'setitems-key': cc.EMPTY_DICT + cc.MARK + cc.text('a') + cc.num(1) + d + cc.num(2) + cc.SETITEMS,
            'zip': cc.EMPTY_DICT + d + cc.num(1) + cc.SETITEM}[where]
    path = tmp_path / ('dag.pth' if where == 'zip' else 'dag.pdparams')
    if where == 'zip':
        cc.torch_zip(path, cc.PROTO2 + body + cc.STOP)
    else:
        path.write_bytes(PROTO4 + body + cc.STOP)
    assert path.stat().st_size < 1000
    _refused_isolated(path, 'a dict key or set item is a tuple')


@pytest.mark.parametrize('make', [dag, _list_levels], ids=['tuples', 'lists'])
def test_shared_dag_as_a_value_is_refused_before_it_is_copied(tmp_path, make):
    """Not hashed, but copying, comparing or printing it would walk 2^40 paths: counted first, refused."""
    start = b'' if make is dag else cc.EMPTY_LIST
    path = tmp_path / 'dagvalue.pdparams'
    path.write_bytes(PROTO4 + cc.EMPTY_DICT + cc.text('meta') + start + make(40) + cc.SETITEM + cc.STOP)
    assert path.stat().st_size < 2000
    _refused_isolated(path, 'once its shared parts are counted')


def test_shared_dag_as_the_stored_arch_type_is_one_line(tmp_path):
    """The 290-byte case of the issue: the DAG as ``arch['type']``, read by predict/export/convert."""
    path = tmp_path / 'archdag.pdparams'
    params = pickle.dumps(_valid_params(), protocol=4)[2:-1]  # the dict, without PROTO and STOP
    path.write_bytes(PROTO4 + cc.EMPTY_DICT + cc.text('params') + params + cc.SETITEM
                     + cc.text('arch') + cc.EMPTY_DICT + cc.text('type') + dag(40) + cc.SETITEM + cc.SETITEM
                     + cc.STOP)
    _refused_isolated(path, 'once its shared parts are counted', how='read')


def test_a_dag_just_under_the_cap_still_reads(tmp_path):
    """A shared structure that expands to fewer than MAX_NODES objects is a legal pickle: it reads."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    path = tmp_path / 'small.pdparams'
    path.write_bytes(PROTO4 + cc.EMPTY_DICT + cc.text('meta') + dag(12) + cc.SETITEM + cc.STOP)
    out = load_state_file(path)['meta']
    for _ in range(12):
        assert len(out) == 2 and out[0] == out[1]
        out = out[0]
    assert out == ()


# ---------------------------------------------------------------- 2. memory from small files
def _memo_then_calls(obj, call, n):
    """``obj`` stored in memo 0, then ``n`` calls ``call(memo 0)`` appended to a list."""
    get = b'h\x00'
    return (cc.PROTO2 + obj + b'q\x00' + POP + cc.EMPTY_LIST + cc.MARK
            + (call + cc.MARK + get + cc.TUPLE + cc.REDUCE) * n + APPENDS + cc.STOP)


def test_repeated_codecs_encode_is_bounded(tmp_path):
    path = tmp_path / 'encode.pdparams'
    path.write_bytes(_memo_then_calls(cc.text('x' * (1 << 20)), cc.glob('_codecs', 'encode'), 3000))
    assert path.stat().st_size < 1.2e6  # 3 GB of copies before
    _refused_isolated(path, 'far more than a')


def test_repeated_tuple_of_a_long_list_is_bounded(tmp_path):
    items = cc.EMPTY_LIST + cc.MARK + b'K\x01' * 200_000 + APPENDS  # 400 KB of file, 1.6 MB as a tuple
    path = tmp_path / 'tuples.pdparams'
    path.write_bytes(_memo_then_calls(items, cc.glob('builtins', 'tuple'), 2000))
    _refused_isolated(path, 'far more than a')


def test_messages_quote_at_most_a_line_of_what_the_file_holds(tmp_path):
    """A legacy torch file whose protocol field is a 40-deep shared list: the message quoted its repr
    (2^40 items); a huge string in a numpy state field likewise."""
    from realesrgan_paddle.checkpoint_io.unpickler import TORCH_LEGACY_MAGIC
    path = tmp_path / 'legacy.pth'
    path.write_bytes(pickle.dumps(TORCH_LEGACY_MAGIC, protocol=2) + cc.PROTO2 + cc.EMPTY_LIST + _list_levels(40)
                     + cc.STOP)
    msg, _ = _refused_isolated(path, 'legacy torch protocol')
    assert len(msg) < 250, msg
    big = tmp_path / 'bigkey.pdparams'
    big.write_bytes(cc.PROTO2 + cc.EMPTY_DICT + cc.text('k' * 5_000_000) + cc.EMPTY_LIST + cc.SETITEM + cc.STOP)
    msg, _ = _refused_isolated(big, 'no tensors found', how='read')
    assert len(msg) < 250, msg


# ---------------------------------------------------------------- stored arch against the weights
def _srvgg_file(path, stored_arch, **weights_arch):
    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    arch = {'type': 'SRVGGNetCompact', 'num_feat': 4, 'num_conv': 2, 'upscale': 2, **weights_arch}
    net = models.build_network(arch)
    save_checkpoint(path, params=net.state_dict(), arch=stored_arch)
    return path


@pytest.mark.parametrize('stored, words', [
    ({'type': 'SRVGGNetCompact', 'num_feat': 4096, 'num_conv': 2, 'upscale': 2}, 'num_feat=4096, the weights have '
                                                                                   'num_feat=4'),
    ({'type': 'SRVGGNetCompact', 'num_feat': 4, 'num_conv': 100_000, 'upscale': 2}, 'num_conv=100000'),
    ({'type': 'RRDBNet', 'num_feat': 4, 'num_block': 100_000}, 'weights are not a RRDBNet'),
    ({'type': ['SRVGGNetCompact']}, 'has a list as its type'),
    ({'type': 'SRVGGNetCompact', 'num_feat': [4] * 1000}, 'not a short mapping of plain values'),
    ({'type': 'NoSuchNet'}, "unknown type 'NoSuchNet'"),
], ids=['feat4096', 'conv100k', 'rrdb100k', 'list-type', 'long-list', 'unknown'])
def test_stored_arch_is_checked_against_the_weights_before_building(tmp_path, stored, words):
    """Refused before the stored arch is built: ``load_network`` builds no convolution (an honest file builds
    its four, below)."""
    path = _srvgg_file(tmp_path / 'lie.pdparams', stored)
    msg, out = _refused_isolated(path, words, how='build')
    assert 'CheckpointError' not in msg and out['convs'] == 0, out


X2_ESRGAN = {'type': 'RRDBNet', 'scale': 2, 'num_feat': 4, 'num_block': 1, 'num_grow_ch': 4, 'shuffle_factor': 1}


@pytest.mark.parametrize('stored, words', [
    ({**X2_ESRGAN, 'shuffle_factor': 'abc'}, 'shuffle_factor=abc, the weights have shuffle_factor=1'),
    ({**X2_ESRGAN, 'shuffle_factor': [1]}, 'shuffle_factor=[1]'),
    ({**X2_ESRGAN, 'scale': [3]}, 'scale=[3]'),
    ({**X2_ESRGAN, 'scale': 4}, 'scale=4, the weights have scale=2'),
    ({**X2_ESRGAN, 'scale': 2, 'shuffle_factor': None}, 'shuffle_factor=2, the weights have shuffle_factor=1'),
], ids=['shuffle-str', 'shuffle-list', 'scale-list', 'scale4', 'x2plus-layout'])
def test_a_stored_rrdbnet_arch_is_compared_by_what_it_builds(tmp_path, stored, words):
    """An old x2 ESRGAN file (one upsampling, no unshuffle) may say scale 3 (its x3 reading), nothing else: an
    absent unshuffle factor stands for the one its scale implies, and a given one is compared as it stands."""
    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    params = models.build_network(X2_ESRGAN).state_dict()
    save_checkpoint(tmp_path / 'x3.pdparams', params=params, arch={**X2_ESRGAN, 'scale': 3, 'shuffle_factor': None})
    assert models.load_network(tmp_path / 'x3.pdparams')[1]['scale'] == 3
    save_checkpoint(tmp_path / 'lie.pdparams', params=params, arch=stored)
    msg, _ = _refused_isolated(tmp_path / 'lie.pdparams', words, how='read')
    assert 'CheckpointError' not in msg


def test_an_honest_stored_arch_still_loads(tmp_path):
    from realesrgan_paddle import models
    arch = {'type': 'SRVGGNetCompact', 'num_feat': 4, 'num_conv': 2, 'upscale': 2}
    path = _srvgg_file(tmp_path / 'ok.pdparams', arch)
    net, got = models.load_network(path)
    assert got['num_feat'] == 4 and got['num_conv'] == 2
    out = _isolated(path, 'build')  # the count the refusals above read as zero
    # its 4 convs twice: the shapes-only build of the memory check (models.loading, LazyGuard), then the network
    assert out['error'] is None and out['convs'] == 2 * 4 and out['widest'] == 12, out


def test_complex_weights_are_refused_when_loaded(tmp_path):
    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    arch = {'type': 'SRVGGNetCompact', 'num_feat': 4, 'num_conv': 2, 'upscale': 2}
    state = {k: np.asarray(v.numpy()) for k, v in models.build_network(arch).state_dict().items()}
    first = next(iter(state))
    state[first] = state[first].astype(np.complex64)
    path = tmp_path / 'complex.pdparams'
    with open(path, 'wb') as f:
        pickle.dump({'params': state, 'arch': arch}, f, protocol=4)
    with pytest.raises(ValueError, match=f'{first} holds complex64 values; network weights are real numbers'):
        models.load_network(path)


def test_an_int_state_dict_key_is_one_line(tmp_path):
    from realesrgan_paddle.models.loading import read_checkpoint
    path = tmp_path / 'intkey.pdparams'
    with open(path, 'wb') as f:
        pickle.dump({'params': {0: np.zeros(3, np.float32)}}, f, protocol=4)
    with pytest.raises(ValueError, match='stored under the key 0, a int: state dicts name their tensors'):
        read_checkpoint(path)
