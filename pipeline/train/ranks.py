"""The one command's training on several CPU processes (``--train-procs``): ranks of ``train.py``, data parallel.

Paddle's CPU kernels outside the matrix multiplies run on one thread, so one trainer uses about 1.15 of two cores.
Two processes, each with half of every batch and at least two math threads (``rank_threads``), sum their gradients
after each backward pass (``paddle.DataParallel`` over gloo, as ``python -m paddle.distributed.launch
--nproc_per_node 2 train.py`` runs it): the same batch size, the same losses in expectation, other random crops.
The ranks are started here, not by Paddle's launcher: both are this process's children and end with it, their
ports are free ones, and a rank that fails ends the others at once instead of being restarted
(docs/finetune_domain.md, "Several processes").
"""
import socket
import subprocess
import time

from realesrgan_paddle.utils.host_memory import available_memory
from realesrgan_paddle.utils.runtime_env import cpu_count

# the batches a rank takes its share of: the synthetic batch and the extra sources' (training/loss_terms.py)
SOURCES = ('real_lq', 'real_lq_pairs', 'real_pairs')
MIN_ITERS = 100  # below this, a second process's start (a few seconds) is more than it saves
MIN_BUDGET_S = 300  # --budget: the same for a budget under five minutes
RANK_BYTES = 2 << 30  # a rank's peak on the footage recipe: 1.2 GiB (docs/finetune_domain.md, "Several processes")
GRACE_S = 60  # after rank 0 ends well, how long the others may take to end
MIN_RANK_THREADS = 2  # a rank's math threads at least: a rank with one idles while it waits for the other


def _batches(opt):
    """``(where, the section holding it, its key)`` of every batch a rank splits."""
    ds = opt['datasets']
    yield 'datasets.train.batch_size_per_gpu', ds['train'], 'batch_size_per_gpu'
    for k in SOURCES:
        if ds.get(k):
            yield f'datasets.{k}.batch_size', ds[k], 'batch_size'


def batch_sizes(opt):
    """``{where: batch size}`` of every batch a rank splits."""
    return {where: int(section.get(key) or 1) for where, section, key in _batches(opt)}


def why_one(opt, device, iters, cores=None, memory=None, budget_s=None):
    """Why ``--train-procs auto`` trains on one process, or None when it takes two (``iters`` None: set by a
    ``budget_s`` seconds budget)."""
    cores = cpu_count() if cores is None else cores
    memory = available_memory() if memory is None else memory
    odd = [k for k, n in batch_sizes(opt).items() if n % 2]
    reasons = [(device != 'cpu', f'device {device}'), (cores < 2, f'{cores} CPU core(s)'),
               (iters is not None and iters < MIN_ITERS, f'{iters} iterations (under {MIN_ITERS})'),
               (budget_s is not None and budget_s < MIN_BUDGET_S,
                f'a {budget_s or 0:g} s budget (under {MIN_BUDGET_S})'),
               (opt['network_g'].get('type') == 'LowBandRRDBNet',
                'the x4plus recipe (its frozen trunk runs on the predictor in one process)'),
               (bool(odd), f'{", ".join(odd)} odd'),
               (memory < 2 * RANK_BYTES, f'{memory / 2 ** 30:.1f} GiB free (under {2 * RANK_BYTES >> 30})')]
    return next((text for bad, text in reasons if bad), None)


def procs_for(want, opt, device, iters, budget_s=None):
    """``(processes, why one)``: ``want`` (``'auto'`` or a number) for these options."""
    if want != 'auto':
        n = int(want)
        odd = [k for k, b in batch_sizes(opt).items() if b % n]
        if n > 1 and (device != 'cpu' or odd):
            raise ValueError(f'--train-procs {n}: ' + (f'CPU processes only, not device {device}' if device != 'cpu'
                             else f'{", ".join(odd)} not divisible by {n}'))
        return n, None
    why = why_one(opt, device, iters, budget_s=budget_s)
    return (1, f'one training process: {why}') if why else (2, None)


