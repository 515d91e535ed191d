"""tiny_smoke.yml with 2 CPU processes (paddle.distributed.launch --nproc_per_node 2):
each rank trains on different data, yet the generator and discriminator weights stay identical."""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_cpu_run_keeps_ranks_in_sync(tmp_path):
    cmd = [sys.executable, '-m', 'paddle.distributed.launch', '--nproc_per_node', '2',
           '--log_dir', str(tmp_path / 'logs'), 'train.py', '--yml_path', 'options/tiny_smoke.yml',
           '-o', f'path.experiments_root={tmp_path}', '-o', 'train.total_iter=6', '-o', 'logger.print_freq=1',
           '-o', 'val.val_freq=6', '-o', 'logger.save_checkpoint_freq=6']
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=170)
    logs = {r: (tmp_path / 'logs' / f'workerlog.{r}').read_text() for r in (0, 1)}
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:] + logs[1][-2000:]
    exp = tmp_path / 'tiny_smoke'
    s0 = json.loads((exp / 'summary_rank0.json').read_text())
    s1 = json.loads((exp / 'summary_rank1.json').read_text())
    assert s0['world_size'] == 2 and s1['world_size'] == 2 and s0['iter'] == s1['iter'] == 6
    assert s0['net_g_sha256'] == s1['net_g_sha256']
    assert s0['net_d_sha256'] == s1['net_d_sha256']
    # the ranks saw different batches: their per-iteration losses differ
    pat = r'iter\s+3/6\] .*?l_g_pix: ([\d.e+-]+)'
    l0, l1 = (float(re.search(pat, logs[r]).group(1)) for r in (0, 1))
    assert l0 != l1
    # rank 0 alone saved and validated
    assert (exp / 'models' / 'net_g_6.pdparams').is_file()
    assert 'validation iter 6' in logs[0] and 'validation iter' not in logs[1]
