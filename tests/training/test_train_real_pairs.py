"""Real (LQ, HR) pairs as a second batch in the trainer (data/datasets/real_pair_crops.py): aligned crops, the terms in the
step and their weight, the option check, bad pair folders in one line, and a low-band corrector's frozen trunk run on
the pairs once per batch, on the predictor."""
import json
import logging

import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.datasets.real_pair_crops import RealPairCrops
from realesrgan_paddle.models.archs.rrdb.rrdbnet import RRDBNet
from realesrgan_paddle.training.steps import build_model
from realesrgan_paddle.training.option_file import OptionsError, load_options

from tests.nets import rrdb, save_tiny
from tests.training.smoke import SMOKE, _batch
from tests.cli_checks import one_line

LOG = logging.getLogger('test.train.real_pairs')
NET = ['model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null']


@pytest.fixture
def pairs(tmp_path, photo_crops):
    """HR crops 64x64 and their x4 area shrinks, named alike."""
    lq, gt = tmp_path / 'pairs' / 'lq', tmp_path / 'pairs' / 'gt'
    lq.mkdir(parents=True)
    gt.mkdir()
    for i, c in enumerate(photo_crops(3, 64)):
        cv2.imwrite(str(gt / f'f_{i}.png'), c)
        cv2.imwrite(str(lq / f'f_{i}.png'), cv2.resize(c, (16, 16), interpolation=cv2.INTER_AREA))
    return lq, gt


def _pairs(lq, gt, weight=1.0, crop=8, batch=3, losses=None):
    extra = f', "losses": {json.dumps(losses)}' if losses else ''
    return [f'datasets.real_pairs={{"dataroot_lq": "{lq}", "dataroot_gt": "{gt}", "crop": {crop}, '
            f'"batch_size": {batch}, "weight": {weight}{extra}}}']


def test_crops_are_aligned_and_seeded(pairs):
    a, b = RealPairCrops(*pairs, crop=8, batch_size=16, seed=3), RealPairCrops(*pairs, crop=8, batch_size=16, seed=3)
    lq, gt = a.sample()
    assert len(a) == 3 and lq.shape == (16, 3, 8, 8) and gt.shape == (16, 3, 32, 32) and lq.dtype == np.float32
    # each HR crop shrunk x4 (area) is its LQ crop: the windows sit at the same place, flips included
    shrunk = gt.reshape(16, 3, 8, 4, 8, 4).mean(axis=(3, 5))
    assert np.abs(shrunk - lq).max() <= 1 / 255 + 1e-6
    off = np.roll(gt, 4, axis=3).reshape(16, 3, 8, 4, 8, 4).mean(axis=(3, 5))  # one LQ pixel off: far worse
    assert np.abs(off - lq).mean() > 5 * np.abs(shrunk - lq).mean()
    assert all(np.array_equal(x, y) for x, y in zip((lq, gt), b.sample()))
    tl, tg = a.batch()
    assert tl.shape == [16, 3, 8, 8] and tg.shape == [16, 3, 32, 32]


def test_pair_terms_train_with_their_weight(tmp_path, photo_batch, pairs):
    lq, gt, gt_usm = _batch(photo_batch)
    got = {}
    for w in (1.0, 3.0):
        opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, 'train.lowpass_opt.loss_weight=1.0',
                                   *_pairs(*pairs, weight=w)])
        paddle.seed(0)
        model = build_model(opt, LOG)
        before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
        got[w] = model.optimize(lq, gt, gt_usm, 1)
        assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())
    assert got[1.0]['l_g_pix_pair'] > 0 and got[1.0]['l_g_lowpass_pair'] > 0
    for k in ('l_g_pix_pair', 'l_g_lowpass_pair'):  # same seed, same crops, same start: the weight scales the term
        assert got[3.0][k] == pytest.approx(3 * got[1.0][k], rel=1e-4)
    assert got[3.0]['l_g_pix'] == pytest.approx(got[1.0]['l_g_pix'], rel=1e-5)
    # weight 0: the same step as without the pairs (the synthetic batch's terms are untouched by them)
    after = {}
    for extra in ([], _pairs(*pairs, weight=0.0)):
        opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, *extra])
        paddle.seed(0)
        model = build_model(opt, LOG)
        model.optimize(lq, gt, gt_usm, 1)
        after[bool(extra)] = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
    assert model.real_pairs.crop == 8 and model.real_pairs.scale == 4
    assert all(np.allclose(after[True][k], v, atol=1e-7) for k, v in after[False].items())

def test_pair_options_checked(tmp_path, pairs):
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, *_pairs(pairs[0], tmp_path / 'nothing')])
    assert 'datasets.real_pairs.dataroot_gt' in str(e.value)
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, *_pairs(*pairs, weight=-1)])
    assert 'datasets.real_pairs.weight' in str(e.value)
    with pytest.raises(OptionsError) as e:  # a misspelt or unconfigured loss is not silently skipped
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, *_pairs(*pairs, losses=['pixl_opt'])])
    assert "datasets.real_pairs.losses: 'pixl_opt' is not a configured loss" in str(e.value)
    assert load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, *_pairs(*pairs, losses=['pixel_opt'])])


def test_bad_pair_folders_one_line(tmp_path, pairs):
    lq, gt = pairs
    other = tmp_path / 'other'
    other.mkdir()
    cv2.imwrite(str(other / 'f_0.png'), cv2.imread(str(gt / 'f_0.png'))[:48])  # not x4 of its LQ frame
    with pytest.raises(ValueError) as e:
        RealPairCrops(lq, other)
    one_line(str(e.value), 'f_0.png', '64x48', '16x16')  # the file, its size and its LQ frame's
    (other / 'f_0.png').unlink()
    with pytest.raises(ValueError, match='f_0.png: no HR frame of the same name'):
        RealPairCrops(lq, other)
    with pytest.raises(ValueError, match='smaller than the crop 32'):
        RealPairCrops(lq, gt, crop=32)
    with pytest.raises(ValueError, match='crop must be'):
        RealPairCrops(lq, gt, crop=2)


