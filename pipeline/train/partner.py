"""The fidelity knob's partner with --lq-videos: a second, shorter training of the finetune's own options without
the anchor's energy term (``recipes.FITTED_PARTNER``).

With a fitted degradation the knob between the base and the finetune is of little use: on real low-resolution
footage the base is often below bicubic on PSNR, so every blend loses PSNR on the way to it. The partner is a
student of the same recipe that keeps the fitted degradation's PSNR and draws little texture; the DNI sweep
(``pipeline.choice.dni_sweep``) blends the chosen checkpoint with it, so the knob trades texture for PSNR from a point
that beats bicubic. It runs in the finetune stage after the main training, in ``finetune/partner`` (resumable
like the main run), and only with a fitted degradation, when the template has an entry and the run's anchor has
an energy term.
"""
import copy
from pathlib import Path

from realesrgan_paddle.training.option_file import apply_overrides

from .recipes import FITTED_PARTNER, dump, loss_entry, partner_iters, scale_count
from .ranks import train_args
from .run import EXP_NAME, committed_paths, train_checked

FOLDER = 'partner'


def partner_options(opt, template):
    """The partner's options from the run's ``opt`` (paths filled in), or None when ``template`` has no partner
    entry, the run trains a discriminator and the entry says ``with_gan`` False, or the run has no anchor energy
    term to leave out (a user's ``-o`` may have set it to 0)."""
    entry = FITTED_PARTNER.get(Path(template).name)
    train = opt.get('train') or {}
    anchor = loss_entry(train, 'l_g_anchor')
    gan = bool(opt.get('network_d')) and bool(loss_entry(train, 'l_g_gan'))
    if not entry or (gan and not entry.get('with_gan', True)) or float(anchor.get('energy_weight') or 0.0) <= 0.0:
        return None
    p = apply_overrides(copy.deepcopy(opt), partner_overrides(template))
    total = int(opt['train']['total_iter'])
    n = partner_iters(entry, total)
    tr = p['train']
    tr['total_iter'] = n
    if (tr.get('scheduler') or {}).get('milestones'):
        tr['scheduler']['milestones'] = [scale_count(m, n / total) for m in tr['scheduler']['milestones']]
    p['val'] = None
    p['logger'].update(save_checkpoint_freq=n, keep_last=0)
    p['path']['experiments_root'] = str(Path(opt['path']['experiments_root']).parent / FOLDER / 'experiments')
    return p


def partner_overrides(template):
    """The partner's ``-o`` overrides of the run's options: ``template``'s ``FITTED_PARTNER`` entry's."""
    return list(FITTED_PARTNER[Path(template).name]['overrides'])


def fitted(ctx):
    """The partner is only for a fitted degradation: --lq-videos and the degrade stage's fragment."""
    return bool(ctx.s.lq_videos) and (ctx.out('degrade') / 'fitted.yml').is_file()


def run_partner(ctx, part, opt, template, procs=1):
    """Train the partner in ``part/partner`` (``part``: the finetune stage's folder, ``opt``: the main run's
    options, its batches those of ``procs`` ranks); the finetune stage's info on it (None when there is none): its
    iterations, overrides and weights file relative to the stage folder."""
    p = partner_options(opt, template) if fitted(ctx) else None
    if p is None:
        return None
    folder = Path(part) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'options.yml').write_text(dump(p))
    overrides = partner_overrides(template)
    n = p['train']['total_iter']
    ctx.say(f'finetune: the fidelity knob\'s partner: the same options with {", ".join(overrides)}, {n} iterations '
            f'({ctx.command(*train_args(procs, ctx.out("finetune") / FOLDER / "options.yml"))})')
    ckpts = train_checked(folder / 'options.yml', folder / 'experiments' / EXP_NAME, 'the partner\'s training', procs)
    p['path']['experiments_root'] = str(ctx.out('finetune') / FOLDER / 'experiments')
    (folder / 'options.yml').write_text(dump(committed_paths(p, part, ctx.out('finetune'))))
    last = ckpts[max(ckpts)]
    return {'iters': n, 'overrides': overrides, 'checkpoint': str(Path(last).relative_to(part))}


def partner_path(ctx):
    """The partner's weights file of a finished finetune stage, or None."""
    rec = ctx.state.record('finetune') or {}
    info = (rec.get('info') or {}).get('partner')
    return ctx.out('finetune') / info['checkpoint'] if info else None
