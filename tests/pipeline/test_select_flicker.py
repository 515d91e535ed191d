"""The selection refuses a checkpoint that flickers more than 1.3x the base (pipeline.choice.select.flicker_refusals,
pipeline.stages.judge), measured on consecutive held-out LQ frames cut from a real photo, unless --allow-flicker."""
import math
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation.evaluator import Bicubic
from realesrgan_paddle.pipeline.stages import judge as SE
from realesrgan_paddle.pipeline.choice.select import flicker_refusals, flicker_worst


def test_flicker_refusals_rule():
    r = {'base': {'static': 1.0, 'warp': 0.9}, 'ok': {'static': 1.25, 'warp': 1.1},
         'boils': {'static': 1.2, 'warp': 1.45}, 'unknown': {'static': float('nan'), 'warp': float('nan')}}
    assert flicker_worst(r['boils']) == 1.45 and math.isnan(flicker_worst(r['unknown']))
    refused = flicker_refusals(r, 'base', ['ok', 'boils', 'unknown'])
    assert list(refused) == ['boils'] and '1.45x' in refused['boils'] and '--allow-flicker' in refused['boils']
    assert flicker_refusals(dict(r, base={'static': float('nan')}), 'base', ['boils']) == {}
    # a --compare model that flickers more than 1.3x the base raises the cap to its own: the steadiest of them
    r.update(x4plus={'static': 1.6, 'warp': 1.2}, other={'static': 2.0, 'warp': 1.0}, wild={'static': 1.7, 'warp': 1})
    refused = flicker_refusals(r, 'base', ['ok', 'boils', 'wild'], refs=['x4plus', 'other', 'missing'])
    assert list(refused) == ['wild'] and "and more than x4plus's 1.60x" in refused['wild']
    # one steadier than 1.3x the base changes nothing
    r['x4plus'] = {'static': 1.0, 'warp': 1.0}
    assert list(flicker_refusals(r, 'base', ['ok', 'boils'], refs=['x4plus'])) == ['boils']


class Noisy(Bicubic):
    """Bicubic plus new noise in every frame: texture that boils."""

    def __init__(self, scale, sigma=4.0):
        super().__init__(scale)
        self.rng, self.sigma = np.random.default_rng(0), sigma

    def upscale(self, img):
        out = super().upscale(img).astype(np.float64)
        return np.clip(out + self.rng.normal(0, self.sigma, out.shape), 0, 255).astype(np.uint8)


class Soft(Bicubic):
    def upscale(self, img):
        return cv2.GaussianBlur(super().upscale(img), (5, 5), 1.0)


