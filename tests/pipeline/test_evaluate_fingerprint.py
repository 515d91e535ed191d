"""The evaluate stage's settings fingerprint holds the IQA metrics whose weights are on disk
(pipeline/stages/judge.py): LPIPS/DISTS weights that appear after a run make a re-run score the stage again,
with them, instead of keeping a stage scored without LPIPS."""
from realesrgan_paddle.models import zoo
from realesrgan_paddle.pipeline.stages import judge as E
from realesrgan_paddle.pipeline.context import Context, Settings
from realesrgan_paddle.pipeline.pipeline import run_stages
from realesrgan_paddle.pipeline.stage_list import Stage
from realesrgan_paddle.pipeline.state import WorkState
from tests.nets import SRVGG, save_tiny


def _put(*names):
    """Files under the zoo's names in the model cache: what the metrics' availability reads (nothing is loaded)."""
    for name in names:
        p = zoo.cached_paths(zoo.get_entry(name))[0]
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b'')


def test_weights_appearing_later_run_the_evaluate_stage_again(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))  # no torchvision files on disk either
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG)
    work = tmp_path / 'work'
    ctx = Context(Settings(videos=[], work=work, base=str(base), quiet=True), WorkState(work, ('evaluate',)))
    runs = []
    stage = Stage('evaluate', E.settings_evaluate, lambda c, part: runs.append(E.settings_evaluate(c)['iqa']) or {},
                  lambda c: '')
    run_stages(ctx, [stage])
    run_stages(ctx, [stage])  # nothing changed: skipped
    assert runs == [[]]
    _put('alexnet', 'lpips')  # LPIPS fetched after the run (tools/download_models.py --names alexnet lpips)
    run_stages(ctx, [stage])
    _put('vgg16', 'dists')
    run_stages(ctx, [stage])
    run_stages(ctx, [stage])
    assert runs == [[], ['lpips'], ['dists', 'lpips']]
