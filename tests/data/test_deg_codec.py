"""The video-codec degradation (data.degrade.codec), its options, the codec cache and the LQ statistics."""
import subprocess

import cv2
import numpy as np
import pytest

from realesrgan_paddle.data.degrade import codec
from realesrgan_paddle.data.fit import lq_stats
from realesrgan_paddle.data.degrade.codec_cache import CodecCache, clip_groups, degrade_images
from realesrgan_paddle.data.degrade.second_order import degrade_image, resolve_options


def _photo(name, size):
    from skimage import data as skdata
    img = cv2.cvtColor(getattr(skdata, name)(), cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[(h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size])


@pytest.fixture(scope='module')
def frames():
    """Five frames of a pan across a photo (a clip with motion)."""
    img = _photo('astronaut', 200)
    return [np.ascontiguousarray(img[4 * k:4 * k + 96, 2 * k:2 * k + 130]) for k in range(5)]


def test_roundtrip_matches_ffmpeg_own_encode(frames, tmp_path):
    out, nbytes = codec.codec_roundtrip(frames, 'libx264', 30, 'veryfast')
    assert len(out) == 5 and out[0].shape == frames[0].shape and out[0].dtype == np.uint8
    raw_in = tmp_path / 'frames.bgr'
    raw_in.write_bytes(b''.join(f.tobytes() for f in frames))
    exe = codec.codec_exe()
    mp4 = tmp_path / 'clip.mp4'  # ffmpeg's own encode of the same pixels into a file, decoded by ffmpeg
    subprocess.run([exe, '-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', '130x96', '-r', '25',
                    '-i', str(raw_in), *codec.encode_args('libx264', 30, 'veryfast'), str(mp4)], check=True)
    raw = subprocess.run([exe, '-v', 'error', '-i', str(mp4), '-f', 'rawvideo', '-pix_fmt', 'bgr24', 'pipe:1'],
                         check=True, capture_output=True).stdout
    ref = np.frombuffer(raw, np.uint8).reshape(5, 96, 130, 3)
    for a, b in zip(out, ref):
        assert np.array_equal(a, b)  # the same encoder and settings: the same pixels
    assert 0 < nbytes < 0.5 * sum(f.nbytes for f in frames)
    assert codec.bits_per_pixel(nbytes, frames) == pytest.approx(8.0 * nbytes / (5 * 96 * 130))


def test_crf_orders_quality_and_odd_sizes(frames):
    odd = [f[:95, :129] for f in frames[:2]]
    errs, sizes = [], []
    for crf in (18, 34):
        out, n = codec.codec_roundtrip(odd, 'libx264', crf, 'ultrafast')
        assert out[0].shape == (95, 129, 3)
        errs.append(np.abs(out[0].astype(int) - odd[0]).mean())
        sizes.append(n)
    assert errs[0] < errs[1] and sizes[0] > sizes[1]


@pytest.mark.parametrize('kwargs, match', [({'codec': 'libvpx'}, 'codec must be'), ({'crf': 60}, 'crf must be'),
                                           ({'preset': 'fastest'}, 'preset must be')])
def test_roundtrip_bad_arguments(frames, kwargs, match):
    with pytest.raises(ValueError, match=match):
        codec.codec_roundtrip(frames[:1], **kwargs)


def test_roundtrip_bad_frames(frames):
    with pytest.raises(ValueError, match='equal-size'):
        codec.codec_roundtrip([frames[0], frames[1][:50]])
    with pytest.raises(ValueError, match='no frames'):
        codec.codec_roundtrip([])


def test_options_validated_by_name():
    with pytest.raises(ValueError, match='codec_list'):
        resolve_options({'codec_list': ['mpeg2']})
    with pytest.raises(ValueError, match='codec_reuse'):
        resolve_options({'codec_reuse': 0})
    with pytest.raises(ValueError, match='codec_crf_range'):
        resolve_options({'codec_crf_range': [20, 70]})


def test_degrade_image_codec_and_jpeg_switches():
    img = _photo('coffee', 128)
    base = {'second_blur_prob': 0.0, 'gaussian_noise_prob': 0.0, 'gaussian_noise_prob2': 0.0,
            'noise_range': [0, 0], 'noise_range2': [0, 0], 'usm_weight': 0.0}
    lq, p = degrade_image(img, {**base, 'jpeg_prob': 0.0, 'jpeg_prob2': 0.0}, seed=3)
    assert p['jpeg_quality1'] is None and p['jpeg_quality2'] is None and 'codec' not in p
    lq2, p2 = degrade_image(img, {**base, 'jpeg_prob': 0.0, 'jpeg_prob2': 0.0, 'codec_prob': 1.0,
                                  'codec_crf_range': [30, 30]}, seed=3)
    assert p2['codec'] == 'libx264' and p2['codec_crf'] == 30 and lq2.shape == lq.shape == (32, 32, 3)
    assert np.abs(lq2.astype(int) - lq).mean() > 0.5  # the codec changed the pixels
    lq3, p3 = degrade_image(img, {**base, 'jpeg_prob': 0.0}, seed=3)
    assert p3['jpeg_quality1'] is None and p3['jpeg_quality2'] is not None


def test_clip_groups_by_source_and_size():
    paths = ['a/cam_0001.png', 'a/cam_0002.png', 'a/cam_0003.png', 'a/other_0001.png', 'b/cam_0001.png']
    sizes = [(8, 8)] * 5
    assert clip_groups(paths, sizes, 2) == [[0, 1], [2], [3], [4]]
    assert sorted(clip_groups(paths, [(8, 8), (9, 9), (8, 8), (8, 8), (8, 8)], 3)) == [[0, 2], [1], [3], [4]]


def test_codec_cache_generations_and_dataset(tmp_path):
    from realesrgan_paddle.data.datasets import RealESRGANDataset
    for i, name in enumerate(('coffee', 'chelsea')):
        cv2.imwrite(str(tmp_path / f'{name}.png'), _photo(name, 128))
    opt = resolve_options({'codec_prob': 1.0, 'codec_reuse': 1, 'codec_preset': 'ultrafast', 'usm_weight': 0.0})
    paths = sorted(str(p) for p in tmp_path.glob('*.png'))
    cache = CodecCache(paths, opt, 4, seed=1)
    g0 = [cache.lq(i) for i in range(2)]
    g1 = [cache.lq(i) for i in range(2)]  # reuse 1: the second pass is a new generation
    assert g0[0].shape == (32, 32, 3) and not np.array_equal(g0[0], g1[0])
    again = CodecCache(paths, opt, 4, seed=1)
    assert np.array_equal(again.lq(0), g0[0])  # seeded: reproducible
    ds = RealESRGANDataset(str(tmp_path), crop_pad_size=64, seed=0, codec_prob=1.0, codec_preset='ultrafast',
                           usm_weight=0.0)
    item = ds[0]
    assert item['gt'].shape == (3, 64, 64) and item['lq'].shape == (3, 16, 16)


def test_degrade_images_same_draw_per_clip():
    imgs = [_photo('coffee', 64)] * 2
    opt = resolve_options({'codec_prob': 1.0, 'codec_clip': 2, 'codec_crf_range': [20, 40], 'usm_weight': 0.0,
                           'second_blur_prob': 0.0, 'noise_range': [0, 0], 'noise_range2': [0, 0],
                           'jpeg_prob': 0.0, 'jpeg_prob2': 0.0, 'blur_sigma': [0.5, 0.5], 'kernel_list': ['iso'],
                           'kernel_prob': [1.0], 'sinc_prob': 0.0, 'final_sinc_prob': 0.0,
                           'resize_prob': [0, 0, 1], 'resize_prob2': [0, 0, 1], 'resize_mode_list': ['area']})
    lqs = degrade_images(imgs, ['c_1.png', 'c_2.png'], opt, 4, np.random.default_rng(0))
    assert len(lqs) == 2 and lqs[0].shape == (16, 16, 3)


def test_lq_stats_recover_known_noise_and_blocks():
    img = _photo('coffee', 256)
    flat = np.full((128, 128, 3), 120, np.uint8)
    rng = np.random.default_rng(0)
    noisy = np.clip(flat + rng.normal(0, 6, (128, 128, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)
    s = lq_stats.frame_stats(noisy)
    assert 4.5 < s['noise_y'] < 7.5 and s['noise_c'] < 1.0  # gray (luma-only) noise
    colour = np.clip(flat + rng.normal(0, 6, (128, 128, 3)), 0, 255).astype(np.uint8)
    assert lq_stats.frame_stats(colour)['noise_c'] > 2.0
    ok, enc = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 15])
    jpg = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    assert lq_stats.blockiness(lq_stats.ycc(jpg)[0], 8) > lq_stats.blockiness(lq_stats.ycc(img)[0], 8) + 0.2
    blurred = cv2.GaussianBlur(img, (0, 0), 1.5)
    rel = lq_stats.set_stats([blurred], [img])
    assert rel['fine'] < 0.3 and rel['mid'] < 0.8
    assert lq_stats.set_stats([img], [img])['fine'] == pytest.approx(1.0)


def test_jpeg_quality_and_stream_info(frames, tmp_path):
    img = _photo('coffee', 128)
    p = tmp_path / 'q.jpg'
    cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 63])
    assert lq_stats.jpeg_quality(str(p)) == 63
    png = tmp_path / 'x.png'
    cv2.imwrite(str(png), img)
    assert lq_stats.jpeg_quality(str(png)) is None
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f'f{i}.png'), f)
    mp4 = tmp_path / 'v.mp4'
    subprocess.run([codec.codec_exe(), '-v', 'error', '-framerate', '25', '-i', str(tmp_path / 'f%d.png'),
                    *codec.encode_args('libx264', 28, 'veryfast'), str(mp4)], check=True)
    info = lq_stats.stream_info(mp4)
    assert info['codec'] == 'h264' and (info['width'], info['height']) == (130, 96)
    assert info['pix_fmt'] == 'yuv420p' and info['bpp'] is not None and 0 < info['bpp'] < 24


