"""Train/val data loaders and the on-the-fly pair maker (USM, second-order degradation, crop, pool).

A dataset error (e.g. every image unreadable) must stop training with its own message. Paddle's
single-process DataLoader reads on a thread that dies on such an error while the main thread
waits forever, so ``num_worker_per_gpu: 0`` uses ``ThreadLoader`` (one prefetch thread that hands
its error to the main thread); with worker processes, ``OneLineErrors`` turns the error that
paddle re-raises (a traceback inside a message) back into the dataset's one line.
"""
import queue
import re
import threading

import numpy as np
import paddle
from paddle.io.dataloader.collate import default_collate_fn

from realesrgan_paddle.data.datasets.pool import PairPool
from realesrgan_paddle.data.datasets.transforms import paired_random_crop
from realesrgan_paddle.data.degrade.second_order import SecondOrderDegradation, resolve_options
from realesrgan_paddle.data.degrade.usm import USMSharp

from .schema import build


class DataLoadError(ValueError):
    """One line: why the training data could not be loaded."""


class ThreadLoader:
    """Batches of ``dataset`` for ``batch_sampler``, prepared on one background thread
    (``prefetch`` batches ahead). An exception on that thread is raised in the caller."""

    def __init__(self, dataset, batch_sampler, prefetch=2):
        self.dataset, self.batch_sampler, self.prefetch = dataset, batch_sampler, max(1, int(prefetch))
        self.collate = default_collate_fn

    def __len__(self):
        return len(self.batch_sampler)

    def _work(self, q, stop):
        def put(item):
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False
        try:
            for indices in self.batch_sampler:
                if stop.is_set() or not put(('batch', self.collate([self.dataset[i] for i in indices]))):
                    return
        except BaseException as exc:  # noqa: B902 - handed to the main thread, which raises it
            put(('error', exc))
            return
        put(('end', None))

    def __iter__(self):
        q, stop = queue.Queue(maxsize=self.prefetch), threading.Event()
        worker = threading.Thread(target=self._work, args=(q, stop), daemon=True, name='resr-data')
        worker.start()
        try:
            while True:
                kind, val = q.get()
                if kind == 'end':
                    return
                if kind == 'error':
                    raise val
                yield {k: paddle.to_tensor(v) if isinstance(v, np.ndarray) else v for k, v in val.items()}
        finally:
            stop.set()
            worker.join(timeout=5)  # the trainer closes the dataset first (close_data), so this is quick


def close_data(dataset, batches):
    """End the training data's background work: ``dataset.close()`` (the codec cache's builders), then
    ``batches.close()`` (the open iterator of the loader, whose prefetch thread stops). Called when the
    loop ends, so that no daemon thread is inside cv2 or paddle code when the interpreter exits."""
    if hasattr(dataset, 'close'):
        dataset.close()
    if hasattr(batches, 'close'):
        batches.close()


def _last_line(text):
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return re.sub(r'^[\w.]+(Error|Exception|Dataset|Image): ', '', lines[-1]) if lines else ''


