"""One frozen RRDBNet, run once per frame for every model built on it: the x4plus recipe's evaluate stage.

The offline x4plus recipe trains a ``LowBandRRDBNet`` (``models/archs/rrdb/lowband.py``): the base RRDBNet frozen, plus
a small low-band corrector and its ``strength``. Its checkpoints, the knob's DNI blends, the partner, the base
itself and a ``--compare`` x4plus all carry the same RRDBNet tensors; only the corrector differs. Run apart,
each of them pays the trunk's full pass on every frame, nearly all of the stage's time. Here the trunk's
output on an input is computed once and kept (least recently used first out, ``CACHE_BYTES`` at most), and
each model adds its own correction to it in the dynamic graph, where the corrector's few convs cost little.

Trust: models share a trunk only when their RRDBNet tensors and trunk arch are equal (a sha256 over names,
shapes and bytes, ``trunk_digest``), never because a file's name or arch says so. Any other model, and any
model the caller does not run on the predictor, is left to the caller (``TrunkPool.upscaler`` returns None).
"""
import copy
import hashlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint

CACHE_BYTES = 1 << 30  # trunk outputs kept: 192x144 frames at x4 take 5.3 MB each
SHARED = ('RRDBNet', 'LowBandRRDBNet')
_TRUNK_ARCH = ('num_in_ch', 'num_out_ch', 'scale', 'num_feat', 'num_block', 'num_grow_ch')


def trunk_digest(trunk_state, trunk_arch):
    """sha256 of an RRDBNet's tensors (names, shapes, float32 bytes) and its arch: equal only for one trunk."""
    h = hashlib.sha256(repr([(k, trunk_arch.get(k)) for k in _TRUNK_ARCH]).encode())
    for k in sorted(trunk_state):
        a = np.ascontiguousarray(trunk_state[k], dtype=np.float32)
        h.update(f'{k}{a.shape}'.encode())
        h.update(a.tobytes())
    return h.hexdigest()


class CachedTrunk:
    """A backend (``forward``) that runs another once per distinct input and keeps the outputs; other
    attributes (``name``, ``kind``, ``engine``) are the inner backend's."""

    def __init__(self, inner, max_bytes=CACHE_BYTES):
        self.inner, self.max_bytes = inner, int(max_bytes)
        self.outputs, self.held = OrderedDict(), 0
        self.runs = self.hits = 0

    def __getattr__(self, name):
        if name == 'inner':  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def forward(self, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        key = (x.shape, hashlib.sha1(x.tobytes()).hexdigest())
        y = self.outputs.get(key)
        if y is not None:
            self.outputs.move_to_end(key)
            self.hits += 1
            return y.copy()  # the caller may write into what it gets
        y = self.inner.forward(x)
        self.runs += 1
        self.outputs[key] = y
        self.held += y.nbytes
        while self.held > self.max_bytes and len(self.outputs) > 1:
            self.held -= self.outputs.popitem(last=False)[1].nbytes
        return y.copy()


class CorrectedTrunk:
    """A backend: a shared ``CachedTrunk``'s output plus a ``LowBandHead``'s correction (dynamic graph)."""

    def __init__(self, trunk, head):
        self.trunk, self.head = trunk, head

    def __getattr__(self, name):
        if name == 'trunk':
            raise AttributeError(name)
        return getattr(self.trunk, name)

    def forward(self, x):
        return self.head.correct_arrays(x, self.trunk.forward(x))


class TrunkPool:
    """The trunks of one evaluate stage, by ``trunk_digest``, each an upscaler whose backend is a ``CachedTrunk``.

    ``folder``: where a LowBandRRDBNet's trunk is written as a plain RRDBNet file (the caller's to remove).
    """

    def __init__(self, folder, max_bytes=CACHE_BYTES):
        self.folder, self.max_bytes = Path(folder), max_bytes
        self.trunks = {}

    def upscaler(self, spec, make):
        """An upscaler for ``spec`` that shares its trunk, or None when ``spec`` is no RRDBNet or LowBandRRDBNet
        weights file or zoo name. ``make(spec)``: the caller's predictor upscaler for a model reference (called
        for the first model of each trunk, with a trunk file this pool wrote for a LowBandRRDBNet)."""
        from realesrgan_paddle.models import load_state_into, read_checkpoint, zoo
        from realesrgan_paddle.models.archs.rrdb import lowband
        ref = zoo.resolve_model_ref(spec, progress=False)
        if ref.kind not in ('zoo', 'weights'):
            return None
        state, arch = read_checkpoint(ref.path)
        if arch.get('type') not in SHARED:
            return None
        if arch['type'] == 'RRDBNet':
            return self._trunk(state, arch, spec, make)
        trunk_state, trunk_arch, head_state = lowband.split_lowband(state, arch)
        head = lowband.LowBandHead(**{k: v for k, v in arch.items() if k != 'type'})
        load_state_into(head, head_state, strict=True, where=str(ref.path))
        head.eval()
        trunk = self._trunk(trunk_state, trunk_arch, None, make)
        out = copy.copy(trunk)  # the same setup (tiles, padding, scale) with this model's backend
        out.backend = CorrectedTrunk(trunk.backend, head)
        out.arch, out.model_path = arch, ref.path
        # what a Ray worker builds from (inference.distributed.ray_runner): this model's file, not the trunk's
        out.init_kwargs = {**trunk.init_kwargs, 'model': str(ref.path)}
        return out

    def _trunk(self, state, arch, spec, make):
        """The upscaler of the trunk ``state``: the pool's, or made now from ``spec`` (None: written first)."""
        digest = trunk_digest(state, arch)
        if digest not in self.trunks:
            if spec is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                spec = save_checkpoint(self.folder / f'trunk-{digest[:16]}.pdparams', state, arch=arch)
            up = make(spec)
            up.backend = CachedTrunk(up.backend, self.max_bytes)
            self.trunks[digest] = up
        return self.trunks[digest]

