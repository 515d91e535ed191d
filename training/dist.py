"""paddle.distributed helpers: works for 1 process, N CPU processes (--nproc_per_node) or N GPUs."""
import os
import sys

import paddle
import paddle.distributed as dist

from realesrgan_paddle.utils.cli_parser import without_flag


def world_info():
    """(rank, world_size) from the launcher's environment, without initialising anything."""
    rank = int(os.environ.get('PADDLE_TRAINER_ID', os.environ.get('RANK', 0)))
    world = int(os.environ.get('PADDLE_TRAINERS_NUM', os.environ.get('WORLD_SIZE', 1)))
    return rank, world


def init_dist():
    """Initialise the parallel env when launched with more than one process; returns (rank, world)."""
    rank, world = world_info()
    if world > 1:
        dist.init_parallel_env()
        rank, world = dist.get_rank(), dist.get_world_size()
    return rank, world


def barrier(world):
    if world > 1:
        dist.barrier()


GPU_BUILD = 'the GPU build: README, "NVIDIA GPU"'  # where a CPU-only Paddle's user is sent


class DeviceUnavailable(RuntimeError):
    """``device: gpu`` asked of a Paddle build or machine without a CUDA device."""


def gpu_available():
    """Whether this Paddle build has CUDA and the machine a CUDA device (imports paddle)."""
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


def parse_gpu_ids(text):
    """``'0,1,2,3'`` -> ``[0, 1, 2, 3]``; ``ValueError`` naming the problem (not integers, negative, repeated)."""
    parts = [x.strip() for x in str(text).split(',')]
    if not all(x.isdigit() for x in parts):
        raise ValueError(f'--gpus {text}: give GPU ids separated by commas, e.g. --gpus 0,1,2,3')
    ids = [int(x) for x in parts]
    if len(set(ids)) != len(ids):
        raise ValueError(f'--gpus {text}: an id is repeated')
    return ids


def gpus_problem(ids, compiled_with_cuda, count):
    """Why ``--gpus ids`` cannot run on a Paddle build with (or without) CUDA and ``count`` visible devices, or
    None. Paddle's own launcher stops with a traceback in these cases, before train.py runs."""
    given = ','.join(map(str, ids))
    if not compiled_with_cuda:
        return (f'--gpus {given}: this Paddle build has no CUDA ({GPU_BUILD}); several CPU processes: '
                'python -m paddle.distributed.launch --nproc_per_node N train.py ...')
    missing = [i for i in ids if i >= count]
    if missing:
        seen = f'ids 0-{count - 1}' if count else 'none'
        return f'--gpus {given}: GPU {missing[0]} is not visible ({count} GPU(s) visible: {seen}; CUDA_VISIBLE_DEVICES?)'
    return None


def launcher_command(ids, script, argv):
    """The command that starts one ``script`` process per GPU: ``python -m paddle.distributed.launch --gpus
    IDS script ARGV`` with any ``--gpus`` taken out of ``argv``."""
    rest = without_flag(argv, '--gpus')
    return [sys.executable, '-m', 'paddle.distributed.launch', '--gpus', ','.join(map(str, ids)), str(script), *rest]


def pick_device(want='auto'):
    """'gpu' when Paddle has CUDA and a device, else 'cpu'; 'gpu' requested without one is ``DeviceUnavailable``."""
    has_gpu = gpu_available()
    if want == 'gpu' and not has_gpu:
        raise DeviceUnavailable(f'device: gpu was requested but this Paddle build has no CUDA device ({GPU_BUILD}); '
                                'use device: cpu')
    dev = 'gpu' if (want in ('auto', 'gpu') and has_gpu) else 'cpu'
    if dev == 'gpu':
        _, world = world_info()
        if world > 1:  # the GPU the launcher gave this process
            try:
                local = paddle.distributed.ParallelEnv().device_id
            except AttributeError:
                local = int(os.environ.get('FLAGS_selected_gpus', '0').split(',')[0])
            paddle.set_device(f'gpu:{local}')
        else:
            paddle.set_device('gpu')
    else:
        paddle.set_device('cpu')
    return dev
