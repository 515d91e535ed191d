"""Fuzzing the checkpoint reader with mutated real checkpoints (fixed seed, a fixed number of cases).

Seeds: tiny SRVGG/RRDBNet weights written by this project's save_checkpoint, by paddle.save, by
torch.save's zip and legacy layouts (written without torch), as safetensors, and as a pickle whose metadata
shares tuples and holds sets and frozensets. Each case flips, inserts, deletes or truncates bytes, or
inserts a run (1, 2, 24 or 40 times) of one opcode family that builds shared structures or hashes
what it is given (DUP + TUPLE2, memo GET/PUT, FROZENSET, ADDITEMS, SETITEMS into a new dict...).
Cases land anywhere in zips (their members carry a CRC), inside the data.pkl of a zip (rebuilt
with a valid CRC, so the pickle itself is parsed), and outside the raw array bytes
of pickles and safetensors (those carry no checksum: a change there is a different checkpoint,
not a malformed one).

Every outcome must be one of two:
- a clean refusal: ``CheckpointFormatError`` or ``UnsafeCheckpointError``, one line, with the path;
- the original tensors: every array returned holds exactly the bytes of one of the original arrays
  (a mutated name, dtype letter or byte-order mark may relabel those bytes; nothing else).

The loop runs in a subprocess, so a crash fails the test; its timeout is only a guard against a hang, far above
the normal run (the reader's own budgets, ``MAX_PICKLE_OPS`` and ``MAX_NODES``, bound each case's work).
"""
import json
import pickletools
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from tests.nets import rrdb, srvgg
from tests.utils.crafted_checkpoints import state_pth

ROOT = Path(__file__).resolve().parents[2]
CASES = 1000       # about 8 s on one core
HANG_GUARD_S = 600


# ---------------------------------------------------------------- seeds (made in the test process)
def _tiny_states():
    from realesrgan_paddle import models
    out = {}
    for name, arch in (('srvgg', srvgg(num_feat=4, num_conv=1, upscale=2)), ('rrdb', rrdb(scale=2, num_feat=4))):
        net = models.build_network(arch)
        rng = np.random.default_rng(len(name))
        out[name] = (net, arch, {k: rng.standard_normal(tuple(v.shape)).astype(np.float32)
                                 for k, v in net.state_dict().items()})
    return out


def _safetensors(path, arrays):
    import struct
    header, blobs, off = {}, [], 0
    for k, a in arrays.items():
        raw = a.tobytes()
        header[k] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack('<Q', len(head)) + head + b''.join(blobs))


def make_seeds(d):
    import paddle

    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    states = _tiny_states()
    srvgg_net, srvgg_arch, srvgg = states['srvgg']
    rrdb_net, _, rrdb = states['rrdb']
    save_checkpoint(d / 'project.pdparams', params=srvgg, params_ema=srvgg, arch=srvgg_arch, meta={'iter': 3})
    rrdb_net.set_state_dict({k: paddle.to_tensor(v) for k, v in rrdb.items()})
    paddle.save(rrdb_net.state_dict(), str(d / 'paddle.pdparams'))
    _safetensors(d / 'weights.safetensors', srvgg)
    import pickle
    shared = (3, 'x', None)  # memo references (BINGET/MEMOIZE), tuples, sets and frozensets for the mutations
    meta = {'pair': (shared, shared), 'list': [shared, [shared]], 'set': {1, 2, 'a'}, 'frozen': frozenset({'b', 4})}
    with open(d / 'shared.pdparams', 'wb') as f:
        pickle.dump({'params': srvgg, 'meta': meta}, f, protocol=4)
    state_pth(d / 'torch_zip.pth', srvgg, wrap='params_ema')  # torch.save's two layouts, made without torch
    state_pth(d / 'torch_legacy.pth', rrdb, legacy=True)


# ---------------------------------------------------------------- the fuzz loop (runs in a subprocess)
def _payload_ranges(data):
    """Byte ranges of raw array data inside a pickle stream (or the storages after a legacy torch file)."""
    import io
    f, ranges = io.BytesIO(data), []
    try:
        while f.tell() < len(data):
            start = f.tell()
            ops = list(pickletools.genops(f))
            for (op, arg, pos), nxt in zip(ops, ops[1:] + [(None, None, f.tell())]):
                if op.name in ('BINBYTES', 'SHORT_BINBYTES', 'BINBYTES8', 'BYTEARRAY8') and len(arg) > 8:
                    ranges.append((nxt[2] - len(arg), nxt[2]))
            if start == f.tell():
                break
    except Exception:  # the legacy storages: everything after the last pickle is raw data
        ranges.append((f.tell(), len(data)))
    return ranges


# opcode families of the second round (issue 26): shared structures (DUP, memo GET/PUT), tuples, sets and
# frozensets, and the containers that hash what they are given; repeated, they build DAGs 2^k paths wide
_FAMILIES = [b'2\x86', b'2\x86\x94', b'(2\x91', b'\x8f(2\x90', b'h\x00', b'\x94', b'}(2Nu', b'(2\x87',
             b'0', b'(\x85', b'](2e']


