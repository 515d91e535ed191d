"""The temporal loss in the trainer, on real frames: a real photo panned 2 px a frame and encoded with ffmpeg
(system ffmpeg, or imageio-ffmpeg's binary alone); the consecutive pairs cut from it (pipeline/inputs/lq_flow_pairs.py),
their motion found on the LQ (data/datasets/real_lq_flow_pairs.py), the term trained through the generator, the
options' pairing check, and the one command's one line without --lq-videos."""
import logging
import subprocess

import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.datasets.real_lq_flow_pairs import RealLQFlowPairs, find_pairs, lq_flow
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
from realesrgan_paddle.pipeline.inputs.lq_flow_pairs import temporal_wanted, write_lq_pairs
from realesrgan_paddle.training.option_file import OptionsError, load_options
from realesrgan_paddle.training.steps import build_model

from tests.cli_checks import one_line
from tests.crafted_images import png_declaring
from tests.training.smoke import SMOKE, _batch
from tests.ffmpeg_path import no_system_ffmpeg_path

LOG = logging.getLogger('test.train.temporal')
NET = ['model_type=RealESRNetModel', 'network_d=null', 'train.gan_opt=null']
STEP = 2  # px the picture moves right to left per frame: frame t+1 at p shows frame t at p + STEP
W, H, FRAMES = 96, 64, 10


@pytest.fixture(scope='module')
def panned_clip(hr_photos, tmp_path_factory):
    """An H.264 clip of a real photo panned ``STEP`` px a frame, at the size of real LQ footage's crops."""
    img = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)
    img = cv2.resize(img, (W + STEP * FRAMES, int(round(img.shape[0] * (W + STEP * FRAMES) / img.shape[1]))),
                     interpolation=cv2.INTER_AREA)
    y = (img.shape[0] - H) // 2
    d = tmp_path_factory.mktemp('panned')
    for i in range(FRAMES):
        cv2.imwrite(str(d / f'{i:03d}.png'), img[y:y + H, STEP * i:STEP * i + W])
    clip = d / 'pan.mp4'
    subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-framerate', '25', '-i', str(d / '%03d.png'), '-c:v',
                    'libx264', '-crf', '18', '-pix_fmt', 'yuv420p', str(clip)], check=True)
    return clip


@pytest.mark.parametrize('system_ffmpeg', [True, False])
def test_pairs_from_a_real_clip_carry_its_motion(panned_clip, tmp_path, monkeypatch, system_ffmpeg):
    if not system_ffmpeg:
        monkeypatch.setenv('PATH', no_system_ffmpeg_path(tmp_path))
    out = tmp_path / 'pairs'
    assert write_lq_pairs([panned_clip], out, pairs=3, holdout=0.2) == 3
    pairs = find_pairs(out)
    assert len(pairs) == 3 and all(a.name.endswith('_t0.png') and b.name == a.name.replace('_t0', '_t1')
                                   for a, b in pairs)
    ds = RealLQFlowPairs(out, crop=32, batch_size=4, seed=0)
    for item in ds.motion:  # the motion found on the decoded LQ frames is the pan, where it is trusted
        flow, conf = item[0:2], item[2]
        sure = conf > 0.9
        assert sure.mean() > 0.5 and abs(np.median(flow[0][sure]) - STEP) < 0.3 and abs(np.median(flow[1][sure])) < 0.3
    a, b, f, m = ds.sample()
    assert a.shape == b.shape == (4, 3, 32, 32) and f.shape == (4, 2, 32, 32) and m.shape == (4, 1, 32, 32)
    assert np.array_equal(a, RealLQFlowPairs(out, crop=32, batch_size=4, seed=0).sample()[0])  # seeded
    assert set(np.round(np.median(f[:, 0], axis=(1, 2)))) <= {STEP, -STEP}  # a mirrored crop moves the other way


def test_lq_flow_on_a_still_pair_is_zero_and_confident(photo_batch):
    a = photo_batch(1, 48)[0].numpy()
    flow, conf = lq_flow(a, a.copy())
    assert not flow.any() and conf.min() == 1.0
    with pytest.raises(ValueError, match='one size'):
        lq_flow(a, a[:, :40])


