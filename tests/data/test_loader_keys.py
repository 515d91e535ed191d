"""One list of loader keys: the datasets and the options check accept the same ones."""
import pytest

from data import BASICSR_LOADER_KEYS, LOADER_KEYS


def test_options_check_and_datasets_use_the_one_list(tmp_path):
    from data.datasets import PairedImageDataset
    from training.options import dataset_keys
    for ds_type in ('RealESRGANDataset', 'PairedImageDataset'):
        assert set(LOADER_KEYS) <= dataset_keys(ds_type)
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'lq').mkdir()
    base = {'dataroot_gt': str(tmp_path / 'gt'), 'dataroot_lq': str(tmp_path / 'lq'), 'scale': 4}
    with pytest.raises(ValueError, match="unknown PairedImageDataset option 'color'"):  # silently wrong if accepted
        PairedImageDataset(dict(base, color='y'))
    for key in LOADER_KEYS + BASICSR_LOADER_KEYS:
        try:
            PairedImageDataset(dict(base, **{key: None}))
        except ValueError as e:
            assert 'unknown PairedImageDataset option' not in str(e), (key, e)  # only the empty folders fail