def test_pan_clip_and_p_frame_coding():
    """``codec_pan``: the image is coded after a pan over it, as a P frame (a stream's inter frame), not as
    the intra frame of a clip of one."""
    img = _photo('astronaut', 96)
    clip = codec.pan_clip(img, 3, 2.0, 0.0)
    assert len(clip) == 4 and clip[-1] is img
    assert np.array_equal(clip[0][:, 6 + 10:90], img[:, 10:90 - 6])  # 3 frames x 2 px to the right
    assert np.array_equal(clip[2][:, 2:], img[:, :-2])
    opt = resolve_options({'codec_prob': 1.0, 'codec_pan': 4, 'codec_pan_px': 1.0, 'codec_crf_range': [24, 24]})
    draw = codec.sample_codec(opt, np.random.default_rng(0))
    assert 0 <= draw['pan_angle'] < 360 and draw['crf'] == 24
    ((p_frame,),) = codec.apply_codec([[img]], [draw], [opt])
    ref = codec.codec_roundtrip(codec.pan_clip(img, 4, 1.0, draw['pan_angle']), 'libx264', 24)[0]
    assert p_frame.shape == img.shape and np.array_equal(p_frame, ref[-1])
    intra = codec.codec_roundtrip([img], 'libx264', 24)[0][0]
    assert not np.array_equal(intra, p_frame)
    # without a pan nothing more is drawn: options without it keep their random stream
    plain = resolve_options({'codec_prob': 1.0})
    assert 'pan_angle' not in codec.sample_codec(plain, np.random.default_rng(0))


