"""generate_multiscale.py, extract_subimages.py and generate_meta_info.py on real photos,
and the round trip of sub-images + meta_info through the training datasets."""
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from realesrgan_paddle.evaluation.metrics import psnr
from tests.cli_checks import a_line, one_line

ROOT = Path(__file__).resolve().parents[2]


def load_tool(name):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / 'tools' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # worker processes unpickle the job function by module name
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def photo_dir(hr_photos, tmp_path_factory):
    """Three real photos: one large (short side > 400), one medium, one smaller than 400."""
    sized = [(cv2.imread(str(p), cv2.IMREAD_COLOR), p) for p in hr_photos]
    big = [x for x in sized if min(x[0].shape[:2]) > 600]
    mid = [x for x in sized if 400 < min(x[0].shape[:2]) <= 600]
    small = [x for x in sized if min(x[0].shape[:2]) < 400]
    d = tmp_path_factory.mktemp('photos') / 'HR'
    d.mkdir()
    chosen = (big or mid)[:1] + mid[-1:] + small[:1]
    assert len(chosen) == 3
    for img, p in chosen:
        # keep the big one moderate so the test stays fast
        if min(img.shape[:2]) > 800:
            img = img[:800, :1200]
        cv2.imwrite(str(d / f'{p.stem}.png'), img)
    return d


def test_multiscale_sizes_content_and_resume(photo_dir, tmp_path, capsys):
    ms = load_tool('generate_multiscale')
    out = tmp_path / 'multiscale'
    assert ms.main(['--input', str(photo_dir), '--output', str(out), '--n_thread', '2']) == 0
    for src in sorted(photo_dir.glob('*.png')):
        img = cv2.imread(str(src))
        h, w = img.shape[:2]
        for i, s in enumerate((0.75, 0.5, 1 / 3)):
            t = cv2.imread(str(out / f'{src.stem}T{i}.png'))
            assert t.shape == (round(h * s), round(w * s), 3)
            # a faithful downscale of the same picture, in the right channel order
            ref = cv2.resize(img, (t.shape[1], t.shape[0]), interpolation=cv2.INTER_AREA)
            assert psnr(t, ref) > 30
        t1 = cv2.imread(str(out / f'{src.stem}T1.png'))
        pil = Image.fromarray(img[:, :, ::-1]).resize((t1.shape[1], t1.shape[0]), Image.LANCZOS)
        assert np.array_equal(t1, np.asarray(pil)[:, :, ::-1])
        t3 = out / f'{src.stem}T3.png'
        if min(h, w) > 400:
            assert min(cv2.imread(str(t3)).shape[:2]) == 400
        else:
            assert not t3.exists()
    n = len(list(out.glob('*.png')))
    assert n == 3 * 3 + 2
    capsys.readouterr()
    victim = sorted(out.glob('*T2.png'))[0]
    victim.unlink()
    assert ms.main(['--input', str(photo_dir), '--output', str(out)]) == 0
    a_line(capsys.readouterr().out, '1 copies written', f'{n - 1} already')
    assert victim.exists() and not list(out.glob('.*.tmp'))


