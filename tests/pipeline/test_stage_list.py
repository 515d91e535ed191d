"""pipeline/stage_list.py: the one list of the one command's stages. A stage added to a list is run, skipped when
done with the same settings, run again with its later stages when its settings change or its folder is gone,
stopped after, and followed by its ``after``; the real list's names are the --stop-after choices, and every stage
gives the command the report shows."""
import json

from realesrgan_paddle.pipeline.context import Context, Settings
from realesrgan_paddle.pipeline.pipeline import run_stages
from realesrgan_paddle.pipeline.stage_list import NAMES, STAGES, Stage
from realesrgan_paddle.pipeline.state import WorkState
from realesrgan_paddle.tools.finetune_domain import parse_args


def _toy(cfg, log):
    """Three stages; each writes its settings and what the stage before it wrote, and logs its run."""
    def make(name, prev):
        def run(ctx, part):
            log.append(name)
            before = (ctx.out(prev) / 'out.json').read_text() if prev else ''
            (part / 'out.json').write_text(json.dumps([cfg[name], before]))
            return {'value': cfg[name]}
        return Stage(name, lambda ctx: {'value': cfg[name]}, run, lambda ctx: ctx.command(f'{name}.py'),
                     after=lambda ctx: log.append(f'after {name}'))
    return [make('a', None), make('b', 'a'), make('c', 'b')]


def test_stages_run_skip_and_rerun_from_a_changed_one(tmp_path):
    cfg, log = {'a': 1, 'b': 2, 'c': 3}, []
    stages = _toy(cfg, log)
    ctx = Context(Settings(videos=[], work=tmp_path), WorkState(tmp_path, [s.name for s in stages]))
    assert not run_stages(ctx, stages)
    assert log == ['a', 'after a', 'b', 'after b', 'c', 'after c']
    assert json.loads((tmp_path / 'c' / 'out.json').read_text())[0] == 3
    log.clear()
    again = Context(ctx.s, WorkState(tmp_path, [s.name for s in stages]))  # a re-run reads state.json
    assert not run_stages(again, stages) and log == []
    cfg['b'] = 20  # b and every later stage run again; a is kept
    assert not run_stages(again, stages) and log == ['b', 'after b', 'c', 'after c']
    assert json.loads(json.loads((tmp_path / 'c' / 'out.json').read_text())[1])[0] == 20
    log.clear()
    (tmp_path / 'c' / 'out.json').unlink()
    (tmp_path / 'c').rmdir()
    assert not run_stages(again, stages) and log == ['c', 'after c']
    log.clear()
    cfg['a'] = 10
    assert run_stages(again, stages, stop_after='a') and log == ['a', 'after a']
    assert not (tmp_path / 'b').exists() and again.state.record('b') is None  # forgotten, not run
    assert again.state.record('a')['info'] == {'value': 10} and again.state.record('a')['seconds'] >= 0


def test_the_list_gives_the_stop_after_choices_and_each_stage_a_command(tmp_path):
    assert NAMES == ('keyframes', 'split', 'degrade', 'finetune', 'evaluate', 'export', 'report')
    assert parse_args(['--hr', 'v', '--work', 'w', '--stop-after', 'degrade']).stop_after == 'degrade'
    argv = ['python', 'tools/finetune_domain.py', '--hr', 'clips', '--work', str(tmp_path), '--stop-after', 'split']
    ctx = Context(Settings(videos=['clips'], work=tmp_path, compare={'x4': 'realesrgan-x4plus'}),
                  WorkState(tmp_path, NAMES), argv)
    commands = {s.name: s.command(ctx) for s in STAGES}
    assert all(c.startswith('python ') for c in commands.values())
    assert 'tools/extract_keyframes.py --input clips' in commands['keyframes']
    assert commands['split'] == f'python tools/finetune_domain.py --hr clips --work {tmp_path} --stop-after split'
    assert commands['report'].endswith('--stop-after report') and commands['report'].count('--stop-after') == 1
    assert commands['finetune'] == f'python train.py --yml_path {tmp_path / "finetune" / "options.yml"}'
    ctx.state.record = lambda name: {'info': {'procs': 2}} if name == 'finetune' else None  # trained in 2 ranks
    assert STAGES[NAMES.index('finetune')].command(ctx) == ('python -m paddle.distributed.launch --nproc_per_node 2 '
                                                             f'train.py --yml_path {tmp_path / "finetune" / "options.yml"}')
    assert 'x4=realesrgan-x4plus' in commands['evaluate'] and 'make_lq_data.py' in commands['degrade']
    assert [s.name for s in STAGES if s.after] == ['report']