def test_bad_pair_folders_one_line(tmp_path, photo_crops):
    (tmp_path / 'lone').mkdir()
    cv2.imwrite(str(tmp_path / 'lone' / 'x_t0.png'), photo_crops(1, 40)[0])
    with pytest.raises(ValueError) as e:
        RealLQFlowPairs(tmp_path / 'lone')
    one_line(str(e.value), 'x_t0.png', 'pair')
    cv2.imwrite(str(tmp_path / 'lone' / 'x_t1.png'), photo_crops(1, 20)[0])
    with pytest.raises(ValueError) as e:
        RealLQFlowPairs(tmp_path / 'lone', crop=16)
    one_line(str(e.value), 'x_t1.png', 'not consecutive')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='no images'):
        RealLQFlowPairs(tmp_path / 'empty')


def test_a_huge_pair_is_refused_from_its_header(tmp_path, monkeypatch):
    """An 8000x8000 pair (64 MP, under the decoder's limit) went past 3 GiB as float32 9xHxW (issue 64, O04): one
    line from the header, nothing decoded."""
    from realesrgan_paddle.data.datasets import real_lq_flow_pairs as mod
    for t in ('t0', 't1'):
        (tmp_path / f'big_{t}.png').write_bytes(png_declaring(8000, 8000))
    monkeypatch.setattr(mod, 'imread', lambda path: pytest.fail(f'{path} was decoded'))
    with pytest.raises(ValueError) as e:
        RealLQFlowPairs(tmp_path)
    one_line(str(e.value), 'big_t0.png', '8000x8000', 'scale the pairs down')


def test_tiny_frames_are_one_line_not_an_opencv_error(tmp_path, photo_crops):
    """8x8 frames reached OpenCV's DIS, which refuses frames under 12 px (a cv2.error; issue 64, O19), and it
    crashes the process on some wide frames under 32 px (300x24)."""
    for name, (w, h) in (('tiny', (8, 8)), ('wide', (300, 24))):
        d = tmp_path / name
        d.mkdir()
        img = cv2.resize(photo_crops(1, 300)[0], (w, h), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(d / 'x_t0.png'), img)
        cv2.imwrite(str(d / 'x_t1.png'), np.roll(img, 1, axis=1))
        with pytest.raises(ValueError) as e:
            RealLQFlowPairs(d, crop=4)
        one_line(str(e.value), 'x_t0.png', f'{w}x{h} is smaller than 32 px a side', 'DIS')


def test_pairs_beyond_the_budget_keep_a_window_of_their_motion(tmp_path, photo_crops, monkeypatch):
    """When the pairs would keep more than MAX_BYTES, each keeps a window of its share: its frames as read and the
    motion found on the whole frame, at the same place."""
    from realesrgan_paddle.data.datasets import real_lq_flow_pairs as mod
    full = {}
    for i, img in enumerate(photo_crops(2, 160)):
        img = np.ascontiguousarray(img[:120])
        cv2.imwrite(str(tmp_path / f'p{i}_t0.png'), img[:, 2:])
        cv2.imwrite(str(tmp_path / f'p{i}_t1.png'), img[:, :-2])
        full[i] = (img[:, 2:], lq_flow(*(mod.image_to_chw(x) for x in (img[:, 2:], img[:, :-2]))))
    monkeypatch.setattr(mod, 'MAX_BYTES', 2 * 6000 * mod.KEPT_BYTES)  # 6000 px a pair
    ds = RealLQFlowPairs(tmp_path, crop=32, batch_size=3)
    for (f0, _), m, (img, (flow, conf)) in zip(ds.frames, ds.motion, full.values()):
        h, w = m.shape[1:]
        assert f0.shape[:2] == (h, w) and 32 <= min(h, w) and h * w <= 6000 * 1.05 and h * w < img.size // 6
        at = [(y, x) for y in range(img.shape[0] - h + 1) for x in range(img.shape[1] - w + 1)
              if np.array_equal(img[y:y + h, x:x + w], f0)]
        assert len(at) == 1
        (y, x), = at
        assert np.array_equal(m[0:2], flow[y:y + h, x:x + w].transpose(2, 0, 1))
        assert np.array_equal(m[2], conf[y:y + h, x:x + w])
    a, b, f, k = ds.sample()
    assert a.shape == b.shape == (3, 3, 32, 32) and f.shape == (3, 2, 32, 32) and k.shape == (3, 1, 32, 32)
    wide = RealLQFlowPairs(tmp_path, crop=100, batch_size=2)  # a window is never narrower than the crop
    assert all(min(m.shape[1:]) >= 100 for m in wide.motion) and wide.sample()[0].shape == (2, 3, 100, 100)