def split_batches(opt, procs):
    """``opt`` with each batch divided among ``procs`` ranks (the options file the ranks read)."""
    for _, section, key in _batches(opt):
        section[key] = int(section.get(key) or 1) // procs
    return opt


def free_ports(n):
    """``n`` distinct TCP ports free on 127.0.0.1 (bound together, then released)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(('127.0.0.1', 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def rank_threads(procs, cores=None):
    """Each rank's math threads (``OMP_NUM_THREADS``): its share of the cores, at least ``MIN_RANK_THREADS``, at
    most every core. Two ranks of one thread each kept 1.57 of two cores busy (each waits for the other at every
    gradient sum); of two threads each, 1.75, and the G/D steps took 55.3 s against 63.5 s for 40 iterations of the
    footage recipe, twice each, interleaved (docs/experiments/perception_runs.md, "Two threads a rank")."""
    cores = cpu_count() if cores is None else cores
    return max(1, min(cores, max(MIN_RANK_THREADS, cores // max(1, procs))))


def rank_env(rank, procs, ports, threads):
    """The environment ``paddle.distributed.init_parallel_env`` reads on CPU, for rank ``rank`` of ``procs``;
    ``ports``: the master's, then one per rank."""
    ends = [f'127.0.0.1:{p}' for p in ports[1:procs + 1]]
    return {'PADDLE_DISTRI_BACKEND': 'gloo', 'PADDLE_TRAINER_ID': str(rank), 'PADDLE_TRAINERS_NUM': str(procs),
            'PADDLE_TRAINER_ENDPOINTS': ','.join(ends), 'PADDLE_CURRENT_ENDPOINT': ends[rank],
            'PADDLE_MASTER': f'127.0.0.1:{ports[0]}', 'PADDLE_LOCAL_RANK': str(rank),
            'PADDLE_RANK_IN_NODE': str(rank), 'PADDLE_LOCAL_SIZE': str(procs), 'PADDLE_NNODES': '1',
            'OMP_NUM_THREADS': str(threads)}


def run_ranks(cmd, procs, env, log_to, log_dir):
    """``cmd`` as ``procs`` ranks: rank 0 writes to ``log_to``, rank k to ``log_dir/rank<k>.log``; the first
    failing rank's exit code (the others ended then), else 0."""
    ports, threads = free_ports(procs + 1), rank_threads(procs)
    kids, files = [], []
    try:
        for r in range(procs):
            out = log_to
            if r:
                out = open(log_dir / f'rank{r}.log', 'w')
                files.append(out)
            mine = {**env, **rank_env(r, procs, ports, threads)}
            kids.append(subprocess.Popen(cmd, stdout=out, stderr=out, env=mine))
        return wait_ranks(kids)
    finally:
        stop(kids)
        for f in files:
            f.close()


def wait_ranks(kids, poll=0.2, grace=GRACE_S):
    """Wait for the ranks: the first non-zero exit code at once; 0 when all end well (the others ``grace``
    seconds after rank 0, then ended: 1)."""
    done_at = None
    while True:
        codes = [k.poll() for k in kids]
        bad = [c for c in codes if c not in (None, 0)]
        if bad:
            return bad[0]
        if all(c == 0 for c in codes):
            return 0
        if codes[0] == 0:
            done_at = done_at or time.monotonic()
            if time.monotonic() - done_at > grace:
                return 1
        time.sleep(poll)


def stop(kids, grace=10):
    """End the ranks still running: SIGTERM, then SIGKILL after ``grace`` seconds."""
    alive = [k for k in kids if k.poll() is None]
    for k in alive:
        k.terminate()
    t = time.monotonic() + grace
    for k in alive:
        try:
            k.wait(max(0.1, t - time.monotonic()))
        except subprocess.TimeoutExpired:
            k.kill()
            k.wait()


def train_args(procs, opt_path):
    """The arguments after ``python`` that train as the stage did (``procs`` ranks by Paddle's launcher)."""
    launch = ['-m', 'paddle.distributed.launch', '--nproc_per_node', procs] if procs > 1 else []
    return [*launch, 'train.py', '--yml_path', opt_path]

