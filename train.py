#!/usr/bin/env python
"""Train or finetune Real-ESRNet / Real-ESRGAN from a BasicSR-style options file.

    python train.py --yml_path options/finetune_realesrgan_x4plus.yml [--auto_resume] [--debug] \\
        [-o train.total_iter=1000 -o path.experiments_root=/tmp/x ...]

Several GPUs: python train.py --gpus 0,1,2,3 --yml_path ... (checks the GPUs and the options, then starts
python -m paddle.distributed.launch --gpus 0,1,2,3 train.py --yml_path ...; several CPU processes:
python -m paddle.distributed.launch --nproc_per_node 2 train.py ...).

The command line lives in ``training/train_cli.py`` (``realesrgan-paddle train`` installed).
"""
import sys

from realesrgan_paddle.training.train_cli import launch_on_gpus, main, parse_args, weight_problems  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