def _mutate(rng, data, allowed):
    kind = rng.choice(['flip', 'flip', 'insert', 'delete', 'truncate', 'opcodes'])
    pos = rng.choice(allowed) if allowed else 0
    if kind == 'opcodes':
        return data[:pos] + rng.choice(_FAMILIES) * rng.choice([1, 2, 24, 40]) + data[pos:], kind
    if kind == 'flip':
        return data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:], kind
    if kind == 'insert':
        return data[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 4))) + data[pos:], kind
    if kind == 'delete':
        return data[:pos] + data[pos + rng.randint(1, 4):], kind
    return data[:rng.randrange(len(data))], kind


def _arrays(obj, out):
    if isinstance(obj, np.ndarray):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _arrays(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _arrays(v, out)
    return out


def _from_file_bytes(a, originals):
    """Every element of ``a`` (as raw bytes, either byte order) is an aligned element of an original tensor."""
    size = a.dtype.itemsize
    if size == 0 or a.size == 0:
        return True
    pool = {o[i:i + size] for o in originals for i in range(0, len(o) - size + 1, size)}
    raw = np.ascontiguousarray(a).tobytes()
    return all(raw[i:i + size] in pool or raw[i:i + size][::-1] in pool for i in range(0, len(raw), size))


def _rezip_with_pickle(src, dst, mutate):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, mutate(data) if info.filename.endswith('data.pkl') else data)


def fuzz(seed_dir, work, cases=CASES):
    from realesrgan_paddle.checkpoint_io.state_file import CheckpointFormatError, UnsafeCheckpointError, load_state_file
    rng = random.Random(20240613)
    seeds = sorted(p for p in Path(seed_dir).iterdir() if p.is_file())
    plans = []
    for seed in seeds:
        data = seed.read_bytes()
        originals = {a.tobytes() for a in _arrays(load_state_file(seed), [])}
        if seed.suffix == '.safetensors':
            import struct
            skip = [(8 + struct.unpack('<Q', data[:8])[0], len(data))]
        elif data[:2] == b'PK':
            skip = []
        else:
            skip = _payload_ranges(data)
        allowed = [i for i in range(len(data)) if not any(a <= i < b for a, b in skip)]
        plans.append((seed, data, allowed, originals))
        if data[:2] == b'PK':
            plans.append((seed, None, None, originals))  # mutate the pickle inside the zip
    counts = {'refused': 0, 'identical': 0, 'relabelled': 0, 'reviewed': 0}
    bad, n = [], 0
    work = Path(work)
    while n < cases:
        seed, data, allowed, originals = plans[n % len(plans)]
        case = work / f'case{seed.suffix}'
        if data is None:
            kinds = []
            _rezip_with_pickle(seed, case, lambda b: kinds.append(_mutate(rng, b, list(range(len(b))))) or
                               kinds[-1][0])
            kind = 'pkl-' + kinds[-1][1]
        else:
            mutated, kind = _mutate(rng, data, allowed)
            case.write_bytes(mutated)
        print(n, seed.name, kind, flush=True)  # the last line names the case if the process dies
        try:
            got = load_state_file(case)
        except (CheckpointFormatError, UnsafeCheckpointError) as e:
            counts['refused'] += 1
            if not str(e).startswith(f'{case}: ') or '\n' in str(e):
                bad.append((n, seed.name, kind, f'message {str(e)[:200]!r}'))
        except Exception as e:  # noqa: BLE001 - anything else is a finding
            bad.append((n, seed.name, kind, f'{type(e).__name__}: {str(e)[:200]}'))
        else:
            arrays = _arrays(got, [])
            if all(a.tobytes() in originals or a.byteswap().tobytes() in originals for a in arrays):
                same = all(a.tobytes() in originals for a in arrays) and len(arrays) == len(originals)
                counts['identical' if same else 'relabelled'] += 1
            elif all(_from_file_bytes(a, originals) for a in arrays):
                # a pickle edit that changes a shape, offset or stride within bounds is a valid checkpoint of
                # other views of the same storages: every element must still be bytes the file holds
                counts['reviewed'] += 1
            else:
                bad.append((n, seed.name, kind, 'returned bytes that are not in the file'))
        n += 1
    return {'cases': n, 'counts': counts, 'bad': bad[:20], 'seeds': [p.name for p in seeds]}


def test_fuzzed_checkpoints_are_refused_or_read_exactly(tmp_path):
    seeds, work = tmp_path / 'seeds', tmp_path / 'work'
    seeds.mkdir()
    work.mkdir()
    make_seeds(seeds)
    code = (f'import sys, json; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})\n'
            'import test_checkpoint_fuzz as t\n'
            f'print("RESULT " + json.dumps(t.fuzz({str(seeds)!r}, {str(work)!r})))\n')
    log = tmp_path / 'fuzz.log'
    with open(log, 'w') as f:
        proc = subprocess.Popen([sys.executable, '-c', code], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, text=True)
        try:
            proc.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lines = log.read_text().splitlines()
    last = lines[-1] if lines else ''
    assert proc.returncode == 0 and last.startswith('RESULT '), \
        f'the reader crashed or hung (exit {proc.returncode}) at case {lines[-1:]!r}: {lines[-5:]}'
    out = json.loads(last[len('RESULT '):])
    print(f"fuzz: {out['cases']} cases on {out['seeds']}: {out['counts']}")
    assert not out['bad'], out['bad']
    assert out['cases'] == CASES and out['counts']['refused'] > 50 and out['counts']['identical'] > 20, out
