"""Non-regular files and paths outside the data (issue 55 §5): a FIFO, /dev/zero and a link to it are refused by
``utils.fileio.require_regular_file`` before anything opens them, in every reader (images, checkpoints, hashes,
convert_torch, infer -m, fit_degradation's folder scan), and meta_info lines stay inside their dataroot unless
``allow_outside_dataroot``. The CLI runs are subprocesses with a timeout, so a hang fails the test."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realesrgan_paddle.data.datasets import PairedImageDataset, RealESRGANDataset
from realesrgan_paddle.checkpoint_io.state_file import CheckpointFormatError, load_state_file
from realesrgan_paddle.utils.fileio import NotRegularFileError, is_regular_file, require_regular_file, sha256_file
from realesrgan_paddle.media.image_io import ImageReadError, imread
from tests.cli_checks import one_line

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


@pytest.fixture
def specials(tmp_path):
    fifo = tmp_path / 'b.png'
    os.mkfifo(fifo)
    link = tmp_path / 'c.png'
    link.symlink_to('/dev/zero')
    return fifo, link


def test_the_check_names_what_the_path_is(specials, tmp_path):
    fifo, link = specials
    cases = {fifo: 'a FIFO', link: 'a character device', Path('/dev/zero'): 'a character device',
             tmp_path: 'a folder'}
    for path, kind in cases.items():
        with pytest.raises(NotRegularFileError) as e:
            require_regular_file(path)
        assert str(e.value) == f'{path}: not a regular file ({kind}); give a file'
        assert not is_regular_file(path)
    with pytest.raises(FileNotFoundError, match='no such file'):
        require_regular_file(tmp_path / 'missing.png')
    real = tmp_path / 'a.png'
    cv2.imwrite(str(real), np.zeros((8, 8, 3), np.uint8))
    assert require_regular_file(real).st_size == real.stat().st_size and is_regular_file(real)


def test_readers_refuse_before_opening(specials):
    fifo, link = specials  # opening the FIFO would block this test forever; /dev/zero would never end
    for path in (fifo, link):
        with pytest.raises(ImageReadError, match=f'^{path}: not a regular file'):
            imread(path)
        with pytest.raises(NotRegularFileError, match=f'^{path}: not a regular file'):
            sha256_file(path)
        with pytest.raises(CheckpointFormatError, match=f'^{path}: not a regular file'):
            load_state_file(path)


def _cli(*args):
    res = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                         timeout=TIMEOUT)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and 'WARNING' not in ln]
    return res.returncode, lines, res.stderr


def test_convert_torch_on_a_fifo_and_dev_zero(specials, tmp_path):
    fifo, _ = specials
    for path in (fifo, '/dev/zero'):
        rc, lines, err = _cli('tools/convert_torch.py', '-i', path, '-o', tmp_path / 'x.pdparams')
        kind = 'a FIFO' if path == fifo else 'a character device'
        assert rc == 2 and one_line(lines, path, kind), err


def test_infer_model_fifo_is_refused_before_hashing(specials, tmp_path):
    fifo, _ = specials
    img = tmp_path / 'a.jpg'
    cv2.imwrite(str(img), np.full((16, 16, 3), 120, np.uint8))
    for tool in ('tools/infer.py', 'tools/predict.py'):
        rc, lines, err = _cli(tool, '-m', fifo, '-i', img, '-o', tmp_path / 'out')
        assert rc != 0 and 'Traceback' not in err and str(fifo) in lines[-1] and 'regular file' in lines[-1]


def test_fit_degradation_skips_a_fifo_and_a_device_link_in_a_folder(specials, tmp_path):
    folder = specials[0].parent
    rc, lines, err = _cli('tools/fit_degradation.py', '--hr', folder, '--lq', folder, '-o', tmp_path / 'fit.yml')
    assert rc == 2 and 'Traceback' not in err and lines[-1].endswith(f'{folder}: no videos or images in this folder')
    for path in specials:  # named outright: refused (the LQ side is read first)
        rc, lines, err = _cli('tools/fit_degradation.py', '--hr', folder, '--lq', path, '-o', tmp_path / 'fit.yml')
        kind = 'a FIFO' if path == specials[0] else 'a character device'
        assert rc == 2 and lines[-1].endswith(f'{path}: not a regular file ({kind}); give a file'), err


@pytest.fixture
def roots(tmp_path):
    gt, lq = tmp_path / 'data' / 'gt', tmp_path / 'data' / 'lq'
    for d, size in ((gt, 32), (lq, 8)):
        d.mkdir(parents=True)
        cv2.imwrite(str(d / 'a.png'), np.full((size, size, 3), 100, np.uint8))
    cv2.imwrite(str(tmp_path / 'outside.png'), np.full((32, 32, 3), 100, np.uint8))
    return gt, lq


def _meta(path, *lines):
    path.write_text(''.join(f'{ln}\n' for ln in lines))
    return path


def test_meta_info_lines_stay_inside_the_dataroot(roots, tmp_path):
    gt, lq = roots
    outside = tmp_path / 'outside.png'
    for line in ('../../outside.png', str(outside), 'a/../../../outside.png'):
        meta = _meta(tmp_path / 'meta.txt', 'a.png', line)
        with pytest.raises(ValueError, match=r'names a file outside the dataroot .*allow_outside_dataroot') as e:
            RealESRGANDataset(str(gt), meta_info=str(meta), crop_pad_size=16)
        assert str(e.value).startswith(f'{meta}: the line ') and '\n' not in str(e.value)
        ds = RealESRGANDataset(str(gt), meta_info=str(meta), crop_pad_size=16, allow_outside_dataroot=True)
        assert os.path.samefile(ds.paths[1], outside)
    assert RealESRGANDataset(str(gt), meta_info=str(_meta(tmp_path / 'in.txt', 'sub/../a.png')),
                             crop_pad_size=16).paths == [os.path.join(str(gt), 'a.png')]
    pairs = _meta(tmp_path / 'pairs.txt', 'a.png, ../../../outside.png')
    with pytest.raises(ValueError, match='outside the dataroot'):
        PairedImageDataset(str(gt), str(lq), 4, meta_info=str(pairs))
    assert len(PairedImageDataset(str(gt), str(lq), 4, meta_info=str(pairs), allow_outside_dataroot=True)) == 1


def test_meta_info_lines_naming_a_device_or_fifo_are_refused_up_front(roots, tmp_path):
    gt, _ = roots
    os.mkfifo(gt / 'f.png')
    (gt / 'z.png').symlink_to('/dev/zero')
    for line in ('f.png', 'z.png', '/dev/zero'):
        meta = _meta(tmp_path / 'meta.txt', 'a.png', line)
        with pytest.raises(ValueError, match='not a regular file') as e:
            RealESRGANDataset(str(gt), meta_info=str(meta), crop_pad_size=16, allow_outside_dataroot=True)
        assert str(e.value).startswith(f'{meta}: the line ') and '\n' not in str(e.value)
    fifo_meta = tmp_path / 'meta_fifo.txt'
    os.mkfifo(fifo_meta)
    with pytest.raises(ValueError, match=f'^{fifo_meta}: not a regular file'):
        RealESRGANDataset(str(gt), meta_info=str(fifo_meta), crop_pad_size=16)
    # a folder scan skips them
    assert RealESRGANDataset(str(gt), crop_pad_size=16).paths == [os.path.join(str(gt), 'a.png')]


def test_allow_outside_dataroot_is_a_dataset_option():
    from realesrgan_paddle.training.schema import params
    for ds in (RealESRGANDataset, PairedImageDataset):
        field = params(ds)['allow_outside_dataroot']
        assert field.default is False
