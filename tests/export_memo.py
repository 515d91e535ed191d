"""A tiny network's Paddle export made once a test session and copied after (``memo_export``).

Three tests export every tiny network of tests/models/tiny_archs.py with the same seeded weights: the export-ops
declarations (tests/inference/test_export_ops.py), the optimised-graph trust test (tests/inference/test_cache_trust.py)
and the user-path fixture (tests/models/test_arch_user_paths.py). DCTLSA's and GRL's exports take 10-20 s each
(dy2static's conversion of their Python loops). The same weights give the same files, so the first export of a
network is kept in a folder of the session (``RESR_TEST_EXPORT_MEMO``: conftest.py makes it before the workers start
and removes it at the end; without it every call exports) and the later calls, in any worker, copy it. The Python
warnings the export raised are kept beside it, so a test that checks them sees the first export's.
"""
import fcntl
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

ENV = 'RESR_TEST_EXPORT_MEMO'


def _key(net, arch):
    """The export's identity: the arch, the weights, the export's revision and Paddle's version."""
    import paddle

    from realesrgan_paddle.inference.export.paddle_export import EXPORT_REV
    h = hashlib.sha256(json.dumps(arch, sort_keys=True, default=str).encode())
    h.update(f'{EXPORT_REV}|{paddle.__version__}'.encode())
    for name, value in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(value.numpy().tobytes())
    return h.hexdigest()[:24]


def _export(net, arch, out_dir):
    from realesrgan_paddle.inference.export.paddle_export import export_static
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        export_static(net, arch, out_dir)
    return Path(out_dir), [str(w.message) for w in seen]


def memo_export(net, arch, out_dir):
    """``export_static(net, arch, out_dir)``, the export made once a session for these weights; returns
    ``(out_dir, the messages of the Python warnings the export raised)``."""
    root = os.environ.get(ENV)
    if not root or not Path(root).is_dir():
        return _export(net, arch, out_dir)
    entry = Path(root) / _key(net, arch)
    with open(f'{entry}.lock', 'w') as lock:  # another worker exporting the same network: wait for its files
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (entry / 'warnings.json').is_file():
            tmp = Path(f'{entry}.tmp')
            shutil.rmtree(tmp, ignore_errors=True)
            _, seen = _export(net, arch, tmp / 'export')
            (tmp / 'warnings.json').write_text(json.dumps(seen))
            os.replace(tmp, entry)
    shutil.copytree(entry / 'export', out_dir, dirs_exist_ok=True)
    return Path(out_dir), json.loads((entry / 'warnings.json').read_text())