class OneLineErrors:
    """Paddle's multi-process DataLoader, with a worker's error raised as ``DataLoadError`` (its
    own last line) instead of a traceback printed by the reader thread and a SystemError."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        seen = []
        old_hook = threading.excepthook

        def hook(args):
            if args.thread is not None and '_thread_loop' in (args.thread.name or ''):
                seen.append(args.exc_value)  # reported by __iter__ below, in one line
            else:
                old_hook(args)
        threading.excepthook = hook
        try:
            yield from self.loader
        except (SystemError, RuntimeError) as exc:
            raise DataLoadError(_last_line(seen[-1] if seen else exc)) from None
        finally:
            threading.excepthook = old_hook


def _dataset(ds_opt, phase, scale, seed=None, degradation=None):
    cfg = dict(ds_opt)
    if degradation:  # the kernels are sampled in the dataset; the section's own keys win
        cfg['degradation'] = {**degradation, **(cfg.get('degradation') or {})}
    return build('dataset', cfg, f'datasets.{phase}', scale=scale, seed=seed, phase=phase)


def build_train_loader(opt, rank, world, logger):
    ds_opt = opt['datasets']['train']
    dataset = _dataset(ds_opt, 'train', opt['scale'], seed=int(opt['manual_seed']) * 1000 + rank,
                       degradation=opt.get('degradation'))
    if int(ds_opt.get('dataset_enlarge_ratio', 1)) > 1:
        dataset = _Enlarged(dataset, int(ds_opt['dataset_enlarge_ratio']))
    n = len(dataset)
    bs = int(ds_opt['batch_size_per_gpu'])
    if n < bs * world:
        raise ValueError(f'datasets.train: {n} images, fewer than batch_size_per_gpu x processes = {bs * world}')
    if world > 1:
        sampler = paddle.io.DistributedBatchSampler(dataset, batch_size=bs, num_replicas=world, rank=rank,
                                                    shuffle=ds_opt['use_shuffle'], drop_last=True)
    else:
        sampler = paddle.io.BatchSampler(dataset, batch_size=bs, shuffle=ds_opt['use_shuffle'], drop_last=True)
    workers = int(ds_opt['num_worker_per_gpu'])
    if workers > 0:
        loader = OneLineErrors(paddle.io.DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                                                    return_list=True, use_shared_memory=False))
    else:
        loader = ThreadLoader(dataset, sampler)
    logger.info(f'train set {ds_opt.get("name") or ds_opt["type"]}: {n} images, batch {bs} x {world} '
                f'process(es), {len(sampler)} iterations per epoch')
    return loader, sampler, dataset


class _Enlarged(paddle.io.Dataset):
    """Repeats a dataset ``ratio`` times per epoch (BasicSR's dataset_enlarge_ratio).

    Each repeat gets its own sub-epoch number, so a seeded dataset draws a new crop,
    flip and kernels for every repeat instead of the same ones ``ratio`` times.
    """

    def __init__(self, base, ratio):
        super().__init__()
        self.base, self.ratio, self.epoch = base, ratio, 0

    def __len__(self):
        return len(self.base) * self.ratio

    def __getitem__(self, i):
        n = len(self.base)
        if hasattr(self.base, 'set_epoch'):
            self.base.set_epoch(self.epoch * self.ratio + i // n)
        return self.base[i % n]

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def close(self):
        if hasattr(self.base, 'close'):
            self.base.close()


def build_val_loader(opt, logger):
    ds_opt = opt['datasets'].get('val')
    if not ds_opt:
        return None
    dataset = _dataset(ds_opt, 'val', opt['scale'])
    logger.info(f'val set {ds_opt.get("name") or ds_opt["type"]}: {len(dataset)} pairs')
    return paddle.io.DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0, return_list=True)


class PairMaker:
    """Turns a loader batch into ``(lq, gt, gt_usm)`` tensors.

    On-the-fly mode (RealESRGANDataset): USM-sharpen the GT, degrade it with the
    second-order pipeline, crop to ``gt_size``, then shuffle through the pair pool. In the
    dataset's codec mode the batch brings its LQ (degraded ahead, codec included): crop and pool only.
    Paired mode (PairedImageDataset): the batch's ``lq``/``gt`` as they are.
    """

    def __init__(self, opt, logger, rank=0):
        ds = opt['datasets']['train']
        self.scale = int(opt['scale'])
        self.on_the_fly = ds['type'] == 'RealESRGANDataset'
        self.need_usm = opt['l1_gt_usm'] or opt['percep_gt_usm'] or opt['gan_gt_usm']
        self.usm = None
        self.pool = None
        self.gt_size = opt.get('gt_size') or ds.get('gt_size')
        if self.need_usm or self.on_the_fly:
            d = resolve_options(opt.get('degradation') or {})
            self.usm = USMSharp(d['usm_weight'], d['usm_radius'], d['usm_threshold'], threads='auto')
        if self.on_the_fly:
            self.degrade = SecondOrderDegradation(opt.get('degradation') or {}, self.scale)
            if opt['queue_size'] > 0:
                self.pool = PairPool(opt['queue_size'], int(ds['batch_size_per_gpu']),
                                     seed=int(opt['manual_seed']) + rank, logger=logger)

    def __call__(self, batch, seed):
        rng = np.random.default_rng(seed)
        if not self.on_the_fly:
            gt, lq = batch['gt'], batch['lq']
            return lq, gt, (self.usm(gt) if self.need_usm else gt)
        gt = batch['gt']
        if 'lq' in batch:  # codec mode: the dataset degraded whole images ahead (data.degrade.codec_cache)
            lq = batch['lq']
        else:
            with paddle.no_grad():  # the LQ is degraded from the sharpened GT, as in Real-ESRGAN
                _, lq = self.degrade.with_usm(gt, batch['kernel1'], batch['kernel2'], batch['sinc_kernel'],
                                              rng=rng)
        if self.gt_size and (gt.shape[2] > self.gt_size or gt.shape[3] > self.gt_size):
            gt, lq = paired_random_crop(gt, lq, self.gt_size, self.scale, rng)
        if self.pool is not None:
            lq, gt = self.pool(lq, gt)
        gt_usm = self.usm(gt) if self.need_usm else gt
        return lq, gt, gt_usm


def build_feeder(opt, logger, rank=0):
    return PairMaker(opt, logger, rank)
