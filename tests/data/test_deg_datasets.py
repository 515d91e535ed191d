"""RealESRGANDataset and PairedImageDataset on real photos, bad files, DataLoader."""
import logging

import cv2
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.datasets import PairedImageDataset, RealESRGANDataset
from tests.pairs import write_pairs


@pytest.fixture(scope='module')
def hr_dir(hr_photos, tmp_path_factory):
    root = tmp_path_factory.mktemp('hr')
    for p in hr_photos[:3]:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)[:150, :170]
        cv2.imwrite(str(root / p.name), img)
    first = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)[:100, :120]
    cv2.imwrite(str(root / 'gray.png'), cv2.cvtColor(first, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(root / 'deep16.png'), first.astype(np.uint16) * 257)
    (root / 'broken.png').write_bytes(b'\x89PNG not really')
    return root


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_realesrgan_dataset_items_and_bad_file(hr_dir):
    ds = RealESRGANDataset(**{'dataroot_gt': str(hr_dir), 'crop_pad_size': 128, 'seed': 1, 'use_rot': True,
                              'sinc_prob': 0.2})
    assert len(ds) == 6
    rec = _Records()
    logging.getLogger('resr.data').addHandler(rec)
    try:
        items = [ds[i] for i in range(len(ds))]
    finally:
        logging.getLogger('resr.data').removeHandler(rec)
    text = '\n'.join(rec.lines)
    for it in items:
        assert it['gt'].shape == (3, 128, 128) and it['gt'].dtype == np.float32
        assert 0 <= it['gt'].min() and it['gt'].max() <= 1
        for k in ('kernel1', 'kernel2', 'sinc_kernel'):
            assert it[k].shape == (21, 21) and abs(it[k].sum() - 1) < 1e-5
    assert ds.skipped >= 1 and 'broken.png' in text
    gray = next(it for it in items if it['gt_path'].endswith('gray.png'))['gt']
    np.testing.assert_array_equal(gray[0], gray[1])
    deep = next(it for it in items if it['gt_path'].endswith('deep16.png'))['gt']
    assert deep.max() > 0.2  # 16-bit scaled by 65535, not clipped to 1
    again = ds[2]
    np.testing.assert_array_equal(again['gt'], items[2]['gt'])  # seeded
    np.testing.assert_array_equal(again['kernel1'], items[2]['kernel1'])


def test_realesrgan_dataset_meta_info_roots_and_loader(hr_dir, tmp_path):
    root2 = tmp_path / 'second'
    root2.mkdir()
    cv2.imwrite(str(root2 / 'small.png'), np.full((40, 50, 3), 128, np.uint8))  # smaller than the crop: padded
    (tmp_path / 'm1.txt').write_text('gray.png (100,120,1)\ndeep16.png\n')
    (tmp_path / 'm2.txt').write_text('small.png\n')
    ds = RealESRGANDataset(**{'dataroot_gt': [str(hr_dir), str(root2)],
                              'meta_info': [str(tmp_path / 'm1.txt'), str(tmp_path / 'm2.txt')], 'crop_pad_size': 64})
    assert len(ds) == 3 and ds.paths[2].endswith('small.png')
    loader = paddle.io.DataLoader(ds, batch_size=3, shuffle=False, num_workers=0)
    batch = next(iter(loader))
    assert list(batch['gt'].shape) == [3, 3, 64, 64] and list(batch['kernel1'].shape) == [3, 21, 21]
    assert len(batch['gt_path']) == 3


def test_realesrgan_dataset_bad_options(hr_dir):
    with pytest.raises(ValueError, match='crop_sizee'):
        RealESRGANDataset(**{'dataroot_gt': str(hr_dir), 'crop_sizee': 3})
    with pytest.raises(ValueError, match='sinc_prob'):
        RealESRGANDataset(**{'dataroot_gt': str(hr_dir), 'sinc_prob': 3})
    with pytest.raises(ValueError, match='not found'):
        RealESRGANDataset(**{'dataroot_gt': str(hr_dir / 'missing')})


@pytest.fixture(scope='module')
def paired_dirs(hr_photos, tmp_path_factory):
    root = tmp_path_factory.mktemp('paired')
    write_pairs(root, hr_photos[:3], lambda img: img[:130, :166])  # not a multiple of 4: LQ 41x32
    cv2.imwrite(str(root / 'gt' / 'mismatch.png'), np.zeros((40, 40, 3), np.uint8))
    cv2.imwrite(str(root / 'lq' / 'mismatch.png'), np.zeros((20, 20, 3), np.uint8))
    return root


def test_paired_dataset_val_and_train(paired_dirs):
    val = PairedImageDataset(**{'dataroot_gt': str(paired_dirs / 'gt'), 'dataroot_lq': str(paired_dirs / 'lq'),
                                'scale': 4, 'phase': 'val'})
    assert len(val) == 4
    it = next(val[i] for i in range(4) if not val.pairs[i][0].endswith('mismatch.png'))
    assert it['lq'].shape == (3, 32, 41) and it['gt'].shape == (3, 128, 164)
    train = PairedImageDataset(**{'dataroot_gt': str(paired_dirs / 'gt'), 'dataroot_lq': str(paired_dirs / 'lq'),
                                  'scale': 4, 'phase': 'train', 'gt_size': 64, 'seed': 0})
    for i in range(len(train)):
        it = train[i]  # the mismatched pair is skipped, never crashes
        assert it['lq'].shape == (3, 16, 16) and it['gt'].shape == (3, 64, 64)
        down = cv2.resize(it['gt'].transpose(1, 2, 0), (16, 16), interpolation=cv2.INTER_AREA)
        assert np.abs(down - it['lq'].transpose(1, 2, 0)).mean() < 0.02  # crops are aligned
    assert train.skipped >= 1


def test_paired_dataset_meta_info(paired_dirs, tmp_path):
    names = sorted(p.name for p in (paired_dirs / 'gt').iterdir() if p.name != 'mismatch.png')
    meta = tmp_path / 'pairs.txt'
    meta.write_text(''.join(f'{n}, {n}\n' for n in names))
    ds = PairedImageDataset(**{'dataroot_gt': str(paired_dirs / 'gt'), 'dataroot_lq': str(paired_dirs / 'lq'),
                               'meta_info': str(meta), 'scale': 4})
    assert len(ds) == 3 and ds[0]['gt_path'].endswith(names[0])
    meta.write_text('only_one_column.png\n')
    with pytest.raises(ValueError, match='gt_rel, lq_rel'):
        PairedImageDataset(**{'dataroot_gt': str(paired_dirs / 'gt'), 'dataroot_lq': str(paired_dirs / 'lq'),
                              'meta_info': str(meta), 'scale': 4})
