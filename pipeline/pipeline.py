"""The domain-finetune pipeline: seven resumable stages from videos to an exported model.

``run(settings, argv)`` runs keyframes -> split -> degrade -> finetune -> evaluate -> export ->
report in ``settings.work``, skipping finished stages whose settings are unchanged
(``state.WorkState``), and returns the one-line summary. Problems raise ``DomainError``.
"""
import json
import os
import time
from pathlib import Path

from realesrgan_paddle.utils.outputs import OutputClash, check_folder_pair, check_no_clobber, write_reason

from .stages import data as D
from .context import Context, DomainError
from .choice.dni_sweep import blend_name, describe
from .choice.sharpen_knob import chosen_amount, chosen_name, chosen_sigma
from .inputs.footage_check import shortfall
from .inputs.real_lq import check_lq_footage
from .stage_list import NAMES, STAGES, report_refused
from .state import WorkState, settings_hash
from .choice.vs_bicubic import export_verdict


def check_work(work):
    """The work folder exists (created) and is writable, else one-line DomainError."""
    work = Path(work)
    try:
        work.mkdir(parents=True, exist_ok=True)
        probe = work / f'.write_test.{os.getpid()}'
        probe.write_bytes(b'')
        probe.unlink()
    except OSError as exc:
        raise DomainError(f'{work}: the work folder is not writable: {write_reason(work, exc)}') from None


def check_outputs(settings):
    """Nothing the run writes may touch an input: the work folder may be neither a --videos folder, nor
    inside one, nor hold one, and no stage folder or work file may be or hold a video, the --base file
    or a --compare model (a re-run replaces stage folders). One-line DomainError otherwise."""
    work = Path(settings.work)
    inputs = [Path(v) for v in [*settings.videos, *settings.hr_photos]] + [Path(m) for m in [settings.base, *settings.compare.values()]
                                                   if Path(m).exists()]
    outputs = [work / name for s in NAMES for name in (s, f'{s}.partial')]
    outputs += [work / n for n in ('state.json', 'report.md', 'report.html')]
    try:
        for v in [*settings.videos, *settings.hr_photos]:
            if Path(v).is_dir():
                check_folder_pair(v, work, in_name='--videos', out_name='--work')
        check_no_clobber(inputs, outputs)
    except OutputClash as exc:
        raise DomainError(str(exc)) from None


def check_compare(compare):
    """Every --compare model is an existing file or folder (an export) or a model-zoo name."""
    from realesrgan_paddle.models.zoo import MissingModelFile, ModelRefError, parse_model_ref
    for name, model in compare.items():
        try:
            kind = parse_model_ref(model).kind
        except MissingModelFile:
            raise DomainError(f'--compare {name}={model}: no such file') from None
        except ModelRefError as exc:
            raise DomainError(f'--compare {name}={model}: {exc}') from None
        if kind == 'bicubic':
            raise DomainError(f'--compare {name}={model}: bicubic is always in the comparison')


def run(settings, argv=None, stop_after=None):
    t_start = time.perf_counter()
    check_outputs(settings)
    check_work(settings.work)
    state = WorkState(settings.work, NAMES)
    ctx = Context(settings, state, argv)
    videos = D.find_input_videos(settings)  # no videos: one line before anything heavy
    if settings.lq_videos:
        check_lq_footage(videos, settings.lq_videos)
    check_compare(settings.compare)
    short = shortfall(videos, settings.every, settings.gap, settings.lq_videos) if videos else None
    if short:  # before minutes of work: what footage the run needs, in one line
        ctx.say(short)
    if run_stages(ctx, STAGES, stop_after):
        return f'stopped after {stop_after} ({time.perf_counter() - t_start:.1f} s); outputs in {ctx.out(stop_after)}'
    return summary_line(ctx, time.perf_counter() - t_start)