def test_anchor_on_the_pairs_runs_the_teacher_on_the_real_crops(tmp_path, photo_batch, pairs):
    from realesrgan_paddle import models
    from tests.nets import srvgg
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    arch = srvgg()
    paddle.seed(3)
    base = tmp_path / 'base.pdparams'
    save_checkpoint(base, params=models.build_network(arch).state_dict(), arch=arch)
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', f'path.pretrain_network_g={base}', *NET,
                               'train.anchor_opt.loss_weight=1.0', 'train.teacher_backend=dynamic',
                               *_pairs(*pairs, weight=2.0, losses=['anchor_opt'])])
    model = build_model(opt, LOG)
    seen, teacher = [], model.teacher
    model.teacher = lambda x: seen.append(list(x.shape)) or teacher(x)
    losses = model.optimize(*_batch(photo_batch), 1)
    assert seen == [[2, 3, 16, 16], [3, 3, 8, 8]]  # the synthetic batch, then the real LQ crops
    assert losses['l_g_anchor_low_pair'] > 0 and losses['l_g_anchor_high_pair'] >= 0 and 'l_g_pix_pair' not in losses and 'l_g_lowpass_pair' not in losses


# ---- the x4plus recipe's frozen trunk with real pairs (issue 79): a LowBandRRDBNet trainer with datasets.real_pairs
# runs its trunk on Paddle Inference once per batch, for the synthetic batch and for the pair batches of the
# train.trunk_reuse corrector steps (drawn first, one call for them all), never in the dynamic graph; the trunk's
# outputs carry no gradient; the loss values and weights equal the path before (each corrector step's pair batch
# through the generator's own forward, the trunk in the dynamic graph), on real photo crops.
LOW = {**rrdb(), 'type': 'LowBandRRDBNet', 'corr_feat': 8, 'corr_conv': 3}
REUSE = 3


def _lowband(tmp_path, pair_dirs):
    base = tmp_path / 'base.pdparams'
    if not base.is_file():
        save_tiny(base, rrdb(), ema=True)
    net_g = '{' + ', '.join(f'"{k}": {v!r}'.replace("'", '"') for k, v in LOW.items()) + '}'
    opt = load_options(SMOKE, [f'path.experiments_root={tmp_path}', f'path.pretrain_network_g={base}',
                               'path.strict_load_g=false', f'network_g={net_g}', 'model_type=RealESRNetModel',
                               'network_d=null', 'train.gan_opt=null', 'train.ema_decay=0.9',
                               f'train.trunk_reuse={REUSE}', 'train.optim_g.lr=0.01',
                               *_pairs(*pair_dirs, weight=0.5, crop=8, batch=2)])
    paddle.seed(0)
    model = build_model(opt, logging.getLogger('test.trunk_pairs'))
    last = model.g.corrector.convs[-1]  # a corrector that corrects: its zero start would hide the trunk's part
    last.weight.set_value(paddle.full(last.weight.shape, 0.01))
    return model


def _old_path(model):
    """The trainer before: each step's pair batch drawn in turn and run through ``net_g`` (the dynamic trunk)."""
    model.pair_batches = lambda n: [(lq, gt, None) for lq, gt in (model.real_pairs.batch() for _ in range(n))]
    return model


def _counted(model):
    """Count the predictor's calls (with the batch sizes it got) and the dynamic trunk's forwards."""
    calls, dynamic, trunk = [], [], model.trunk

    def predictor(x):
        out = trunk(x)
        calls.append((x.shape[0], out.stop_gradient))
        return out
    model.trunk = predictor
    forward = RRDBNet.forward
    RRDBNet.forward = lambda self, x: dynamic.append(x.shape[0]) or forward(self, x)
    return calls, dynamic, lambda: setattr(RRDBNet, 'forward', forward)


def test_the_trunk_runs_once_per_batch_on_the_predictor(tmp_path, photo_batch, pairs):
    model = _lowband(tmp_path, pairs)
    assert model.trunk is not None and model.real_pairs is not None
    calls, dynamic, undo = _counted(model)
    lq, gt, gt_usm = _batch(photo_batch)
    try:
        for it in (1, 2):
            losses = model.optimize(lq, gt, gt_usm, it)
    finally:
        undo()
    # per iteration: the synthetic batch (2 crops), then the pair batches of the 3 corrector steps (3 x 2 crops)
    assert calls == [(2, True), (3 * 2, True)] * 2
    assert dynamic == []  # the trunk never ran in the dynamic graph
    assert losses['l_g_pix_pair'] > 0


def test_the_losses_equal_the_path_before(tmp_path, photo_batch, pairs):
    lq, gt, gt_usm = _batch(photo_batch)
    new, old = _lowband(tmp_path, pairs), _old_path(_lowband(tmp_path, pairs))
    calls, dynamic, undo = _counted(old)
    try:
        got = [[new.optimize(lq, gt, gt_usm, it), old.optimize(lq, gt, gt_usm, it)] for it in (1, 2)]
    finally:
        undo()
    assert len(dynamic) == 2 * REUSE  # the old path: the dynamic trunk once per corrector step
    for a, b in got:
        assert a.keys() == b.keys() and {'l_g_pix', 'l_g_pix_pair'} <= a.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), k
    w_new, w_old = new.g.state_dict(), old.g.state_dict()
    moved = [k for k in w_new if k.startswith('corrector.')]
    assert moved and max(float((w_new[k] - w_old[k]).abs().max()) for k in moved) < 1e-5
