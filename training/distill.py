"""Distil a frozen teacher (x4plus) into a compact student, as a compact base with more of a fine band.

The compact CPU finetune keeps the band its base has (self-anchoring) and corrects the low band towards the GT. The
official compact base (realesr-animevideov3) has almost no fine band on photos, and 600-1200 CPU iterations of
weight-free losses do not create one (docs/experiments/gan_cpu.md). Distilling x4plus once, offline, is the attempt to give
the finetune a start with a fine band (measured in docs/experiments/gan_cpu.md, "A compact base distilled from x4plus"):

1. generic-degraded LQ copies of HR photos and frames (``make_lq_data.py``, one folder per seed);
2. the teacher's output on each LQ image, cached as 8-bit PNG (``teacher_outputs``; resumable, atomic);
3. the student trained on random aligned crops of the cached pairs (``train``): an L1 towards the teacher's output,
   the local strength of its finest band and a term against a mesh on the 4 px grid (``distill_loss``). L1 alone
   shrinks the band to its average (detail 0.08 on unseen street frames after 500 iterations).

Nothing here needs the GT: the teacher's output is the target, so the pairs can be made from any photos.
"""
import time
from collections import deque
from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F
from tqdm import tqdm

from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
from realesrgan_paddle.loss.frequency import hf_energy_loss, subpixel_grid_loss
from realesrgan_paddle.loss.pixel import check_pair
from realesrgan_paddle.media.image_io import ImageReadError, chw_to_image, image_to_chw, imread, imwrite
from realesrgan_paddle.models.loading import load_state_into, read_checkpoint
from realesrgan_paddle.models.skip_refit import refit_skip
from realesrgan_paddle.training.checkpoints import (CheckpointManager, load_optimizer_state, optimizer_state,
                                                    to_numpy_state)

IMAGE_SUFFIX = '.png'
KEEP_STATES = 2  # checkpoints kept in the states folder (the latest ones)


def distill_loss(out, target, energy_weight=15.0, grid_weight=20.0, window=8):
    """L1 between ``out`` and ``target`` (the teacher's output, detached), plus ``energy_weight`` times the L1
    between the local RMS of their luma Laplacians in ``window`` px windows (``loss.frequency.hf_energy_loss``),
    plus ``grid_weight`` times the part of the error that repeats every 4 px (``subpixel_grid_loss``: without it
    the band-strength term is met by a mesh on the x4 pixel-shuffle grid)."""
    check_pair(out, target, 'distill_loss')
    if energy_weight < 0 or grid_weight < 0 or int(window) < 1:
        raise ValueError(f'distill_loss: energy_weight and grid_weight must be >= 0 and window >= 1, got '
                         f'{energy_weight}, {grid_weight}, {window}')
    target = target.detach()
    loss = F.l1_loss(out, target)
    if energy_weight:
        loss = loss + energy_weight * hf_energy_loss(out, target, window=window)
    if grid_weight:
        loss = loss + grid_weight * subpixel_grid_loss(out, target, period=4, window=window)
    return loss


class DistillLoss(paddle.nn.Layer):
    """Layer form of ``distill_loss``."""

    def __init__(self, energy_weight=15.0, grid_weight=20.0, window=8):
        super().__init__()
        self.energy_weight, self.grid_weight, self.window = float(energy_weight), float(grid_weight), int(window)

    def forward(self, out, target):
        return distill_loss(out, target, self.energy_weight, self.grid_weight, self.window)


def _read_bgr8(path):
    img = imread(path)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ImageReadError(f'{path}: an 8-bit colour image is needed, got shape {img.shape} {img.dtype}')
    return img