def _temp(d, weight=5.0):
    return [f'train.temporal_opt={{"type": "TemporalLoss", "loss_weight": {weight}}}',
            f'datasets.real_lq_pairs={{"dataroot_lq": "{d}", "crop": 32, "batch_size": 2}}']


def test_temporal_term_trains_from_a_yaml(tmp_path, photo_batch, panned_clip):
    """train.losses with a TemporalLoss entry (and its official spelling, train.temporal_opt): the generator moves
    through the term alone (pixel weight 0)."""
    write_lq_pairs([panned_clip], tmp_path / 'pairs', pairs=2, holdout=0.2)
    yml = tmp_path / 'temporal.yml'
    yml.write_text(SMOKE.read_text().replace('name: tiny_smoke', 'name: tiny_temporal', 1))
    losses = ('train.losses=[{"type": "L1Loss", "weight": 0.0}, '
              '{"type": "TemporalLoss", "weight": 3.0, "name": "l_g_flow"}]')
    ds = f'datasets.real_lq_pairs={{"dataroot_lq": "{tmp_path / "pairs"}", "crop": 32, "batch_size": 2}}'
    lq, gt, gt_usm = _batch(photo_batch)
    for extra, name in (([losses, 'train.pixel_opt=null', ds], 'l_g_flow'),
                        (['train.pixel_opt.loss_weight=0.0', *_temp(tmp_path / 'pairs')], 'l_g_temp')):
        opt = load_options(yml, [f'path.experiments_root={tmp_path}', *NET, *extra])
        paddle.seed(0)
        model = build_model(opt, LOG)
        assert [t.target for t in model.terms if t.name == name] == ['lq_pair'] and len(model.sources['real_lq_pairs']) == 2
        before = {k: v.numpy().copy() for k, v in model.g.state_dict().items()}
        got = model.optimize(lq, gt, gt_usm, 1)
        assert got[name] > 0 and np.isfinite(got[name])
        assert any(not np.array_equal(v.numpy(), before[k]) for k, v in model.g.state_dict().items())


def test_temporal_options_checked(tmp_path):
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, _temp(tmp_path)[0]])
    one_line(str(e.value), 'TemporalLoss', 'datasets.real_lq_pairs')
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET, _temp(tmp_path)[1]])
    assert 'datasets.real_lq_pairs: no loss reads it' in str(e.value)
    with pytest.raises(OptionsError) as e:
        load_options(SMOKE, [f'path.experiments_root={tmp_path}', *NET,
                             'train.losses=[{"type": "L1Loss", "target": "lq_pair"}]'])
    assert 'only TemporalLoss does' in str(e.value)


def test_one_command_needs_lq_videos(tmp_path, capsys):
    from tools.finetune_domain import main
    assert temporal_wanted(['train.temporal_opt={"type": "TemporalLoss"}']) and not temporal_wanted(
        ['train.temporal_opt=null', 'train.stability_opt={"type": "StabilityLoss"}'])
    (tmp_path / 'v').mkdir()
    code = main(['--videos', str(tmp_path / 'v'), '--work', str(tmp_path / 'w'), '-o',
                 'train.temporal_opt={"type": "TemporalLoss", "loss_weight": 1.0}'])
    err = capsys.readouterr().err.strip()
    assert code == 2
    one_line(err, 'TemporalLoss', '--lq-videos')
