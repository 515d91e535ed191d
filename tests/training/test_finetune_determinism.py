"""A short finetune is deterministic on the CPU: tiny_smoke.yml (seed 0, second-order degradation of real photo
crops, L1 + GAN, EMA) as a finetune of saved tiny weights, 2 iterations through the real CLI, twice: the generator
and discriminator files are byte for byte equal, and the generator moved from the weights it started from.
docs/experiments/reliability_notes.md, "Outputs before and after the store, the rooms and the lazy registry",
compares such runs across trees."""
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np

from realesrgan_paddle.checkpoint_io.state_file import load_state_file
from tests.nets import save_tiny, srvgg

ROOT = Path(__file__).resolve().parents[2]


def finetune(exp_root, pretrained):
    cmd = [sys.executable, 'train.py', '--yml_path', 'options/tiny_smoke.yml',
           '-o', f'path.experiments_root={exp_root}', '-o', f'path.pretrain_network_g={pretrained}', '-o', 'train.total_iter=2', '-o', 'val.val_freq=100',
           '-o', 'logger.save_checkpoint_freq=2', '-o', 'logger.use_tb_logger=false']
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return exp_root / 'tiny_smoke' / 'models'


def test_a_short_finetune_run_twice_writes_the_same_bytes(tmp_path):
    pretrained = save_tiny(tmp_path / 'base.pdparams', srvgg(), seed=3)
    a, b = finetune(tmp_path / 'a', pretrained), finetune(tmp_path / 'b', pretrained)
    for name in ('net_g_2.pdparams', 'net_d_2.pdparams'):
        digests = [hashlib.sha256((run / name).read_bytes()).hexdigest() for run in (a, b)]
        assert digests[0] == digests[1], name
    start, tuned = load_state_file(pretrained)['params'], load_state_file(a / 'net_g_2.pdparams')['params']
    assert max(float(np.abs(tuned[k] - start[k]).max()) for k in start) > 1e-6