def teacher_outputs(lq_dir, out_dir, teacher, progress=True):
    """Write ``teacher`` (a ``training.teacher.FrozenTeacher``) on every PNG of ``lq_dir`` to ``out_dir`` under
    the same name; files already there are kept (an interrupted run resumes). Returns the number written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [p for p in sorted(Path(lq_dir).glob('*' + IMAGE_SUFFIX)) if not (out_dir / p.name).is_file()]
    for path in tqdm(todo, desc=f'teacher on {Path(lq_dir).name}', unit='img', disable=not progress or None):
        y = teacher(paddle.to_tensor(image_to_chw(_read_bgr8(path))[None]))
        imwrite(out_dir / path.name, chw_to_image(y))
    return len(todo)


class PairSet:
    """Aligned (LQ, teacher output) pairs from folders of same-named PNGs; ``sample`` draws random crops."""

    def __init__(self, folders, scale=4, crop=32):
        self.scale, self.crop, self.pairs = int(scale), int(crop), []
        for lq_dir, t_dir in folders:
            for path in sorted(Path(lq_dir).glob('*' + IMAGE_SUFFIX)):
                target = Path(t_dir) / path.name
                if target.is_file():
                    self._add(path, target)
        if not self.pairs:
            raise ValueError(f'distil: no (LQ, teacher) pairs of at least {crop}x{crop} LQ pixels in '
                             f'{", ".join(str(f[0]) for f in folders)}')
        area = np.array([p[0].shape[0] * p[0].shape[1] for p in self.pairs], np.float64)
        self.weights = area / area.sum()  # each LQ pixel equally likely

    def _add(self, lq_path, t_path):
        lq, t = (np.ascontiguousarray(_read_bgr8(p)[:, :, ::-1]) for p in (lq_path, t_path))  # RGB crops
        if t.shape[:2] != (lq.shape[0] * self.scale, lq.shape[1] * self.scale):
            raise ValueError(f'{t_path}: {t.shape[1]}x{t.shape[0]} is not {self.scale} x its LQ '
                             f'{lq.shape[1]}x{lq.shape[0]} ({lq_path})')
        if min(lq.shape[:2]) >= self.crop:
            self.pairs.append((lq, t))

    def sample(self, rng, batch):
        """``(lq, target)`` float32 NCHW arrays in [0, 1]: ``batch`` random crops, half of them mirrored."""
        c, s, xs, ys = self.crop, self.scale, [], []
        for i in rng.choice(len(self.pairs), batch, p=self.weights):
            lq, t = self.pairs[i]
            y0, x0 = rng.integers(0, lq.shape[0] - c + 1), rng.integers(0, lq.shape[1] - c + 1)
            a, b = lq[y0:y0 + c, x0:x0 + c], t[s * y0:s * (y0 + c), s * x0:s * (x0 + c)]
            if rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            xs.append(a.transpose(2, 0, 1))
            ys.append(b.transpose(2, 0, 1))
        return (np.ascontiguousarray(np.stack(xs), dtype=np.float32) / 255.0,
                np.ascontiguousarray(np.stack(ys), dtype=np.float32) / 255.0)


def build_student(init_path, skip='bilinear'):
    """``(net, arch)``: the compact network of ``init_path`` (an SRVGGNetCompact weights file) with ``skip``; a
    model with the other skip is refitted first (``models.skip_refit``), so that the student starts from what it
    computes rather than from the mesh its weights draw with the other skip."""
    state, arch = read_checkpoint(init_path, 'params_ema')
    if arch.get('type') != 'SRVGGNetCompact':
        raise ValueError(f'{init_path}: a {arch.get("type")}, not an SRVGGNetCompact: the student is a compact model')
    if arch.get('skip', 'nearest') != skip:
        state, _ = refit_skip(state, arch, skip)
    arch = {**arch, 'skip': skip}
    net = models.build_network(dict(arch))
    load_state_into(net, state, where=str(init_path))
    return net, arch


def _optimizer(net, lr, iters):
    sched = paddle.optimizer.lr.CosineAnnealingDecay(lr, iters, eta_min=lr * 0.05)
    return paddle.optimizer.Adam(sched, parameters=net.parameters(), beta1=0.9, beta2=0.99), sched


def _resume(net, opt, ckpt, iters, log):
    """The iteration to go on from: that of ``ckpt``'s newest complete state (loaded into net and opt), else 0."""
    it, state = ckpt.latest()
    if it is None:
        return 0
    if it > iters:
        raise ValueError(f'{ckpt.state_path(it)}: a run of {it} iterations is there, more than the {iters} asked for '
                         f'(give a larger number or another folder)')
    params, _ = pick_params(load_state_file(ckpt.net_path('g', it)), 'params')
    net.set_state_dict({k: paddle.to_tensor(v) for k, v in params.items()})
    load_optimizer_state(opt, state['optimizer'], net)  # its LR_Scheduler entry restores the schedule
    log(f'resumed from {ckpt.state_path(it)} (iteration {it})')
    return it


def train(net, pairs, folder, iters, batch=8, lr=2e-4, energy_weight=15.0, every=250, seed=0, log=print,
          progress=True, grid_weight=20.0):
    """Train ``net`` on ``pairs`` (a ``PairSet``) for ``iters`` iterations of ``distill_loss``; the weights and a
    training state are written to ``folder`` every ``every`` iterations and at the end (``CheckpointManager``'s
    layout, the last ``KEEP_STATES`` kept), and a run finds the newest there and goes on from it. Each iteration's
    crops are drawn from (seed, iteration), so a resumed run draws what an uninterrupted one would. Returns the mean
    loss of the last ``every`` iterations (None when the run was already complete)."""
    ckpt = CheckpointManager(folder, keep_last=KEEP_STATES)
    opt, sched = _optimizer(net, lr, iters)
    start, recent, t0 = _resume(net, opt, ckpt, iters, log), deque(maxlen=every), time.time()
    net.train()
    for it in tqdm(range(start + 1, iters + 1), desc='distil', unit='it', initial=start, total=iters,
                   disable=not progress or None):
        x, y = pairs.sample(np.random.default_rng([seed, it]), batch)
        loss = distill_loss(net(paddle.to_tensor(x)), paddle.to_tensor(y), energy_weight, grid_weight)
        opt.clear_grad()
        loss.backward()
        opt.step()
        sched.step()
        recent.append(float(loss))
        if it % every == 0 or it == iters:
            ckpt.save(it, {'g': {'params': to_numpy_state(net)}}, {'optimizer': optimizer_state(opt, net)})
            log(f'iteration {it}/{iters}: loss {np.mean(recent):.4f} over the last {len(recent)}, '
                f'{time.time() - t0:.0f} s')
    return float(np.mean(recent)) if recent else None

