"""tools/finetune_domain.py with an RRDBNet (x4plus-shaped) base on the CPU, offline: the low-band corrector
recipe (LowBandRRDBNet), 2 checkpoints, the strength sweep, checkpoints and blends on the predictor, and the
export of the rule's point.
A tiny RRDBNet stands in for x4plus; the model cache is the test's own (the teacher is exported there)."""
import json

import pytest

from tests.pipeline.finetune_run import TINY, run
from tests.cli_checks import a_line


def _conv_first(f):
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
    return pick_params(load_state_file(f))[0]['conv_first.weight']


@pytest.fixture(scope='module')
def tiny_rrdb(tmp_path_factory):
    from tests.nets import rrdb, save_tiny
    return save_tiny(tmp_path_factory.mktemp('rrdb') / 'tiny_rrdb.pdparams', rrdb())


@pytest.mark.slow(seconds=14)
def test_x4plus_path_end_to_end_offline(clips, tiny_rrdb, tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))  # no VGG19 / netD: offline
    work = tmp_path / 'work'
    res = run(clips, work, '--base', tiny_rrdb, '--iters', 4, *TINY, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    a_line(res.stderr, 'note:', 'VGG19', 'RealESRGAN_x4plus_netD')  # what is missing, by name
    ft = json.loads((work / 'state.json').read_text())['stages']['finetune']['info']
    assert ft['template'] == 'finetune_domain_x4plus_lowband_cpu.yml' and ft['checkpoints'] == [2, 4]
    log = (work / 'finetune' / 'experiments' / 'finetune' / ft['log']).read_text()
    assert 'network_g LowBandRRDBNet' in log and 'teacher: frozen' in log  # the trunk on Paddle Inference
    metrics = json.loads((work / 'evaluate' / 'metrics.json').read_text())
    assert metrics['dni']['weights'] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert set(metrics['dni']['summary']) == {f'dni_{w:.2f}' for w in metrics['dni']['weights']}
    assert all('trade_fails' in t for t in metrics['dni']['table'].values())
    # the checkpoints add their corrector to the base's trunk, run once a frame (evaluation.shared_trunk)
    assert metrics['backends']['base'] == 'predictor'
    assert {metrics['backends'][c] for c in ('iter_2', 'iter_4')} == {'predictor trunk + dynamic corrector'}
    # the export is the rule's point: the base's frozen trunk, and for w > 0 the checkpoint's corrector at strength w
    w = metrics['dni']['chosen']
    assert _conv_first(work / 'export' / 'model.pdparams') == pytest.approx(_conv_first(tiny_rrdb), abs=1e-6)
    if w > 0:
        from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
        assert float(pick_params(load_state_file(work / 'export' / 'model.pdparams'))[0]['strength'][0]) == \
            pytest.approx(w)
    assert (work / 'export' / 'inference.pdmodel').is_file() and (work / 'report.md').is_file()
