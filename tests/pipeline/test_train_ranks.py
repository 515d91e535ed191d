"""The one command's training on several CPU processes (pipeline/train/ranks.py): when ``--train-procs auto``
takes two, how the batches are split, and the ranks' start and end: every rank with its own endpoint, and a rank
that fails ends the others at once. The one command with ``--train-procs 2`` end to end is in
test_finetune_every_family.py (its photos and tiny networks)."""
import json
import os
import sys

import pytest

from realesrgan_paddle.pipeline.train import ranks


def _opt(batch=4, real_lq=2, g='SRVGGNetCompact'):
    return {'network_g': {'type': g}, 'datasets': {'train': {'batch_size_per_gpu': batch},
                                                   'real_lq': {'batch_size': real_lq} if real_lq else None}}


def test_auto_takes_two_processes_where_they_pay():
    roomy = dict(cores=2, memory=16 << 30)
    assert ranks.why_one(_opt(), 'cpu', 600, **roomy) is None
    assert ranks.why_one(_opt(), 'cpu', None, budget_s=1800, **roomy) is None  # --budget: iterations unknown yet
    assert ranks.why_one(_opt(), 'cpu', None, budget_s=15, **roomy) == 'a 15 s budget (under 300)'
    assert ranks.why_one(_opt(), 'gpu', 600, **roomy) == 'device gpu'
    assert ranks.why_one(_opt(), 'cpu', 600, cores=1, memory=16 << 30) == '1 CPU core(s)'
    assert ranks.why_one(_opt(), 'cpu', 99, **roomy).startswith('99 iterations')
    assert 'x4plus recipe' in ranks.why_one(_opt(g='LowBandRRDBNet'), 'cpu', 600, **roomy)
    assert ranks.why_one(_opt(real_lq=3), 'cpu', 600, **roomy) == 'datasets.real_lq.batch_size odd'
    assert ranks.why_one(_opt(), 'cpu', 600, cores=2, memory=3 << 30) == '3.0 GiB free (under 4)'


def test_the_number_given_is_taken_or_refused_in_one_line():
    assert ranks.procs_for('1', _opt(), 'gpu', 5) == (1, None)
    assert ranks.procs_for('2', _opt(), 'cpu', 5) == (2, None)  # asked for: even a short run
    with pytest.raises(ValueError, match=r'--train-procs 3: datasets.train.batch_size_per_gpu, '
                                         r'datasets.real_lq.batch_size not divisible by 3'):
        ranks.procs_for('3', _opt(), 'cpu', 600)
    with pytest.raises(ValueError, match='CPU processes only, not device gpu'):
        ranks.procs_for('2', _opt(), 'gpu', 600)


def test_every_batch_is_split_among_the_ranks():
    opt = ranks.split_batches(_opt(batch=4, real_lq=2), 2)
    assert opt['datasets']['train']['batch_size_per_gpu'] == 2 and opt['datasets']['real_lq']['batch_size'] == 1
    assert ranks.batch_sizes(_opt(real_lq=None)) == {'datasets.train.batch_size_per_gpu': 4}


# each rank writes what it was given, then: rank 0 sleeps (SLEEP) or ends; rank 1 ends with EXIT
RANK = """
import json, os, sys, time
keys = ('PADDLE_TRAINER_ID', 'PADDLE_TRAINERS_NUM', 'PADDLE_TRAINER_ENDPOINTS', 'PADDLE_CURRENT_ENDPOINT',
        'PADDLE_MASTER', 'PADDLE_DISTRI_BACKEND', 'OMP_NUM_THREADS', 'RESR_PARENT_PID')
r = os.environ['PADDLE_TRAINER_ID']
mine = {'pid': os.getpid(), **{k: os.environ.get(k) for k in keys}}
open(sys.argv[1] + '/env' + r + '.json', 'w').write(json.dumps(mine))
print('rank', r, 'says hello', flush=True)
if r == '0':
    time.sleep(float(sys.argv[2]))
    open(sys.argv[1] + '/slept', 'w').close()
sys.exit(0 if r == '0' else int(sys.argv[3]))
"""


def _ranks(tmp_path, sleep, exit_code):
    cmd = [sys.executable, '-c', RANK, str(tmp_path), str(sleep), str(exit_code)]
    with open(tmp_path / 'rank0.log', 'w') as log0:
        return ranks.run_ranks(cmd, 2, {'PATH': '', 'RESR_PARENT_PID': '1234'}, log0, tmp_path)


def test_each_rank_gets_two_math_threads_or_its_share_of_the_cores():
    # two ranks on two cores: two threads each (one idles while it waits for the other's gradients)
    assert [ranks.rank_threads(2, c) for c in (1, 2, 3, 4, 8, 16)] == [1, 2, 2, 2, 4, 8]
    assert [ranks.rank_threads(p, 8) for p in (1, 2, 3, 4, 8)] == [8, 4, 2, 2, 2]
    assert ranks.rank_threads(0, 2) == 2


def test_the_ranks_get_their_own_endpoints_and_logs(tmp_path):
    assert _ranks(tmp_path, 0, 0) == 0 and (tmp_path / 'slept').is_file()
    env = [json.loads((tmp_path / f'env{r}.json').read_text()) for r in (0, 1)]
    ends = env[0]['PADDLE_TRAINER_ENDPOINTS'].split(',')
    assert [e['PADDLE_TRAINER_ID'] for e in env] == ['0', '1'] and {e['PADDLE_TRAINERS_NUM'] for e in env} == {'2'}
    assert [e['PADDLE_CURRENT_ENDPOINT'] for e in env] == ends and len(set(ends + [env[0]['PADDLE_MASTER']])) == 3
    assert env[1]['PADDLE_TRAINER_ENDPOINTS'] == env[0]['PADDLE_TRAINER_ENDPOINTS']
    assert {e['PADDLE_DISTRI_BACKEND'] for e in env} == {'gloo'} and {e['RESR_PARENT_PID'] for e in env} == {'1234'}
    assert {e['OMP_NUM_THREADS'] for e in env} == {str(ranks.rank_threads(2))}
    assert (tmp_path / 'rank0.log').read_text().strip() == 'rank 0 says hello'
    assert (tmp_path / 'rank1.log').read_text().strip() == 'rank 1 says hello'


def test_a_failing_rank_ends_the_others_at_once(tmp_path):
    assert _ranks(tmp_path, 120, 3) == 3
    assert not (tmp_path / 'slept').exists()  # rank 0 was ended in its 120 s sleep, not waited for
    pid = json.loads((tmp_path / 'env0.json').read_text())['pid']
    with pytest.raises(ProcessLookupError):  # rank 0 ended and reaped
        os.kill(pid, 0)