@pytest.fixture()
def lq_folder(hr_photos, tmp_path):
    """10 consecutive frames of a still 'camera' on a real photo (48x48 LQ, the area shrink of a 192 px window)."""
    img = next(im for im in (cv2.imread(str(p)) for p in hr_photos) if im is not None and im.ndim == 3)
    h, w = img.shape[:2]
    window = img[h // 2 - 96:h // 2 + 96, w // 2 - 96:w // 2 + 96]
    lq = cv2.resize(window, (48, 48), interpolation=cv2.INTER_AREA)
    folder = tmp_path / 'lq'
    folder.mkdir()
    for i in range(10):
        cv2.imwrite(str(folder / f'f{i:03d}.png'), lq)
    return folder


class Nets:
    own_backend = "test"
    def __init__(self, ups):
        self.ups = ups

    def get(self, models, own=()):
        return {n: self.ups[n] for n in models}


def _ctx(tmp_path, folder, allow, compare=None):
    said = []
    s = SimpleNamespace(lq_videos=[str(folder)], allow_flicker=allow, quiet=True, holdout=0.5, hr_photos=[],
                        compare=compare or {})
    return SimpleNamespace(s=s, say=said.append, said=said)


@pytest.mark.parametrize('allow', [False, True])
def test_selection_refuses_the_flickering_checkpoint(lq_folder, tmp_path, monkeypatch, allow):
    from realesrgan_paddle.evaluation import model_cache as MT
    import realesrgan_paddle.pipeline.stages.data as SD
    monkeypatch.setattr(SD, 'split_holdout', lambda ctx: 0.5)
    ups = {'bicubic': Bicubic(4), 'base': Soft(4), 'iter_1': Noisy(4), 'iter_2': Soft(4)}
    models = {'base': 'b', 'iter_1': 'i1', 'iter_2': 'i2'}
    ctx = _ctx(tmp_path, lq_folder, allow)
    part = tmp_path / 'part'
    flicker = SE._flicker(ctx, part, Nets(ups), models)
    assert flicker['frames'] == 5 and len(list((part / 'flicker_lq').iterdir())) == 5  # the tail's first 5
    r = flicker['ratios']
    assert r['bicubic']['static'] == 1.0 and r['iter_1']['static'] > 1.5 and r['base']['static'] <= 1.0
    assert any(s.startswith('evaluate: flicker against bicubic (static / warp): bicubic 1.00 / 1.00') for s in ctx.said)
    # the held-out pairs say iter_1 is the best checkpoint, iter_2 the next
    summ = {'bicubic': {'psnr': 24.0, 'ssim': 0.78, 'detail': 0.1, 'niqe': 8.0},  # the selection pass scores it too
            'base': {'psnr': 25.0, 'ssim': 0.80, 'detail': 0.5, 'niqe': 6.0},
            'iter_1': {'psnr': 26.0, 'ssim': 0.82, 'detail': 0.55, 'niqe': 5.8},
            'iter_2': {'psnr': 25.6, 'ssim': 0.81, 'detail': 0.52, 'niqe': 5.9}}
    monkeypatch.setattr(MT, 'evaluate', lambda *a, **k: [{'image': 'x'}])
    monkeypatch.setattr(MT, 'summarize', lambda rows, names: {n: summ[n] for n in names})
    sel = SE._select(ctx, Nets(ups), models, {'iter_1': 1, 'iter_2': 2}, 'gt', 'lq', None, flicker)
    if allow:
        assert sel['chosen'] == 'iter_1' and not sel['refused_flicker']
        assert any('allowed (--allow-flicker)' in s for s in ctx.said)
    else:
        assert sel['chosen'] == 'iter_2' and list(sel['refused_flicker']) == ['iter_1']
        assert 'refused for flicker: iter_1 flickers' in sel['reason']
        assert any(s.startswith('evaluate: refused: iter_1') for s in ctx.said)


def test_a_checkpoint_steadier_than_the_compared_model_is_not_refused(lq_folder, tmp_path, monkeypatch):
    import realesrgan_paddle.pipeline.stages.data as SD
    monkeypatch.setattr(SD, 'split_holdout', lambda ctx: 0.5)
    ups = {'bicubic': Bicubic(4), 'base': Soft(4), 'iter_1': Noisy(4, sigma=2.0), 'x4': Noisy(4, sigma=6.0)}
    ctx = _ctx(tmp_path, lq_folder, False, compare={'x4': 'x4'})
    flicker = SE._flicker(ctx, tmp_path / 'part', Nets(ups), {'base': 'b', 'iter_1': 'i1'})
    r = flicker['ratios']
    assert r['x4']['static'] > r['iter_1']['static'] > 1.3 * r['base']['static']  # measured beside the checkpoints
    assert any(', x4 on 5 consecutive' in s for s in ctx.said)
    assert SE._refuse_flicker(ctx, flicker, {'iter_1': 1}) == ({'iter_1': 1}, {})
    without = _ctx(tmp_path, lq_folder, False)  # the same measure with no --compare model: refused
    assert list(SE._refuse_flicker(without, flicker, {'iter_1': 1})[1]) == ['iter_1']


def test_every_checkpoint_refused_exports_the_base(lq_folder, tmp_path, monkeypatch):
    from realesrgan_paddle.evaluation import model_cache as MT
    import realesrgan_paddle.pipeline.stages.data as SD
    monkeypatch.setattr(SD, 'split_holdout', lambda ctx: 0.5)
    ups = {'bicubic': Bicubic(4), 'base': Soft(4), 'iter_1': Noisy(4)}
    ctx = _ctx(tmp_path, lq_folder, False)
    flicker = SE._flicker(ctx, tmp_path / 'part', Nets(ups), {'base': 'b', 'iter_1': 'i1'})
    summ = {'bicubic': {'psnr': 24.0, 'ssim': 0.78, 'detail': 0.1, 'niqe': 8.0},
            'base': {'psnr': 25.0, 'ssim': 0.80, 'detail': 0.5, 'niqe': 6.0},
            'iter_1': {'psnr': 26.0, 'ssim': 0.82, 'detail': 0.55, 'niqe': 5.8}}
    monkeypatch.setattr(MT, 'evaluate', lambda *a, **k: [{'image': 'x'}])
    monkeypatch.setattr(MT, 'summarize', lambda rows, names: {n: summ[n] for n in names})
    sel = SE._select(ctx, Nets(ups), {'base': 'b', 'iter_1': 'i1'}, {'iter_1': 1}, 'gt', 'lq', None, flicker)
    assert sel['chosen'] == 'base' and sel['reason'].startswith('every checkpoint is refused for flicker')
    assert sel['shown'] == 'iter_1'  # the DNI knob still blends with the best checkpoint


def test_report_flicker_section(lq_folder, tmp_path):
    from realesrgan_paddle.pipeline.report.doc import Doc
    from realesrgan_paddle.pipeline.report.page import flicker_section
    res = {'selection': {'flicker': {'frames': 5, 'source': 'lq', 'ratios': {
        'bicubic': {'static': 1.0, 'warp': 1.0}, 'base': {'static': 0.9, 'warp': 0.95},
        'iter_1': {'static': 3.1, 'warp': 2.7}}}, 'refused_flicker': {'iter_1': 'iter_1 flickers 3.10x'}}}
    d = Doc()
    flicker_section(d, res)
    md = d.markdown()
    assert '| iter_1 | 3.1000 | 2.7000 | 3.1000 | refused |' in md and '| base | 0.9000 | 0.9500 | 0.9500 |  |' in md
    assert '**Refused for flicker:** iter_1 flickers 3.10x.' in md
    d2 = Doc()
    flicker_section(d2, {'selection': {}})
    assert d2.markdown().strip() == ''


@pytest.mark.parametrize('allow', [False, True])
def test_dni_blends_are_refused_like_checkpoints(tmp_path, allow):
    """pipeline.choice.dni_sweep.refuse_flicker: a blend flickering over 1.3x the base's is refused (not with
    --allow-flicker); weight 1 carries the checkpoint's own ratios, weight 0 is the base unless a partner."""
    from realesrgan_paddle.pipeline.choice.dni_sweep import refuse_flicker
    ctx = _ctx(tmp_path, tmp_path, allow)
    flicker = {'ratios': {'base': {'static': 1.0, 'warp': 0.9}, 'iter_2': {'static': 1.5, 'warp': 1.0}}}
    out = {'finetune': 'iter_2', 'weights': [0.0, 0.4, 0.6, 1.0],
           'flicker': {'dni_0.40': {'static': 1.1, 'warp': 1.0}, 'dni_0.60': {'static': 1.2, 'warp': 1.35}}}
    refused = refuse_flicker(ctx, out, flicker, partner=False)
    if allow:
        assert refused == {} and sum('DNI blend allowed (--allow-flicker): dni_' in s for s in ctx.said) == 2
    else:
        assert sorted(refused) == ['dni_0.60', 'dni_1.00'] and '1.35x' in refused['dni_0.60']
        assert any(s.startswith('evaluate: DNI blend refused: dni_1.00 flickers 1.50x') for s in ctx.said)
    assert refuse_flicker(ctx, out, None, partner=False) == {}
    # with a partner, weight 0 is a candidate measured like the blends
    out['flicker']['dni_0.00'] = {'static': 2.0, 'warp': 2.0}
    assert ('dni_0.00' in refuse_flicker(_ctx(tmp_path, tmp_path, False), out, flicker, partner=True))
    assert ('dni_0.00' not in refuse_flicker(_ctx(tmp_path, tmp_path, False), out, flicker, partner=False))