def test_multiscale_16bit_alpha_and_bad_file(tmp_path, photo_dir, capsys):
    ms = load_tool('generate_multiscale')
    src = tmp_path / 'in'
    src.mkdir()
    img = cv2.imread(str(sorted(photo_dir.glob('*.png'))[-1]))
    rgba16 = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]).astype(np.uint16) * 257
    cv2.imwrite(str(src / 'deep.png'), rgba16)
    (src / 'broken.png').write_bytes(b'\x89PNG not really')
    out = tmp_path / 'out'
    assert ms.main(['--input', str(src), '--output', str(out), '--n_thread', '1']) == 1
    captured = capsys.readouterr()
    assert 'error: ' in captured.err and a_line(captured.err, 'broken.png')
    t1 = cv2.imread(str(out / 'deepT1.png'), cv2.IMREAD_UNCHANGED)
    assert t1.dtype == np.uint16 and t1.shape[2] == 4
    ref = cv2.resize(rgba16, (t1.shape[1], t1.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(t1.astype(np.int64) - ref).mean() < 257 * 3
    assert ms.main(['--input', str(src), '--output', str(src / 'sub')]) == 2


def test_subimage_positions():
    sub = load_tool('extract_subimages')
    assert sub.positions(1050, 400, 200, 0) == [0, 200, 400, 600, 650]
    assert sub.positions(1050, 400, 200, 100) == [0, 200, 400, 600]
    assert sub.positions(1000, 400, 200, 0) == [0, 200, 400, 600]
    assert sub.positions(399, 400, 200, 0) == []
    assert len(sub.crop_boxes(512, 512, 400, 200, 0)) == 4


def test_subimages_crops_resume(photo_dir, tmp_path, capsys):
    sub = load_tool('extract_subimages')
    out = tmp_path / 'sub'
    args = ['--input', str(photo_dir), '--output', str(out), '--crop_size', '400', '--step', '200',
            '--thresh_size', '0', '--n_thread', '2']
    assert sub.main(args) == 0
    expected = 0
    for src in sorted(photo_dir.glob('*.png')):
        img = cv2.imread(str(src))
        boxes = sub.crop_boxes(img.shape[0], img.shape[1], 400, 200, 0)
        expected += len(boxes)
        for i, (y, x) in enumerate(boxes, 1):
            crop = cv2.imread(str(out / f'{src.stem}_s{i:03d}.png'))
            assert np.array_equal(crop, img[y:y + 400, x:x + 400])
        assert not (out / f'{src.stem}_s{len(boxes) + 1:03d}.png').exists()
    assert len(list(out.glob('*.png'))) == expected
    a_line(capsys.readouterr().out, '1 images', '400', 'skipped')
    (out / '.left_over.png.99.tmp').write_bytes(b'x')
    sorted(out.glob('*_s002.png'))[0].unlink()
    assert sub.main(args) == 0
    a_line(capsys.readouterr().out, '1 crops written', f'{expected - 1} already')
    assert len(list(out.glob('*.png'))) == expected


def test_meta_info_multi_root_and_paired(photo_dir, tmp_path, capsys):
    meta = load_tool('generate_meta_info')
    root = photo_dir.parent
    sub = load_tool('extract_subimages')
    assert sub.main(['--input', str(photo_dir), '--output', str(root / 'HR_sub'), '--n_thread', '1']) == 0
    mfile = tmp_path / 'meta_info' / 'meta.txt'
    assert meta.main(['--input', str(photo_dir), str(root / 'HR_sub'), '--root', str(root), str(root),
                      '--meta_info', str(mfile)]) == 0
    lines = mfile.read_text().splitlines()
    names = sorted(p.name for p in photo_dir.glob('*.png'))
    crops = sorted(p.name for p in (root / 'HR_sub').glob('*.png'))
    assert lines == [f'HR/{n}' for n in names] + [f'HR_sub/{n}' for n in crops]
    assert all((root / ln).is_file() for ln in lines)
    # default root: the folder's parent, so the same lines
    assert meta.main(['--input', str(photo_dir), str(root / 'HR_sub'), '--meta_info', str(mfile)]) == 0
    assert mfile.read_text().splitlines() == lines
    # paired: LQ as 4x smaller JPEGs with the same names
    lq = root / 'LQ'
    lq.mkdir(exist_ok=True)
    for n in crops:
        img = cv2.imread(str(root / 'HR_sub' / n))
        cv2.imwrite(str(lq / n.replace('.png', '.jpg')), cv2.resize(img, (100, 100), interpolation=cv2.INTER_AREA))
    pfile = tmp_path / 'pair.txt'
    assert meta.main(['--paired', '--input', str(root / 'HR_sub'), str(lq), '--meta_info', str(pfile)]) == 0
    plines = pfile.read_text().splitlines()
    assert plines == [f"HR_sub/{n}, LQ/{n.replace('.png', '.jpg')}" for n in crops]
    capsys.readouterr()
    (lq / crops[0].replace('.png', '.jpg')).unlink()
    assert meta.main(['--paired', '--input', str(root / 'HR_sub'), str(lq), '--meta_info', str(pfile)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    one_line(err, crops[0], '1 GT')  # the first GT image without its LQ, and how many
    assert pfile.read_text().splitlines() == plines  # the old file is left whole
    assert meta.main(['--input', str(photo_dir), '--root', str(tmp_path), '--meta_info', str(pfile)]) == 2


def test_subimages_and_meta_info_round_trip_through_datasets(photo_dir, tmp_path):
    """Crops + meta_info load through RealESRGANDataset / PairedImageDataset as the very same pixels."""
    from realesrgan_paddle.data.datasets import PairedImageDataset, RealESRGANDataset
    root = tmp_path / 'DF'
    sub, meta = load_tool('extract_subimages'), load_tool('generate_meta_info')
    assert sub.main(['--input', str(photo_dir), '--output', str(root / 'HR_sub'), '--crop_size', '400',
                     '--step', '200', '--thresh_size', '0', '--n_thread', '2']) == 0
    mfile = root / 'meta_info.txt'
    assert meta.main(['--input', str(root / 'HR_sub'), '--root', str(root), '--meta_info', str(mfile)]) == 0
    lines = mfile.read_text().splitlines()
    ds = RealESRGANDataset(**dict(dataroot_gt=str(root), meta_info=str(mfile), crop_pad_size=400, use_hflip=False,
                                  use_rot=False, seed=0))
    assert len(ds) == len(lines) >= 4
    for i in (0, len(ds) - 1):
        item = ds[i]
        assert Path(item['gt_path']) == root / lines[i]
        ref = cv2.imread(str(root / lines[i]))[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255
        assert item['gt'].shape == (3, 400, 400) and item['gt'].dtype == np.float32
        assert np.allclose(item['gt'], ref, atol=1e-6)
        assert item['kernel1'].shape == (21, 21)
    # paired: LQ = 4x smaller copies, listed with generate_meta_info --paired
    lq = root / 'LQ_sub'
    lq.mkdir()
    for ln in lines:
        img = cv2.imread(str(root / ln))
        cv2.imwrite(str(lq / Path(ln).name), cv2.resize(img, (100, 100), interpolation=cv2.INTER_AREA))
    pfile = root / 'meta_info_pair.txt'
    assert meta.main(['--paired', '--input', str(root / 'HR_sub'), str(lq), '--root', str(root), str(root),
                      '--meta_info', str(pfile)]) == 0
    pds = PairedImageDataset(**dict(dataroot_gt=str(root), dataroot_lq=str(root), meta_info=str(pfile), scale=4,
                                    phase='val'))
    assert len(pds) == len(lines)
    item = pds[1]
    gt_rel, lq_rel = pfile.read_text().splitlines()[1].split(', ')
    assert Path(item['gt_path']) == root / gt_rel and Path(item['lq_path']) == root / lq_rel
    ref_lq = cv2.imread(str(root / lq_rel))[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255
    assert item['lq'].shape == (3, 100, 100) and np.allclose(item['lq'], ref_lq, atol=1e-6)
    assert item['gt'].shape == (3, 400, 400)


def test_subimages_warn_when_most_images_give_no_crop(photo_dir, tmp_path, capsys):
    sub = load_tool('extract_subimages')
    n = len(list(photo_dir.glob('*.png')))
    assert sub.main(['--input', str(photo_dir), '--output', str(tmp_path / 'a'), '--crop_size', '5000']) == 0
    err = capsys.readouterr().err
    assert a_line(err, 'warning', f'{n} of {n}', '--crop_size 5000')
    assert sub.main(['--input', str(photo_dir), '--output', str(tmp_path / 'b'), '--crop_size', '64']) == 0
    assert 'warning' not in capsys.readouterr().err
