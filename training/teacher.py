"""A frozen generator run on every training batch: the output the ``teacher``-target loss terms compare with (self-anchoring).

The teacher is ``train.teacher`` when set (any model reference of ``models.zoo.resolve_model_ref``: a zoo
name such as ``realesrgan-x4plus``, a weights file, or an export folder of ``tools/export_model.py``), else the
network the finetune starts from (``path.pretrain_network_g``); it is never updated. A teacher that is not the
base lets a compact student take its high band from a larger model (x4plus) while its low band follows the GT;
it must upscale by the student's scale. Two ways to run it, chosen by ``train.teacher_backend``:

* ``predictor``: the weights are exported once (``inference.upscaler.cached_export``, the shared cache) and
  run by Paddle Inference in fp32. On the CPU this is the faster path (``benchmarks/train_speed.py``).
* ``dynamic``: a second copy of the network in the dynamic graph, under ``no_grad``.
* ``auto``: the predictor on the CPU, the dynamic graph on a GPU (the GPU predictor path has not run); an
  export folder always runs on the predictor.

Both give the teacher network's output to fp32 round-off; the teacher sees exactly the student's input, with
no padding, so with the base as teacher ``teacher(lq) == student(lq)`` at the first step.

A ``LowBandRRDBNet``'s frozen trunk runs the same way on the CPU (``trunk_runner``): exported once, on the predictor.
"""
import shutil
import tempfile
from pathlib import Path

import numpy as np
import paddle

from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.inference.backends import PredictorBackend
from realesrgan_paddle.inference.upscaler import cached_export
from realesrgan_paddle.models.detect import detect_arch
from realesrgan_paddle.models.zoo import ModelRefError, resolve_model_ref

from .loss_terms import targets

TEACHER_BACKENDS = ('auto', 'predictor', 'dynamic')


def teacher_source(ref):
    """``(kind, path)`` of a teacher reference: ``('weights', file)`` for a zoo name (fetched like any model)
    or a weights file, ``('export', folder)`` for an export folder; a ``ValueError`` (one line) otherwise."""
    try:
        mref = resolve_model_ref(ref)
    except ModelRefError as exc:
        raise ValueError(f'train.teacher: {exc}') from None
    if mref.kind in ('zoo', 'weights'):
        return 'weights', str(mref.path)
    if mref.kind == 'export':
        return 'export', str(mref.path)
    raise ValueError(f'train.teacher: {ref}: a {mref.kind} model cannot be a teacher (give a zoo name, a weights '
                     f'file or an export folder)')


class FrozenTeacher:
    """``teacher(lq)`` -> the teacher network's output on ``lq`` (a tensor without gradient).

    ``ref``: a zoo name, a weights file or an export folder (``train.teacher``, default the base)."""

    def __init__(self, ref, backend='auto', device='cpu', logger=None, role='for the anchor loss'):
        if backend not in TEACHER_BACKENDS:
            raise ValueError(f'train.teacher_backend must be one of {TEACHER_BACKENDS}, got {backend!r}')
        kind, self.weights = teacher_source(ref)
        if backend == 'auto':
            backend = 'predictor' if device == 'cpu' or kind == 'export' else 'dynamic'
        if kind == 'export' and backend != 'predictor':
            raise ValueError(f'train.teacher: {ref} is an export folder: it runs on the predictor only, not with '
                             f'train.teacher_backend {backend!r}')
        self.backend = backend
        if backend == 'predictor':
            infer_dir = self.weights if kind == 'export' else cached_export(self.weights)
            self.runner = PredictorBackend(infer_dir, device, precision='fp32')
            self.net = None
        else:
            self.net, _ = models.load_network(self.weights)
            self.net.eval()
            for p in self.net.parameters():
                p.stop_gradient = True
        if logger is not None:
            engine = getattr(getattr(self, 'runner', None), 'engine', 'dynamic graph')
            logger.info(f'teacher: frozen {self.weights} ({backend}, {engine}) {role}')

    def __call__(self, lq):
        if self.net is not None:
            with paddle.no_grad():
                return self.net(lq).detach()
        out = self.runner.forward(np.ascontiguousarray(lq.numpy(), dtype=np.float32))
        return paddle.to_tensor(out, place=lq.place)


def teacher_for(opt, logger):
    """The frozen teacher the options need (a loss with target teacher, or ``train.gan_real: teacher``):
    ``train.teacher``, default the base (``path.pretrain_network_g``); None when nothing reads one."""
    train = opt['train']
    if 'teacher' not in targets(train.get('losses')) and train.get('gan_real') != 'teacher':
        return None
    device = 'cpu' if paddle.get_device() == 'cpu' else 'gpu'
    ref = train.get('teacher') or opt['path']['pretrain_network_g']
    return FrozenTeacher(ref, train.get('teacher_backend', 'auto'), device, logger)


class LastBatch:
    """A frozen network's output on the last batch, run again only for a new batch: the anchor loss and a critic
    shown the teacher's outputs as real (``train.gan_real``) share one teacher pass."""

    def __init__(self):
        self._last = None

    def get(self, lq, run):
        if self._last is None or self._last[0] is not lq:
            self._last = (lq, run(lq))
        return self._last[1]


def trunk_runner(net, train, logger):
    """A Paddle Inference copy of a ``LowBandRRDBNet``'s frozen trunk on the CPU (4.5 x faster than the
    dynamic graph, docs/experiments/gan_cpu.md), or None: then the network runs its trunk itself, under ``no_grad``."""
    if not hasattr(net, 'correct') or paddle.get_device() != 'cpu' or train.get('teacher_backend') == 'dynamic':
        return None
    state = {k: v.numpy() for k, v in net.state_dict().items() if not k.startswith('corrector.') and k != 'strength'}
    tmp = Path(tempfile.mkdtemp(prefix='trunk-'))
    try:
        f = tmp / 'trunk.pdparams'
        save_checkpoint(f, params=state, arch=detect_arch(state), meta={'source': 'frozen trunk'})
        return FrozenTeacher(str(f), 'predictor', 'cpu', logger,
                             role="as the low-band corrector's trunk (the base's RRDB, exported once)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
