"""Shared by the trainer tests: the tiny smoke recipe and a real-photo batch for one training step."""
from tests.user_path import ROOT

SMOKE = ROOT / 'options' / 'tiny_smoke.yml'


def _batch(photo_batch):
    """``(lq, gt, gt)``: two 64x64 real photo crops and their 4x area-averaged low-resolution copies."""
    import paddle
    gt = photo_batch(2, 64)
    lq = paddle.nn.functional.avg_pool2d(gt, 4)
    return lq, gt, gt
