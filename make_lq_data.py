#!/usr/bin/env python
"""Make reproducible low-quality copies of an HR folder (validation / paired finetune data).

    python make_lq_data.py --input HR_DIR --output LQ_DIR --scale 4 --seed S [--mode realesrgan|bicubic]

The command lives in ``data/make_lq.py`` (``realesrgan-paddle degrade`` installed); see its docstring.
"""
import sys

from realesrgan_paddle.data.make_lq import image_seed, main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
