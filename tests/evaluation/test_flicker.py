"""evaluation.flicker and tools/evaluate.py's FLICKER on short "videos" cut from real photos (a crop window of a
photo, still or moving), and on ../shared/data/video's frames when present."""
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation.evaluate_cli import main
from realesrgan_paddle.evaluation.flicker import FlickerError, flicker_ratios, flicker_vs_bicubic, verdict
from tests.cli_checks import one_line

SHARED_VIDEO = Path(__file__).resolve().parents[3] / 'shared' / 'data' / 'video' / 'bikes.mp4'


@pytest.fixture(scope='module')
def photo(hr_photos):
    """The first colour photo, BGR uint8, at least 200 px on each side."""
    for p in hr_photos:
        img = cv2.imread(str(p))
        if img is not None and img.ndim == 3 and min(img.shape[:2]) >= 200:
            return img
    pytest.skip('no colour photo of 200 px')


def clip(photo, n=6, size=128, dx=0):
    """``n`` frames: the ``size`` window of ``photo`` (from near its centre) moving ``dx`` px right per frame."""
    y, x = photo.shape[0] // 2 - size // 2, photo.shape[1] // 2 - size
    return [photo[y:y + size, x + dx * i:x + dx * i + size].copy() for i in range(n)]


def noisy(frames, sigma=3.0, seed=0):
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in frames]


def test_a_still_video_against_its_copy_scores_one(photo):
    gt = clip(photo)
    r = flicker_ratios(iter(gt), iter([f.copy() for f in gt]))
    assert r['static'] == 1.0 and r['warp'] == 1.0
    assert r['n_pairs'] == 5 and r['static_fraction'] == 1.0


def test_per_frame_noise_flickers(photo):
    gt = clip(photo)
    r = flicker_ratios(gt, noisy(gt))
    assert r['static'] > 1.5 and r['warp'] > 1.5
    assert 'flickers' in verdict('noisy', r)
    # on a GT that itself carries a little noise, the ratio is relative to it
    base = noisy(gt, 1.0, seed=1)
    assert flicker_ratios(base, base)['static'] == pytest.approx(1.0)
    assert flicker_ratios(base, noisy(gt, 4.0, seed=2))['static'] > 1.5


def test_a_global_shift_is_followed_by_the_warp_ratio_not_the_static_one(photo):
    gt = clip(photo, dx=2)
    follows = flicker_ratios(gt, [cv2.GaussianBlur(f, (3, 3), 0.6) for f in gt])  # a soft output that pans along
    assert follows['warp'] == pytest.approx(1.0, abs=0.25)
    frozen = flicker_ratios(gt, [gt[0]] * len(gt))  # an output stuck on the first frame
    assert frozen['warp'] > 2  # the flow ratio sees that it does not follow the motion
    assert frozen['static'] < 1  # the static one reads it as steadier than the source
    assert follows['static_fraction'] < 0.9  # a pan leaves fewer still pixels


def test_no_gt_against_bicubic(photo):
    gt = clip(photo)
    lq = [cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA) for f in gt]
    bic = [cv2.resize(f, (128, 128), interpolation=cv2.INTER_CUBIC) for f in lq]
    assert flicker_vs_bicubic(lq, bic, 4)['static'] == 1.0
    assert flicker_vs_bicubic(lq, noisy(bic), 4)['static'] > 1.5


@pytest.mark.parametrize('case, match', [
    ('one', 'at least two'), ('sizes', 'must all be the same size'), ('mismatch', 'must be the same size'),
    ('count', 'end after 2 frame'), ('gray', 'not an HxWx3')])
def test_bad_input_one_line(photo, case, match):
    gt = clip(photo, n=3)
    out = {'one': gt[:1], 'sizes': gt[:2] + [photo[:100, :100]], 'mismatch': [f[:64] for f in gt],
           'count': gt[:2], 'gray': [f[..., 0] for f in gt]}[case]
    with pytest.raises(FlickerError, match=match) as exc:
        flicker_ratios(gt[:1] if case == 'one' else gt if case != 'sizes' else out, out)
    assert '\n' not in str(exc.value)


@pytest.mark.skipif(not SHARED_VIDEO.is_file(), reason='../shared/data/video is not here')
def test_real_video_frames():
    from realesrgan_paddle.media.video_reader import FrameReader
    frames = []
    for frame, _ in FrameReader(SHARED_VIDEO, filters=['trim=end_frame=4']):
        frames.append(frame)
    assert flicker_ratios(frames, frames)['static'] == 1.0
    assert flicker_ratios(frames, noisy(frames))['static'] > 1.5


