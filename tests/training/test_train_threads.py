"""A training leaves no background thread behind: the codec cache builds the next generation of LQ images on a
daemon thread, and a daemon thread still inside cv2, paddle or a codec call when the interpreter exits aborts
the process (a 2-iteration run ended with exit -6 after its last checkpoint)."""
import threading
from pathlib import Path

import cv2

from realesrgan_paddle.training.option_file import load_options
from realesrgan_paddle.training.trainer import train

ROOT = Path(__file__).resolve().parents[2]


def _frames(folder, n=24):
    """``n`` 128 px frames of a pan over the committed photo crops (one clip per photo)."""
    folder.mkdir()
    srcs = sorted((ROOT / 'tests/data/images/train_hr').glob('*.png'))
    for i in range(n):
        img = cv2.imread(str(srcs[i % len(srcs)]))
        cv2.imwrite(str(folder / f'{srcs[i % len(srcs)].stem}_{i:03d}.png'), cv2.resize(img, (128, 128)))


def test_codec_training_ends_its_threads(tmp_path):
    _frames(tmp_path / 'hr')
    opt = load_options(ROOT / 'options/tiny_smoke.yml', [
        f'path.experiments_root={tmp_path / "exp"}', f'datasets.train.dataroot_gt={tmp_path / "hr"}',
        'train.total_iter=1', 'val=null', 'datasets.val=null', 'degradation.codec_prob=1.0',
        'degradation.codec_reuse=1', 'degradation.codec_preset=ultrafast'], [])
    summary = train(opt)
    assert summary['iter'] == 1
    left = [t.name for t in threading.enumerate() if t.name.startswith(('codec-cache-', 'resr-data'))]
    assert left == []  # generation 1 was being built when the loop ended: stopped and joined
