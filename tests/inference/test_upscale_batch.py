"""``Upscaler.upscale_batch``: one forward for same-size images when ``batch_fits``, else ``upscale`` one by one;
the pictures are ``upscale``'s either way."""
import numpy as np
import pytest


@pytest.fixture(scope='module')
def frames(photo):
    return [np.ascontiguousarray(photo[i:i + 21, 2 * i:2 * i + 27]) for i in range(3)]  # odd sizes: padded


def _counting(up):
    calls = []
    forward = up.backend.forward
    up.backend.forward = lambda x: calls.append(x.shape[0]) or forward(x)
    return calls


@pytest.mark.parametrize('name', ['srvgg_x4', 'rrdb_x2'])  # rrdb_x2: inputs padded to multiples of 2
def test_one_forward_and_the_same_pictures(tiny_models, export_cache, frames, name):
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(tiny_models[name], precision='fp32', cache_root=export_cache)
    assert up.batch_fits(3, 21, 27)
    singles = [up.upscale(f) for f in frames]
    calls = _counting(up)
    batched = up.upscale_batch(frames)
    assert calls == [3]
    for b, single in zip(batched, singles):
        assert b.shape == single.shape and b.dtype == single.dtype
        assert np.abs(b.astype(int) - single).max() <= 1


def test_one_by_one_when_a_batch_would_not_match_upscale(tiny_models, export_cache, frames):
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(tiny_models['srvgg_x4'], precision='fp32', cache_root=export_cache)
    calls = _counting(up)
    outs = up.upscale_batch(frames, outscale=2.5)  # a final resize
    assert calls == [1, 1, 1] and outs[0].shape == up.upscale(frames[0], 2.5).shape
    del calls[:]
    up.upscale_batch([frames[0], frames[1][:20]])  # sizes differ
    up.upscale_batch([f[:, :, 0] for f in frames[:2]])  # gray
    assert calls == [1] * 4
    assert not up.batch_fits(3, 21, 27, outscale=2.5)
    assert up.upscale_batch([]) == []


def test_batch_fits_follows_tiles_pre_pad_and_backend(tiny_models, export_cache):
    from realesrgan_paddle.inference import Upscaler
    w = tiny_models['srvgg_x4']
    assert not Upscaler(w, tile=16, precision='fp32', cache_root=export_cache).batch_fits(2, 21, 27)
    assert Upscaler(w, tile=32, precision='fp32', cache_root=export_cache).batch_fits(2, 21, 27)
    assert not Upscaler(w, pre_pad=2, precision='fp32', cache_root=export_cache).batch_fits(2, 21, 27)
    assert not Upscaler(w, backend='dynamic').batch_fits(2, 21, 27)
    auto = Upscaler(w, precision='fp32', cache_root=export_cache, max_memory='64M')
    assert not auto.batch_fits(4, 2000, 2000)  # the memory plan needs tiles: not in one forward