def _write_frames(folder, frames):
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f'{i:04d}.png'), f)


@pytest.fixture(scope='module')
def frames_data(tmp_path_factory, photo):
    from tests.nets import save_tiny, srvgg
    d = tmp_path_factory.mktemp('flicker')
    gt = clip(photo, n=4)
    _write_frames(d / 'gt', gt)
    _write_frames(d / 'lq', [cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA) for f in gt])
    save_tiny(d / 'tiny.pdparams', srvgg())
    return d


def test_evaluate_frame_folders_flicker(frames_data, tmp_path, capsys):
    d = frames_data
    argv = ['--gt', d / 'gt', '--lq', d / 'lq', '--flicker', '--models', 'bicubic=bicubic',
            f'tiny={d / "tiny.pdparams"}', '--backend', 'dynamic', '--no-iqa', '-q', '--json', tmp_path / 'm.json',
            '--csv', tmp_path / 'm.csv', '--crop-border', 0]
    assert main([str(a) for a in argv]) == 0
    text = capsys.readouterr().out
    assert ' BLOCKS | FLICKER |' in text
    doc = json.loads((tmp_path / 'm.json').read_text())
    assert set(doc['flicker']) == {'bicubic', 'tiny'} and doc['flicker']['bicubic']['n_pairs'] == 3
    bic = doc['flicker']['bicubic']
    assert f'{bic["static"]:.3f} / {bic["warp"]:.3f}' in text
    assert any(ln.startswith('tiny ') and 'the source' in ln for ln in text.splitlines())
    assert doc['summary']['tiny']['flicker_static'] == doc['flicker']['tiny']['static']
    assert 'bicubic_flicker_warp' in (tmp_path / 'm.csv').read_text().splitlines()[0]
    # no GT: the same frames against bicubic; bicubic itself scores 1
    assert main([str(a) for a in ['--input', d / 'lq', '--flicker', '--models', 'bicubic=bicubic', '-q',
                                  '--json', tmp_path / 'n.json', '--crop-border', 0]]) == 0
    n = json.loads((tmp_path / 'n.json').read_text())
    assert n['flicker']['bicubic']['static'] == 1.0


def test_evaluate_videos_flicker(frames_data, tmp_path, capsys, photo):
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    d = frames_data
    for k in ('gt', 'lq'):  # lossless videos of the frame folders
        subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-framerate', '25', '-i', str(d / k / '%04d.png'),
                        '-c:v', 'ffv1', str(tmp_path / f'{k}.mkv')], check=True)
    argv = ['--gt-video', tmp_path / 'gt.mkv', '--lq-video', tmp_path / 'lq.mkv', '--frames', 3,
            '--models', 'bicubic=bicubic', f'tiny={d / "tiny.pdparams"}', '--backend', 'dynamic', '-q', '--json',
            tmp_path / 'v.json', '--crop-border', 0, '--no-iqa']
    assert main([str(a) for a in argv]) == 0
    doc = json.loads((tmp_path / 'v.json').read_text())
    assert doc['flicker']['bicubic']['n_pairs'] == 2 and len(doc['rows']) == 3
    assert doc['flicker']['tiny']['n_pairs'] == 2 and 'tiny_psnr' in doc['rows'][0]
    folder = json.loads(json.dumps(flicker_ratios(
        [cv2.imread(str(p)) for p in sorted((d / 'gt').iterdir())[:3]],
        [cv2.resize(cv2.imread(str(p)), (128, 128), interpolation=cv2.INTER_CUBIC)
         for p in sorted((d / 'lq').iterdir())[:3]])))
    assert doc['flicker']['bicubic']['static'] == pytest.approx(folder['static'], rel=1e-6)


def test_evaluate_bad_frames_one_line(frames_data, tmp_path, capsys, photo):
    d = tmp_path / 'd'
    _write_frames(d / 'gt', [photo[:128, :128]])
    _write_frames(d / 'lq', [cv2.resize(photo[:128, :128], (32, 32), interpolation=cv2.INTER_AREA)])
    assert main([str(a) for a in ['--gt', d / 'gt', '--lq', d / 'lq', '--flicker', '--models', 'bicubic=bicubic',
                                  '-q', '--crop-border', 0]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    one_line(err, str(d / 'gt'), 'two')
    assert main(['--gt-video', str(d / 'gt' / '0000.png'), '--lq', str(d / 'lq'), '--models', 'bicubic=bicubic']) == 2
    one_line(capsys.readouterr().err, str(d / 'gt' / '0000.png'))
