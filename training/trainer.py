"""The training loop: experiment folder, resume, data, model, logging, checkpoints, validation."""
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np
import paddle
from tqdm import tqdm

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.utils.fileio import atomic_write_text
from realesrgan_paddle.utils.logger import get_logger
from realesrgan_paddle.utils.runtime_env import raise_if_terminated

from .checkpoints import CheckpointManager
from .data_setup import build_feeder, build_train_loader, build_val_loader, close_data
from .dist import barrier, init_dist, pick_device
from .metrics_log import MetricsLog
from .msglog import MessageLogger
from .option_file import dump_options
from .state_io import load_state
from .steps import build_model, weights_checksum
from .validation import BestTracker, validate


def _rng_state():
    return {'python': random.getstate(), 'numpy': np.random.get_state()}


def _set_rng_state(st):
    if not st:
        return
    py = st['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = st['numpy']
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), int(n[2]), int(n[3]), float(n[4])))


def iter_seed(seed, it, rank):
    """Per-iteration seed: a resumed run draws the same random numbers at the same iteration."""
    return int(np.random.SeedSequence([int(seed), int(it), int(rank)]).generate_state(1)[0] % (2 ** 31 - 1))


def prepare_experiment(opt, rank, resuming, logger=None):
    exp_dir = Path(opt['path']['experiments_root']) / opt['name']
    if rank == 0:
        if exp_dir.exists() and not resuming and any(exp_dir.iterdir()):
            archived = exp_dir.with_name(f'{exp_dir.name}_archived_{time.strftime("%Y%m%d_%H%M%S")}')
            shutil.move(str(exp_dir), str(archived))
            print(f'experiment folder exists: moved to {archived}')
        for sub in ('models', 'training_states', 'visualization'):
            (exp_dir / sub).mkdir(parents=True, exist_ok=True)
    return exp_dir


class _Run:
    """What one training's phases share: options, rank, folders, logger, model, counters."""

    def __init__(self, opt, rank, world, debug):
        self.opt, self.rank, self.world, self.debug = opt, rank, world, debug
        self.start_iter = self.it = self.epoch = self.skipped = 0
        self.t_data = self.t_step = 0.0
        self.last_val = None
        self.metrics = None  # MetricsLog on rank 0

    def save(self, it):
        if self.rank != 0:
            return
        st = self.model.training_state()
        st.update(epoch=self.epoch, best=self.best.best, rng={str(self.rank): _rng_state()})
        self.mgr.save(it, self.model.network_payloads(), st)
        self.metrics.sync()
        self.logger.info(f'saved checkpoint iter {it} to {self.mgr.models_dir}')

    def validate(self, it):
        model, best = self.model, self.best
        results, n = validate(model.eval_net(), self.val_loader, self.opt['val'], it,
                              self.exp_dir / 'visualization', self.logger)
        model.g.train()
        improved = best.update(results, it)
        for k, v in results.items():
            self.msg.add_scalar(f'metrics/{k}', v, it)
        self.logger.info(f'validation iter {it} on {n} images: ' +
                         ' '.join(f'{k} {v:.4f} (best {best.best[k]["val"]:.4f} @ {best.best[k]["iter"]})'
                                  for k, v in results.items()))
        if self.metrics is not None:
            self.metrics.write('val', it, self.epoch, n_images=n, metrics=results)
        if improved and self.rank == 0:
            net = model.eval_net()
            save_checkpoint(self.mgr.net_path('g', 'best'), params=model.g.state_dict(),
                            params_ema=net.state_dict() if net is not model.g else None, arch=model.arch_g,
                            meta={'iter': it, 'best': best.best})
            atomic_write_text(self.exp_dir / 'best.json', json.dumps(best.best, indent=1))
        return results


def _debug_limits(opt):
    """--debug: 8 iterations, a line each, a checkpoint and a validation every 4."""
    opt['train']['total_iter'] = min(opt['train']['total_iter'], 8)
    opt['logger']['print_freq'] = 1
    opt['logger']['save_checkpoint_freq'] = min(opt['logger']['save_checkpoint_freq'], 4)
    if opt.get('val'):
        opt['val']['val_freq'] = min(opt['val']['val_freq'], 4)