def test_pan_options_validated():
    with pytest.raises(ValueError, match='codec_pan'):
        resolve_options({'codec_pan': -1})
    with pytest.raises(ValueError, match='codec_pan_px'):
        resolve_options({'codec_pan': 2, 'codec_pan_px': 0})
    with pytest.raises(ValueError, match='exclude each other'):
        resolve_options({'codec_pan': 2, 'codec_clip': 3})


def test_cache_close_stops_the_builder_between_images(tmp_path):
    """close() ends the next generation's builder within one image: a daemon thread left inside cv2 or paddle
    when the interpreter exits aborts the process (the partner run of 2 iterations did, exit -6)."""
    import threading
    import time

    from realesrgan_paddle.data.degrade.codec_cache import CacheClosed
    opt = resolve_options({'codec_prob': 1.0, 'codec_reuse': 1, 'codec_preset': 'ultrafast', 'usm_weight': 0.0})
    img = _photo('coffee', 64)
    n, calls = 12, []

    def read(path):  # generation 0 reads fast; generation 1 takes 0.3 s per image (3.6 s in all)
        calls.append(path)
        if len(calls) > n:
            time.sleep(0.3)
        return img
    cache = CodecCache([f'c_{i}.png' for i in range(n)], opt, 4, seed=1, read=read)
    assert cache.lq(0).shape == (16, 16, 3)  # generation 0 served; generation 1 is being built
    builders = [t for t in threading.enumerate() if t.name == 'codec-cache-1']
    assert builders and builders[0].is_alive()
    at_close = len(calls)
    cache.close()
    assert not builders[0].is_alive()
    assert len(calls) <= at_close + 1 < 2 * n  # generation 1 stopped within the image it was reading
    with pytest.raises(CacheClosed):
        for i in range(1, 2 * n):  # the rest of generation 0, then generation 1: closed
            cache.lq(i % n)


