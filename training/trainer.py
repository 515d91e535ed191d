"""The training loop: experiment folder, resume, data, model, logging, checkpoints, validation."""
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np

from utils.fileio import atomic_write_text
from utils.logger import get_logger

from .checkpoints import CheckpointManager
from .dist import barrier, init_dist, pick_device
from .msglog import MessageLogger
from .options import dump_options


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


def train(opt, auto_resume=False, debug=False):
    """Run one training; returns a summary dict (also written to ``summary_rank<r>.json``)."""
    from .data_setup import build_feeder, build_train_loader, build_val_loader

    rank, world = init_dist()
    import paddle
    device = pick_device(opt['device'])
    train_opt = opt['train']
    if debug:
        train_opt['total_iter'] = min(train_opt['total_iter'], 8)
        opt['logger']['print_freq'] = 1
        opt['logger']['save_checkpoint_freq'] = min(opt['logger']['save_checkpoint_freq'], 4)
        if opt.get('val'):
            opt['val']['val_freq'] = min(opt['val']['val_freq'], 4)

    # ---- resume: an explicit state, or the newest complete one
    exp_dir = Path(opt['path']['experiments_root']) / opt['name']
    mgr = CheckpointManager(exp_dir, opt['logger']['keep_last'])
    src = mgr  # where the resumed state and its network files live
    resume_it, state = None, None
    if opt['path'].get('resume_state'):
        from .state_io import load_state
        state = load_state(opt['path']['resume_state'])
        resume_it = int(state['iter'])
        src = CheckpointManager(Path(opt['path']['resume_state']).resolve().parent.parent)
    elif auto_resume:
        resume_it, state = mgr.latest()
    stale = mgr.remove_stale_temps() if rank == 0 else []  # before an old folder is archived
    exp_dir = prepare_experiment(opt, rank, resuming=state is not None)
    barrier(world)

    log_file = exp_dir / f'train_{opt["name"]}_{time.strftime("%Y%m%d_%H%M%S")}.log' if rank == 0 else None
    logger = get_logger(f'train.{opt["name"]}.r{rank}', log_file)
    mgr.logger = logger
    if stale:
        logger.info(f'removed {len(stale)} temp file(s) left by a killed run: '
                    + ', '.join(str(p.relative_to(exp_dir)) for p in stale[:5]) + (' ...' if len(stale) > 5 else ''))
    if rank == 0:
        atomic_write_text(exp_dir / 'options.yml', dump_options(opt))
    use_amp = bool(train_opt['use_amp'])
    if use_amp and device != 'gpu':
        logger.warning('train.use_amp: AMP works on GPU only (CPU has no fp16/bf16 conv path); training in fp32')
        use_amp = False
    logger.info(f'device {device}, world size {world}, rank {rank}, model {opt["model_type"]}, '
                f'network_g {opt["network_g"]["type"]}')

    seed = int(opt['manual_seed'])
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    paddle.seed(seed)  # same init on every rank (DataParallel also broadcasts it)

    from .models import build_model, weights_checksum
    model = build_model(opt, logger, world, rank, use_amp)
    paddle.seed(seed + rank)

    train_loader, train_sampler, train_set = build_train_loader(opt, rank, world, logger)
    val_loader = build_val_loader(opt, logger) if (opt.get('val') and rank == 0) else None
    feeder = build_feeder(opt, logger, rank)

    from .validation import BestTracker, validate
    best = BestTracker((opt.get('val') or {}).get('metrics'))
    start_iter, epoch = 0, 0
    if state is not None:
        files = {w: src.net_path(w, resume_it) for w in state.get('nets', ['g'])}
        model.load_training_state(state, files)
        start_iter, epoch = int(state['iter']), int(state.get('epoch', 0))
        _set_rng_state((state.get('rng') or {}).get(str(rank)))
        best = BestTracker((opt.get('val') or {}).get('metrics'), state.get('best'))
        logger.info(f'resumed from iter {start_iter} (epoch {epoch}), lr {model.current_lrs()}')
    elif auto_resume:
        logger.info(f'--auto_resume: no complete training state in {mgr.states_dir}; starting at iter 0')

    total = int(train_opt['total_iter'])
    lo = opt['logger']
    msg = MessageLogger(logger, total, start_iter, lo['print_freq'],
                        vdl_dir=(exp_dir / 'vdl') if (rank == 0 and lo['use_tb_logger'] and not debug) else None,
                        debug=debug)
    val_freq = (opt.get('val') or {}).get('val_freq')

    def save(it):
        if rank != 0:
            return
        st = model.training_state()
        st.update(epoch=epoch, best=best.best, rng={str(rank): _rng_state()})
        mgr.save(it, model.network_payloads(), st)
        logger.info(f'saved checkpoint iter {it} to {mgr.models_dir}')

    def run_val(it):
        results, n = validate(model.eval_net(), val_loader, opt['val'], it, exp_dir / 'visualization', logger)
        model.g.train()
        improved = best.update(results, it)
        for k, v in results.items():
            msg.add_scalar(f'metrics/{k}', v, it)
        logger.info(f'validation iter {it} on {n} images: ' +
                    ' '.join(f'{k} {v:.4f} (best {best.best[k]["val"]:.4f} @ {best.best[k]["iter"]})'
                             for k, v in results.items()))
        if improved and rank == 0:
            from utils.checkpoint import save_checkpoint
            net = model.eval_net()
            save_checkpoint(mgr.models_dir / 'net_g_best.pdparams', params=model.g.state_dict(),
                            params_ema=net.state_dict() if net is not model.g else None, arch=model.arch_g,
                            meta={'iter': it, 'best': best.best})
            atomic_write_text(exp_dir / 'best.json', json.dumps(best.best, indent=1))
        return results

    if val_loader is not None and opt['val'].get('val_at_start') and start_iter == 0:
        run_val(0)  # the pretrained model, before any step
    from tqdm import tqdm
    bar = tqdm(total=total, initial=start_iter, desc=f'train {opt["name"]}', disable=(rank != 0 or debug) or None,
               dynamic_ncols=True)
    it = start_iter
    skipped = 0
    last_val = None
    t_data = t_step = 0.0
    try:  # the bar is closed even when a step raises, so an error line never lands on a bar fragment
        while it < total:
            if hasattr(train_sampler, 'set_epoch'):
                train_sampler.set_epoch(epoch)
            if hasattr(train_set, 'set_epoch'):
                train_set.set_epoch(epoch)
            t0 = time.time()
            for batch in train_loader:
                it += 1
                paddle.seed(iter_seed(seed, it, rank))
                model.step_schedulers()  # the LR of iteration `it` (BasicSR order)
                lq, gt, gt_usm = feeder(batch, iter_seed(seed, it, rank))
                t1 = time.time()
                losses = model.optimize(lq, gt, gt_usm, it)
                t2 = time.time()
                t_data += t1 - t0
                t_step += t2 - t1
                if losses is None:
                    skipped += 1
                else:
                    msg.accumulate(losses)
                msg(it, epoch, model.current_lrs())
                bar.update(1)
                if val_loader is not None and val_freq and it % val_freq == 0:
                    last_val = run_val(it)
                if lo['save_checkpoint_freq'] > 0 and it % lo['save_checkpoint_freq'] == 0:
                    save(it)
                    barrier(world)  # no rank runs ahead of a checkpoint being written
                t0 = time.time()
                if it >= total:
                    break
            else:  # the loader ran out: next epoch
                epoch += 1
    finally:
        bar.close()
    if rank == 0 and (not mgr.saved_iters() or mgr.saved_iters()[-1] != it):
        save(it)
    if val_loader is not None and (last_val is None or (val_freq and it % val_freq != 0)):
        last_val = run_val(it)
    checksum = weights_checksum(model.g)
    checksum_d = weights_checksum(model.d) if hasattr(model, 'd') else None
    summary = {'iter': it, 'start_iter': start_iter, 'epoch': epoch, 'rank': rank, 'world_size': world,
               'lr': model.current_lrs(), 'skipped_steps': skipped, 'net_g_sha256': checksum,
               'net_d_sha256': checksum_d, 'val': last_val, 'best': best.best,
               'seconds_data_degradation': round(t_data, 3), 'seconds_steps': round(t_step, 3)}
    atomic_write_text(exp_dir / f'summary_rank{rank}.json', json.dumps(summary, indent=1))
    logger.info(f'done: iter {it}, net_g sha256 {checksum[:16]}, data+degradation {t_data:.1f}s, '
                f'G/D steps {t_step:.1f}s, skipped steps {skipped}')
    msg.close()
    return summary