def _find_resume(run, auto_resume):
    """``(resume iter, state, manager of its files)``: an explicit state, or the newest complete one."""
    opt = run.opt
    run.mgr = CheckpointManager(Path(opt['path']['experiments_root']) / opt['name'], opt['logger']['keep_last'])
    if opt['path'].get('resume_state'):
        state = load_state(opt['path']['resume_state'])
        return int(state['iter']), state, CheckpointManager(Path(opt['path']['resume_state']).resolve().parent.parent)
    if auto_resume:
        return (*run.mgr.latest(), run.mgr)
    return None, None, run.mgr


def _open_experiment(run, resume_it, state):
    """The experiment folder (a stale one archived), its log file, ``options.yml`` and ``metrics.jsonl``."""
    opt, rank = run.opt, run.rank
    stale = run.mgr.remove_stale_temps() if rank == 0 else []  # before an old folder is archived
    run.exp_dir = exp_dir = prepare_experiment(opt, rank, resuming=state is not None)
    barrier(run.world)
    log_file = exp_dir / f'train_{opt["name"]}_{time.strftime("%Y%m%d_%H%M%S")}.log' if rank == 0 else None
    run.logger = logger = get_logger(f'train.{opt["name"]}.r{rank}', log_file)
    run.mgr.logger = logger
    if stale:
        logger.info(f'removed {len(stale)} temp file(s) left by a killed run: '
                    + ', '.join(str(p.relative_to(exp_dir)) for p in stale[:5]) + (' ...' if len(stale) > 5 else ''))
    if rank == 0:
        atomic_write_text(exp_dir / 'options.yml', dump_options(opt))
        run.metrics = MetricsLog(exp_dir, resume_it if state is not None else None)


def _build(run, device):
    """Seeds, the model, the loaders and the pair feeder."""
    opt, rank, logger = run.opt, run.rank, run.logger
    use_amp = bool(opt['train']['use_amp'])
    if use_amp and device != 'gpu':
        logger.warning('train.use_amp: AMP works on GPU only (CPU has no fp16/bf16 conv path); training in fp32')
        use_amp = False
    logger.info(f'device {device}, world size {run.world}, rank {rank}, model {opt["model_type"]}, '
                f'network_g {opt["network_g"]["type"]}')
    run.seed = seed = int(opt['manual_seed'])
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    paddle.seed(seed)  # same init on every rank (DataParallel also broadcasts it)
    run.model = build_model(opt, logger, run.world, rank, use_amp)
    paddle.seed(seed + rank)
    run.train_loader, run.train_sampler, run.train_set = build_train_loader(opt, rank, run.world, logger)
    run.val_loader = build_val_loader(opt, logger) if (opt.get('val') and rank == 0) else None
    run.feeder = build_feeder(opt, logger, rank)


def _restore(run, resume_it, state, src, auto_resume):
    """The best tracker, the model's training state and the counters of the resumed iteration."""
    metrics = (run.opt.get('val') or {}).get('metrics')
    run.best = BestTracker(metrics)
    if state is not None:
        files = {w: src.net_path(w, resume_it) for w in state.get('nets', ['g'])}
        run.model.load_training_state(state, files)
        run.start_iter, run.epoch = int(state['iter']), int(state.get('epoch', 0))
        _set_rng_state((state.get('rng') or {}).get(str(run.rank)))
        run.best = BestTracker(metrics, state.get('best'))
        run.logger.info(f'resumed from iter {run.start_iter} (epoch {run.epoch}), lr {run.model.current_lrs()}')
    elif auto_resume:
        run.logger.info(f'--auto_resume: no complete training state in {run.mgr.states_dir}; starting at iter 0')
    run.it = run.start_iter


