"""pipeline/inputs/crops.py: large held-out frames are cut to their most detailed window and the grid tile of median
detail, deterministically, the same windows for every model; small frames stay whole; the report says which
(tiny images, seconds)."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle.pipeline.inputs import crops as C
from tests.cli_checks import a_line


@pytest.fixture(scope='module')
def frames(hr_photos, tmp_path_factory):
    """Two frames: ``big`` (240x320 HR, flat grey with a photo patch at a known place: the only detail) and
    ``small`` (64x64 HR, a photo cut), each with its x4 area-shrunk LQ frame."""
    root = tmp_path_factory.mktemp('frames')
    photo = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)
    big = np.full((240, 320, 3), 128, np.uint8)
    big[100:164, 180:244] = photo[:64, :64]
    small = np.ascontiguousarray(photo[64:128, 64:128])
    for d in ('gt', 'lq'):
        (root / d).mkdir()
    for name, img in (('big.png', big), ('small.png', small)):
        cv2.imwrite(str(root / 'gt' / name), img)
        lq = cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(root / 'lq' / name), lq)
    return root / 'gt', root / 'lq', big


def _crop(frames, out):
    gt, lq, _ = frames
    return C.crop_pairs(gt, lq, out, size=64, whole_max=64 * 64)


def test_the_window_is_the_detailed_part_on_the_x4_grid_and_always_the_same(frames, tmp_path):
    gdir, ldir, info = _crop(frames, tmp_path / 'a')
    y0, x0, h, w = info['windows']['big.png']
    assert (h, w) == (64, 64) and y0 % 4 == 0 and x0 % 4 == 0
    assert abs(y0 - 100) <= 4 and abs(x0 - 180) <= 4  # the patch, the only detail of the frame
    gt, lq = cv2.imread(f'{gdir}/big.png'), cv2.imread(f'{ldir}/big.png')
    assert np.array_equal(gt, frames[2][y0:y0 + 64, x0:x0 + 64])
    full_lq = cv2.imread(str(frames[1] / 'big.png'))
    assert np.array_equal(lq, full_lq[y0 // 4:(y0 + 64) // 4, x0 // 4:(x0 + 64) // 4])
    again = _crop(frames, tmp_path / 'b')
    assert again[2] == info  # deterministic: the same windows, counts and pixels
    for d in ('gt', 'lq'):
        assert np.array_equal(cv2.imread(str(tmp_path / 'a' / d / 'big.png')),
                              cv2.imread(str(tmp_path / 'b' / d / 'big.png')))


def test_small_frames_stay_whole_and_the_counts_add_up(frames, tmp_path):
    gdir, ldir, info = _crop(frames, tmp_path)
    for src, dst in ((frames[0], gdir), (frames[1], ldir)):
        assert np.array_equal(cv2.imread(f'{dst}/small.png'), cv2.imread(str(src / 'small.png')))
    assert 'small.png' not in info['windows']
    assert (info['frames'], info['cropped'], info['crops']) == (2, 1, 2)
    assert info['pixels'] == 3 * 64 * 64 and info['total'] == 240 * 320 + 64 * 64
    _, _, none = C.crop_pairs(frames[0], frames[1], tmp_path / 'all', size=64, whole_max=10 ** 6)
    assert none['cropped'] == 0 and none['pixels'] == none['total']
    # an evaluate stage re-run after a stop finds its links there: the same result, no SameFileError
    assert C.crop_pairs(frames[0], frames[1], tmp_path / 'all', size=64, whole_max=10 ** 6)[2] == none


def test_every_model_is_scored_on_the_same_window(frames, tmp_path):
    """The stage scores the cropped folders: bicubic's and a network's rows are those of the window."""
    from realesrgan_paddle.evaluation import metrics as M
    from realesrgan_paddle.evaluation import model_cache as MT
    from tests.nets import SRVGG, save_tiny
    gdir, ldir, info = _crop(frames, tmp_path / 'c')
    net = save_tiny(tmp_path / 'net.pdparams', SRVGG)
    ups = MT.Models('compact', tmp_path / 'exports').get({'bicubic': 'bicubic', 'net': str(net)}, own=['net'])
    rows = {r['image']: r for r in MT.evaluate(ups, gdir, ldir, progress=False)}
    y0, x0, h, w = info['windows']['big.png']
    gt = frames[2][y0:y0 + h, x0:x0 + w]
    lq = cv2.imread(str(frames[1] / 'big.png'))[y0 // 4:(y0 + h) // 4, x0 // 4:(x0 + w) // 4]
    for name, up in ups.items():
        assert rows['big.png'][f'{name}_psnr'] == pytest.approx(M.psnr(up.upscale(lq), gt, 4, test_y=True))


def test_real_frames_without_hr_are_cut_on_their_bicubic_upscale(frames, tmp_path):
    ldir, info = C.crop_frames(frames[1], tmp_path, size=64, whole_max=64 * 64)
    y0, x0, h, w = info['windows']['big.png']
    assert abs(y0 - 100) <= 8 and abs(x0 - 180) <= 8 and (h, w) == (64, 64)
    assert cv2.imread(f'{ldir}/big.png').shape[:2] == (16, 16)
    assert 'the LQ frame\'s bicubic upscale' in C.line(info, 'real LQ frames')
    grey = cv2.cvtColor(frames[2], cv2.COLOR_BGR2GRAY)  # a grey frame gets the same window
    assert C.window(grey, 64) == C.window(frames[2], 64)


def test_the_report_line_states_size_count_and_pixels(frames, tmp_path):
    _, _, info = _crop(frames, tmp_path)
    text = C.line(info)
    assert text.startswith('1 of the 2 held-out frames') and 'on 2 64x64 HR crops' in text
    a_line(text, f'{64 * 64 * 3:,} of {240 * 320 + 64 * 64:,}')  # the pixels the crops cover, counted
    old = dict(info, crops=None, windows={})  # a metrics.json from before several windows: one per frame
    del old['crops']
    assert 'on 1 64x64 HR crops (per frame the window with the most detail,' in C.line(old)
    whole = C.crop_pairs(frames[0], frames[1], tmp_path / 'w', size=64, whole_max=10 ** 6)[2]
    assert C.line(whole) == f'The 2 held-out frames were scored whole ({240 * 320 + 64 * 64:,} HR pixels).'
    assert C.lines(None) == [] and C.lines({'pairs': info, 'real': whole}) == [text, C.line(whole, 'real LQ frames')]


def test_the_second_window_is_the_free_grid_tile_of_median_detail(tmp_path):
    """Twelve 32 px tiles of noise of twelve strengths: the first window is the strongest tile, the second the
    median of the tiles that do not overlap it; its file holds that tile, and its rows count for the frame's clip."""
    from realesrgan_paddle.pipeline.report.page import scene_of
    rng = np.random.default_rng(0)
    amp = rng.permutation(np.arange(1, 13) * 8.0).reshape(3, 4)
    img = np.full((96, 128, 3), 128.0)
    for r in range(3):
        for c in range(4):
            img[32 * r:32 * r + 32, 32 * c:32 * c + 32] += rng.normal(0, amp[r, c], (32, 32, 1))
    img = np.clip(img, 0, 255).astype(np.uint8)
    wins = C.windows(img, 32, 4, 2)
    r0, c0 = np.unravel_index(np.argmax(amp), amp.shape)
    assert wins[0] == (32 * r0, 32 * c0, 32, 32)
    free = sorted((amp[r, c], (32 * r, 32 * c, 32, 32)) for r in range(3) for c in range(4) if (r, c) != (r0, c0))
    assert wins[1] == free[len(free) // 2][1]  # 11 free tiles: the 6th by strength
    assert C.windows(img, 32, 4, 1) == wins[:1]
    for d in ('gt', 'lq'):
        (tmp_path / d).mkdir()
    cv2.imwrite(str(tmp_path / 'gt' / 'cam_000010.000.png'), img)
    cv2.imwrite(str(tmp_path / 'lq' / 'cam_000010.000.png'), cv2.resize(img, (32, 24), interpolation=cv2.INTER_AREA))
    gdir, ldir, info = C.crop_pairs(tmp_path / 'gt', tmp_path / 'lq', tmp_path / 'out', size=32, whole_max=32 * 32)
    y, x = wins[1][:2]
    second = C.window_name('cam_000010.000.png', 1)
    assert second == 'cam_000010.000~w1.png' and C.frame_of(second) == 'cam_000010.000.png'
    assert np.array_equal(cv2.imread(f'{gdir}/{second}'), img[y:y + 32, x:x + 32])
    assert cv2.imread(f'{ldir}/{second}').shape[:2] == (8, 8)
    assert info['windows'][second] == list(wins[1]) and scene_of(second) == 'cam'
    assert scene_of(second, {'cam_000010.000.png': 'street.mp4'}) == 'street.mp4'
