"""PairPool: size adjustment and shuffling across batches."""
import logging

import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.datasets.pool import PairPool


@pytest.mark.parametrize('pool_size,batch,expect', [(180, 12, 180), (10, 4, 8), (7, 12, 12), (181, 12, 180)])
def test_pool_size_is_adjusted_with_a_log_line(pool_size, batch, expect, caplog):
    log = logging.getLogger('test.pool')
    with caplog.at_level(logging.INFO, logger='test.pool'):
        pool = PairPool(pool_size, batch, logger=log)
    assert pool.pool_size == expect and pool.pool_size % batch == 0
    assert (f'using {expect}' in caplog.text) == (expect != pool_size)


def test_pool_mixes_batches_and_keeps_pairs_aligned():
    pool = PairPool(12, 4, seed=0)
    out_ids = []
    for step in range(10):
        ids = np.arange(step * 4, step * 4 + 4, dtype=np.float32)
        lq = paddle.to_tensor(np.broadcast_to(ids[:, None, None, None], (4, 3, 2, 2)).copy())
        gt = paddle.to_tensor(np.broadcast_to(ids[:, None, None, None], (4, 3, 8, 8)).copy())
        gt_usm = gt + 0.5
        a, b, c = pool(lq, gt, gt_usm)
        assert a.shape == [4, 3, 2, 2] and b.shape == [4, 3, 8, 8]
        np.testing.assert_array_equal(a.numpy()[:, 0, 0, 0], b.numpy()[:, 0, 0, 0])  # pairs stay pairs
        np.testing.assert_array_equal(c.numpy()[:, 0, 0, 0], b.numpy()[:, 0, 0, 0] + 0.5)
        out_ids.append(a.numpy()[:, 0, 0, 0])
    late = np.concatenate(out_ids[4:])
    assert len(np.unique(late)) == len(late)  # nothing returned twice
    assert any(np.ptp(batch) > 4 for batch in out_ids[4:])  # batches mix pairs from different steps


def test_pool_bad_input():
    with pytest.raises(ValueError):
        PairPool(10, 0)
    pool = PairPool(8, 4)
    with pytest.raises(ValueError):
        pool(paddle.rand([4, 3, 2, 2]), paddle.rand([3, 3, 8, 8]))
    with pytest.raises(ValueError):
        pool(paddle.rand([2, 3, 2, 2]), paddle.rand([2, 3, 8, 8]))
    off = PairPool(0, 4)
    lq = paddle.rand([4, 3, 2, 2])
    assert off(lq, lq)[0] is lq