def _loop(run):
    """Iterations from ``run.start_iter`` to ``train.total_iter``: steps, log lines, validations, checkpoints."""
    opt, lo, model = run.opt, run.opt['logger'], run.model
    total = int(opt['train']['total_iter'])
    batches = None
    run.msg = MessageLogger(run.logger, total, run.start_iter, lo['print_freq'],
                            vdl_dir=(run.exp_dir / 'vdl') if (run.rank == 0 and lo['use_tb_logger'] and not run.debug)
                            else None, debug=run.debug, metrics=run.metrics)
    run.val_freq = val_freq = (opt.get('val') or {}).get('val_freq')
    if run.val_loader is not None and opt['val'].get('val_at_start') and run.start_iter == 0:
        run.validate(0)  # the pretrained model, before any step
    bar = tqdm(total=total, initial=run.start_iter, desc=f'train {opt["name"]}',
               disable=(run.rank != 0 or run.debug) or None, dynamic_ncols=True)
    try:  # the bar is closed even when a step raises, so an error line never lands on a bar fragment
        while run.it < total:
            for obj in (run.train_sampler, run.train_set):
                if hasattr(obj, 'set_epoch'):
                    obj.set_epoch(run.epoch)
            t0 = time.time()
            batches = iter(run.train_loader)  # closed below, after the dataset (close_data)
            for batch in batches:
                run.it = it = run.it + 1
                paddle.seed(iter_seed(run.seed, it, run.rank))
                model.step_schedulers()  # the LR of iteration `it` (BasicSR order)
                lq, gt, gt_usm = run.feeder(batch, iter_seed(run.seed, it, run.rank))
                t1 = time.time()
                losses = model.optimize(lq, gt, gt_usm, it)
                t2 = time.time()
                run.t_data += t1 - t0
                run.t_step += t2 - t1
                if losses is None:
                    run.skipped += 1
                else:
                    run.msg.accumulate(losses)
                run.msg(it, run.epoch, model.current_lrs())
                bar.update(1)
                raise_if_terminated()  # a SIGTERM whose KeyboardInterrupt Python dropped (utils/runtime_env.py)
                if run.val_loader is not None and val_freq and it % val_freq == 0:
                    run.last_val = run.validate(it)
                if lo['save_checkpoint_freq'] > 0 and it % lo['save_checkpoint_freq'] == 0:
                    run.save(it)
                    barrier(run.world)  # no rank runs ahead of a checkpoint being written
                t0 = time.time()
                if it >= total:
                    break
            else:  # the loader ran out: next epoch
                run.epoch += 1
    finally:
        bar.close()
        close_data(run.train_set, batches)


def _finish(run):
    """The last checkpoint and validation, ``summary_rank<r>.json`` and the closing log line."""
    it, model, mgr = run.it, run.model, run.mgr
    if run.rank == 0 and (not mgr.saved_iters() or mgr.saved_iters()[-1] != it):
        run.save(it)
    if run.val_loader is not None and (run.last_val is None or (run.val_freq and it % run.val_freq != 0)):
        run.last_val = run.validate(it)
    checksum = weights_checksum(model.g)
    checksum_d = weights_checksum(model.d) if hasattr(model, 'd') else None
    summary = {'iter': it, 'start_iter': run.start_iter, 'epoch': run.epoch, 'rank': run.rank,
               'world_size': run.world, 'lr': model.current_lrs(), 'skipped_steps': run.skipped,
               'net_g_sha256': checksum, 'net_d_sha256': checksum_d, 'val': run.last_val, 'best': run.best.best,
               'seconds_data_degradation': round(run.t_data, 3), 'seconds_steps': round(run.t_step, 3)}
    atomic_write_text(run.exp_dir / f'summary_rank{run.rank}.json', json.dumps(summary, indent=1))
    run.logger.info(f'done: iter {it}, net_g sha256 {checksum[:16]}, data+degradation {run.t_data:.1f}s, '
                    f'G/D steps {run.t_step:.1f}s, skipped steps {run.skipped}')
    return summary


def train(opt, auto_resume=False, debug=False):
    """Run one training; returns a summary dict (also written to ``summary_rank<r>.json``).

    The phases, as BasicSR's: resume (which state, the experiment folder), loaders (and the
    model), the loop, and finish (last checkpoint, validation, summary).
    """
    rank, world = init_dist()
    device = pick_device(opt['device'])
    if debug:
        _debug_limits(opt)
    run = _Run(opt, rank, world, debug)
    resume_it, state, src = _find_resume(run, auto_resume)
    _open_experiment(run, resume_it, state)
    try:
        _build(run, device)
        _restore(run, resume_it, state, src, auto_resume)
        _loop(run)
        summary = _finish(run)
        run.msg.close()
        return summary
    finally:
        if run.metrics is not None:
            run.metrics.close()
