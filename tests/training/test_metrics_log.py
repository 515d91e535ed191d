"""metrics.jsonl: the trainer's numbers as data (training.metrics_log), written by a real training, read
back, resumed without duplicate iterations, and read past a truncated last line."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from realesrgan_paddle.training.checkpoints import CheckpointManager
from realesrgan_paddle.training.metrics_log import FILE_NAME, MetricsLog, read_metrics, series

ROOT = Path(__file__).resolve().parents[2]
SMOKE = 'options/tiny_smoke.yml'


def _train(exp_root, *extra):
    cmd = [sys.executable, 'train.py', '--yml_path', SMOKE, '-o', f'path.experiments_root={exp_root}',
           '-o', 'logger.print_freq=1', '-o', 'logger.use_tb_logger=false', *extra]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=200)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stderr


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


def test_records_read_back_with_losses_lr_and_validation(tmp_path):
    log = MetricsLog(tmp_path)
    log.write('train', 1, 0, lr=[1e-4, 1e-4], losses={'l_g_pix': 0.5, 'l_d': float('nan')}, it_per_s=2.0)
    log.write('train', 2, 0, lr=[1e-4, 1e-4], losses={'l_g_pix': 0.25}, it_per_s=2.5)
    log.write('val', 2, 0, n_images=3, metrics={'psnr': 24.5})
    log.close()
    recs = read_metrics(tmp_path / FILE_NAME)
    assert [(r['kind'], r['iter']) for r in recs] == [('train', 1), ('train', 2), ('val', 2)]
    assert recs[0]['losses'] == {'l_g_pix': 0.5, 'l_d': None}  # non-finite is null: strict JSON
    assert recs[0]['lr'] == [1e-4, 1e-4] and recs[2]['n_images'] == 3 and recs[0]['time'] <= recs[2]['time']
    assert series(recs) == ({'l_g_pix': [(1, 0.5), (2, 0.25)]}, {'psnr': [(2, 24.5)]})
    assert read_metrics(tmp_path / 'absent.jsonl') == []


def test_truncated_last_line_is_skipped_and_dropped_on_resume(tmp_path):
    log = MetricsLog(tmp_path)
    for it in (1, 2, 3):
        log.write('train', it, 0, lr=[1e-4], losses={'l_g_pix': 1.0 / it}, it_per_s=1.0)
    log.close()
    path = tmp_path / FILE_NAME
    with open(path, 'a') as fh:
        fh.write('{"kind": "train", "iter": 4, "epoch": 0, "los')  # a kill in the middle of a write
    assert [r['iter'] for r in read_metrics(path)] == [1, 2, 3]
    log = MetricsLog(tmp_path, resume_iter=3)  # resuming must not glue the next record to the fragment
    log.write('train', 4, 0, lr=[1e-4], losses={'l_g_pix': 0.2}, it_per_s=1.0)
    log.close()
    assert [r['iter'] for r in _lines(path)] == [1, 2, 3, 4]


def test_resume_drops_the_records_after_the_checkpoint(tmp_path):
    log = MetricsLog(tmp_path)
    for it in range(1, 7):
        log.write('train', it, 0, lr=[1e-4], losses={'l_g_pix': 1.0}, it_per_s=1.0)
    log.write('val', 4, 0, n_images=2, metrics={'psnr': 20.0})
    log.close()
    log = MetricsLog(tmp_path, resume_iter=4)  # killed after iteration 6, the last checkpoint is 4
    for it in (5, 6):
        log.write('train', it, 0, lr=[1e-4], losses={'l_g_pix': 2.0}, it_per_s=1.0)
    log.write('val', 6, 0, n_images=2, metrics={'psnr': 21.0})
    log.close()
    recs = _lines(tmp_path / FILE_NAME)
    train_iters = [r['iter'] for r in recs if r['kind'] == 'train']
    assert train_iters == [1, 2, 3, 4, 5, 6]
    assert [r['losses']['l_g_pix'] for r in recs if r['kind'] == 'train'][4:] == [2.0, 2.0]  # the redone ones
    assert [(r['iter'], r['metrics']['psnr']) for r in recs if r['kind'] == 'val'] == [(4, 20.0), (6, 21.0)]


def test_reader_keeps_the_last_record_of_an_iteration(tmp_path):
    """A run killed after its final checkpoint validates that checkpoint again when resumed."""
    log = MetricsLog(tmp_path)
    log.write('val', 6, 0, n_images=2, metrics={'psnr': 20.0})
    log.close()
    log = MetricsLog(tmp_path, resume_iter=6)
    log.write('val', 6, 0, n_images=2, metrics={'psnr': 20.5})
    log.close()
    assert [r['metrics']['psnr'] for r in read_metrics(tmp_path / FILE_NAME)] == [20.5]


def test_a_fresh_run_does_not_inherit_records(tmp_path):
    old = MetricsLog(tmp_path)
    old.write('train', 9, 0, lr=[1.0], losses={}, it_per_s=1.0)
    old.close()
    MetricsLog(tmp_path).close()
    assert read_metrics(tmp_path / FILE_NAME) == []


def test_training_writes_the_log_lines_numbers_and_resumes_without_duplicates(tmp_path):
    err = _train(tmp_path, '-o', 'train.total_iter=6', '-o', 'logger.save_checkpoint_freq=4',
                 '-o', 'val.val_freq=3', '-o', 'logger.keep_last=0')
    exp = tmp_path / 'tiny_smoke'
    recs = read_metrics(exp / FILE_NAME)
    train = [r for r in recs if r['kind'] == 'train']
    assert [r['iter'] for r in train] == [1, 2, 3, 4, 5, 6]
    # the same numbers as the human log lines (printed to 4 significant digits)
    for r in train:
        m = re.search(rf'iter\s+{r["iter"]}/6\] lr:\(([^)]*)\) [\d.]+ it/s eta \S+ (.*)', err)
        assert m, err[-2000:]
        assert [float(x) for x in m.group(1).split(',')] == pytest.approx(r['lr'], rel=1e-3)
        logged = {k: float(v) for k, v in re.findall(r'(\w+): ([-\d.e+]+)', m.group(2))}
        assert logged == pytest.approx(r['losses'], rel=1e-3) and 'l_g_pix' in logged
    val = [r for r in recs if r['kind'] == 'val']
    assert [r['iter'] for r in val] == [3, 6] and all(set(r['metrics']) == {'psnr', 'ssim'} for r in val)
    assert [r['metrics']['psnr'] for r in val] == pytest.approx(
        [float(x) for x in re.findall(r'validation iter \d+ on 2 images: psnr ([\d.]+)', err)], abs=1e-4)
    # a kill after iteration 6's records but before its checkpoint, in the middle of a write
    mgr = CheckpointManager(exp)
    assert sorted(mgr.net_files('g')) == [4, 6] and mgr.net_files('d').keys() == mgr.net_files('g').keys()
    for p in (mgr.state_path(6), mgr.net_path('g', 6), mgr.net_path('d', 6)):
        p.unlink()
    with open(exp / FILE_NAME, 'a') as fh:
        fh.write('{"kind": "train", "iter": 7, "ep')
    before = {r['iter']: r['time'] for r in train}
    _train(tmp_path, '--auto_resume', '-o', 'train.total_iter=6', '-o', 'logger.save_checkpoint_freq=4',
           '-o', 'val.val_freq=3', '-o', 'logger.keep_last=0')
    lines = _lines(exp / FILE_NAME)  # every line parses: the fragment is gone
    assert [r['iter'] for r in lines if r['kind'] == 'train'] == [1, 2, 3, 4, 5, 6]
    assert [r['iter'] for r in lines if r['kind'] == 'val'] == [3, 6]
    again = {r['iter']: r['time'] for r in lines if r['kind'] == 'train'}
    assert all(again[i] == before[i] for i in (1, 2, 3, 4)) and all(again[i] > before[6] for i in (5, 6))
