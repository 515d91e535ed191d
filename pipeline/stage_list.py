"""The one command's stages, in order: one ``Stage`` object each, the only list of them.

A stage is its name (its output folder ``WORK/<name>/``, run in ``WORK/<name>.partial/``), ``settings(ctx)`` (the
JSON-able fingerprint hashed with the stage before it's: a change runs this stage and every later one again),
``run(ctx, part)`` (does the work in ``part``, returns the info ``state.json`` records), ``command(ctx)`` (the
command line that reproduces it, in the report's stage table) and ``after(ctx)`` (run once it is committed).
A new stage is one entry in ``STAGES`` and its functions; ``pipeline.pipeline.run_stages`` walks the list.
"""
from dataclasses import dataclass
from typing import Callable

from realesrgan_paddle.utils.cli_parser import without_flag
from realesrgan_paddle.utils.fileio import atomic_write_text

from .inputs import photos as P
from .stages import data as D
from .stages import judge as E
from .stages import finetune as M
from .report.page import build


@dataclass(frozen=True)
class Stage:
    name: str
    settings: Callable  # ctx -> dict, the fingerprint
    run: Callable  # (ctx, part) -> dict, the recorded info
    command: Callable  # ctx -> str, the command that reproduces the stage
    after: Callable = None  # ctx -> None, once the stage's folder is committed


def _own_command(ctx, stop_after):
    """The run's own command line, stopping after ``stop_after``."""
    return ctx.command(*without_flag(list((ctx.argv or [])[1:]), '--stop-after'), '--stop-after', stop_after)


def _command_evaluate(ctx):
    w = ctx.work
    return ctx.command('tools/evaluate.py', '--gt', w / 'split' / 'val_hr', '--lq', w / 'degrade' / 'val_lq',
                       '--models', 'bicubic=bicubic', f'base={ctx.s.base}',
                       f'finetuned={w / "export" / "model.pdparams"}',
                       *[f'{k}={v}' for k, v in ctx.s.compare.items()])


def _run_report(ctx, part):
    return build(ctx, part, {s.name: s.command(ctx) for s in STAGES})


def _publish_report(ctx):
    for name in ('report.md', 'report.html'):
        atomic_write_text(ctx.work / name, (ctx.out('report') / name).read_text())


def report_refused(ctx, refusal):
    """The report of a run whose export was refused (the run then exits 1): in ``WORK/report/`` and
    ``WORK/report.md``/``.html`` as a finished run's, saying why nothing was exported and what to try; the stage
    is not recorded done, so the run that exports writes it again."""
    part = ctx.state.begin('report', 'refused')
    build(ctx, part, {s.name: s.command(ctx) for s in STAGES}, refused=str(refusal))
    ctx.state.publish('report')
    _publish_report(ctx)


def _command_keyframes(ctx):
    """extract_keyframes.py for videos alone; with photos (--hr), the run's own command up to the stage."""
    return _own_command(ctx, 'keyframes') if ctx.s.hr_photos else D.command_keyframes(ctx, ctx.work / 'keyframes')


STAGES = (
    Stage('keyframes', lambda ctx: P.settings_inputs(ctx, D.settings_keyframes),
          lambda ctx, part: P.run_inputs(ctx, part, D.run_keyframes), _command_keyframes),
    Stage('split', D.settings_split, D.run_split, lambda ctx: _own_command(ctx, 'split')),
    Stage('degrade', D.settings_degrade, D.run_degrade,
          lambda ctx: D.command_degrade(ctx, ctx.work / 'degrade' / 'val_lq')),
    Stage('finetune', M.settings_finetune, M.run_finetune, M.command_finetune),
    Stage('evaluate', E.settings_evaluate, E.run_evaluate, _command_evaluate),
    Stage('export', M.settings_export, M.run_export,
          lambda ctx: ctx.command('tools/export_model.py', '--model_path', ctx.work / 'export' / 'model.pdparams',
                                  '--save-inference-dir', ctx.work / 'export')),
    Stage('report', lambda ctx: {'version': 1}, _run_report, lambda ctx: _own_command(ctx, 'report'),
          after=_publish_report),
)
NAMES = tuple(s.name for s in STAGES)