def run_stages(ctx, stages, stop_after=None):
    """Walk ``stages`` (``stage_list.Stage``s) in order, each hashed with the one before it; True when stopped
    after ``stop_after``."""
    upstream = None
    for stage in stages:
        upstream = settings_hash(stage.settings(ctx), upstream)
        try:
            _run_stage(ctx, stage, upstream)
        except DomainError as exc:
            if not exc.report:
                raise
            report_refused(ctx, exc)  # the evaluation's numbers, why nothing was exported and what to try
            raise DomainError(f'{exc}; the report says why and what to try: {ctx.work / "report.html"}',
                              code=exc.code) from None
        if stage.name == stop_after:
            return True
    return False


def _run_stage(ctx, stage, h):
    """Skip ``stage`` when done earlier with the settings hash ``h``, else run it (and forget the later ones)."""
    state, name = ctx.state, stage.name
    if state.is_done(name, h):
        ctx.say(f'[{name}] done earlier with the same settings: skipped')
        return
    rec = state.record(name)
    if rec is not None and rec.get('hash') != h:
        ctx.say(f'[{name}] settings changed: this stage and the later ones run again')
    elif rec is not None:
        ctx.say(f'[{name}] its output folder is missing: this stage and the later ones run again')
    state.invalidate_from(name)
    ctx.say(f'[{name}] running')
    part = state.begin(name, h)
    t0 = time.perf_counter()
    info = stage.run(ctx, part)
    state.commit(name, h, time.perf_counter() - t0, info)
    if stage.after is not None:
        stage.after(ctx)
    ctx.say(f'[{name}] finished in {time.perf_counter() - t0:.1f} s')


def summary_line(ctx, seconds):
    res = json.loads((ctx.out('evaluate') / 'metrics.json').read_text())
    base = res['summary']['base']
    info = ctx.state.record('export')['info']
    what, row = describe(info), info['summary']
    total = sum(r['seconds'] for r in ctx.state.data['stages'].values())
    scores = ('(a weight off the swept grid: not measured)' if row is None else
              f'PSNR {row["psnr"]:.2f} dB vs base {base["psnr"]:.2f}, detail {row["detail"]:.3f} vs base '
              f'{base["detail"]:.3f}, NIQE {row["niqe"]:.2f} vs base {base["niqe"]:.2f}')
    ctx.say(export_verdict(res, info['weight'], info.get('sharpen')))  # the report's first line, just above the summary
    return (f'done: exported {what}: {scores}{_real_scores(res)} -> {ctx.out("export") / "inference.pdmodel"}; '
            f'stages {total:.0f} s (this run {seconds:.0f} s); report {ctx.work / "report.html"}')


def _real_scores(res):
    """'; on the real LQ footage (N frames, ...): ...' with --lq-videos, else ''. The exported point's own
    numbers there (a DNI blend runs on them too); from an older metrics.json without the blends on the
    footage, those of the checkpoint it comes from, and the line says so."""
    real = res.get('real')
    if not real:
        return ''
    w = res['dni']['chosen']
    r = dict(real['summary'], **((res['dni'].get('real') or {}).get('summary') or {}))
    name = blend_name(w) if blend_name(w) in r else 'base' if w == 0.0 else 'finetuned'
    ft, other = res['dni']['finetune'], res['dni'].get('other', 'base')
    who = (f'the {other}' if w == 0.0 else f'its checkpoint {ft}' if name == 'finetuned' else ft if w == 1.0
           else f'the exported blend {w:g}')
    amount = chosen_amount(res['dni'])
    sharp = chosen_name(blend_name(w), res['dni'], amount)
    if amount and sharp in r:
        name, who = sharp, f'{who} with the unsharp mask at {amount:g} (sigma {chosen_sigma(res["dni"]):g} px)'
    psnr = (f'PSNR {r[name]["psnr"]:.2f} vs base {r["base"]["psnr"]:.2f} vs bicubic {r["bicubic"]["psnr"]:.2f}, '
            if real['paired'] else '')
    return (f'; on the real LQ footage ({real["frames"]} frames, {who}): {psnr}'
            f'NIQE {r[name]["niqe"]:.2f} vs base {r["base"]["niqe"]:.2f}')