def test_roundtrip_many_is_each_roundtrip_byte_for_byte(frames, tmp_path, monkeypatch):
    """Clips sharing ffmpeg processes (one encoder and decoder each) give what each clip gives alone: several
    sizes (odd ones padded), clip lengths, CRFs, presets, and libx265 (its own encoding process) among them."""
    jobs = [(frames, 'libx264', 30, 'veryfast'), (frames[:1], 'libx264', 22.5, 'medium'),
            ([f[:71, :93] for f in frames[:3]], 'libx264', 40, 'medium'), ([f[:64] for f in frames[:2]], 'libx265', 28, 'medium'),
            ([frames[4][:51, :77]], 'libx265', 33, 'medium'), ([frames[2][:33, :129]], 'libx264', 18, 'medium')]
    monkeypatch.setenv('TMPDIR', str(tmp_path))  # the batch's frame and stream files are removed afterwards
    import tempfile
    monkeypatch.setattr(tempfile, 'tempdir', None)
    spawned = []
    run = codec._run
    monkeypatch.setattr(codec, '_run', lambda cmd, data, what: spawned.append(what) or run(cmd, data, what))
    got = codec.roundtrip_many(jobs, batch=4)
    assert spawned.count('batched encoding') == 4 and spawned.count('batched decoding') == 2  # x265 alone
    assert list(tmp_path.iterdir()) == []
    for (clip, c, crf, preset), (out, nbytes) in zip(jobs, got):
        ref, ref_bytes = codec.codec_roundtrip(clip, c, crf, preset)
        assert nbytes == ref_bytes and len(out) == len(ref) == len(clip)
        assert all(a.shape == f.shape and np.array_equal(a, b) for a, b, f in zip(out, ref, clip))
    with pytest.raises(ValueError, match='crf'):
        codec.roundtrip_many([(frames, 'libx264', 80, 'medium')])
    assert codec.roundtrip_many([]) == []


def test_degrade_images_codes_clips_in_batches_as_one_by_one(monkeypatch):
    """``degrade_images`` codes its clips in batches (``CODEC_BATCH``) with the draws of coding them in turn:
    the same LQ as one ffmpeg pair per clip, for plain clips and for pan clips."""
    from realesrgan_paddle.data.degrade import codec_cache
    imgs = [_photo(n, 72) for n in ('coffee', 'astronaut', 'chelsea')] * 2
    names = [f'{n}_{k}.png' for k, n in enumerate('aabbcc')]
    for extra in ({'codec_clip': 2}, {'codec_pan': 2}):
        opt = resolve_options({'codec_prob': 0.5, 'codec_crf_range': [20, 40], 'second_blur_prob': 0.0, **extra})
        with monkeypatch.context() as m:
            m.setattr(codec_cache, 'CODEC_BATCH', 2)
            batched = degrade_images(imgs, names, opt, 4, np.random.default_rng(6))
        rng = np.random.default_rng(6)
        lqs, clips, draws = codec_cache.degrade_uncoded(imgs, names, opt, 4, rng)
        assert any(d is None for d in draws) and any(d is not None for d in draws)
        for clip, draw in zip(clips, draws):
            for i, c in zip(clip, codec.apply_codec([[lqs[i] for i in clip]], [draw], [opt])[0]):
                lqs[i] = c
        assert all(np.array_equal(a, b) for a, b in zip(batched, lqs))
