"""The sharpening strength, the knob after the DNI rule: the chosen point with a fixed unsharp mask after the network.

The mask is ``y = x + a (x - G * x)`` on the network's output, ``G`` a Gaussian of ``SIGMA`` HR pixels
(``models.archs.compact.sharpen``); its amount ``a`` is stored in the exported weights' arch, so every load path and
the export graph apply it. The compact network's outputs are soft where x4plus redraws texture, and a fine mask is
the cheapest perception it can buy: on the demo footage and the photo pairs 0.016-0.020 of LPIPS for 0.3-0.45 dB at
amount 0.5 (DISTS, not trained on, lower too), with no halo on the sheets (docs/experiments/perception_runs.md).

After the DNI rule has chosen its point (``dni_sweep.choose_weight``), that point with the mask at each of
``AMOUNTS`` is scored on the same frames with the same metrics (the held-out pairs, the real LQ frames, their
flicker), each variant refused when it flickers more than the base allows (``select.flicker_refusals``), and the
rule on both axes (``pipeline.choice.winner``) picks among the point and its variants against the same references
(the --compare models and the base): amount 0, the point as it is, keeps the choice unless a variant wins. Only
with LPIPS measured, only for a network that takes the mask (``models.archs.compact.sharpen.supports_sharpening``:
SRVGGNetCompact), and not with --dni-weight (the user's weight is exported as it is).
"""
import shutil
from pathlib import Path
from types import SimpleNamespace

from realesrgan_paddle.evaluation import model_cache as MT

from ..inputs.real_lq import score_flicker, score_frames
from .select import flicker_refusals
from .winner import choose_point, merge_rows

AMOUNTS = (0.25, 0.5, 0.75)
SIGMA = 1.5


def sharp_name(point, amount):
    """The name of ``point`` (a sweep name: ``dni_1.00``) with the mask at ``amount``; 0 is the point itself."""
    return point if not amount else f'{point}+usm{float(amount):g}'


def settings():
    """The evaluate stage's fingerprint of this knob."""
    return {'amounts': list(AMOUNTS), 'sigma': SIGMA}


def chosen_amount(dni):
    """The amount the rule chose for its point, from the sweep's result ``dni`` (0: none, or a run without the knob)."""
    return float((dni.get('sharpen') or {}).get('chosen') or 0.0)


def weights_io():
    """The weights-file functions the choice uses, at first use: their modules load paddle, and the pipeline's modules
    load before it. ``read_checkpoint`` (``models.loading``), ``write_dni`` (``models.dni``), ``supports_sharpening``
    and ``write_sharpened`` (``models.archs.compact.sharpen``)."""
    import realesrgan_paddle.models.archs.compact.sharpen as mask, realesrgan_paddle.models.dni as dni, \
        realesrgan_paddle.models.loading as loading  # noqa: E401
    return SimpleNamespace(read_checkpoint=loading.read_checkpoint, write_dni=dni.write_dni,
                           supports_sharpening=mask.supports_sharpening, write_sharpened=mask.write_sharpened)


def takes_mask(weights_file):
    """Whether the network of ``weights_file`` takes the mask (SRVGGNetCompact)."""
    io = weights_io()
    return io.supports_sharpening(io.read_checkpoint(weights_file)[1])


def write_variant(point_file, amount, dst):
    """``point_file``'s weights with the mask at ``amount`` written to ``dst`` (``Path``)."""
    return weights_io().write_sharpened(point_file, amount, dst, sigma=SIGMA)


def _score(nets, files, out, gt, lq, real, flicker_dir, iqa, progress):
    """Every variant of ``files`` ({name: weights file}) on the held-out pairs, the real LQ frames and the flicker
    frames, merged into the sweep's ``out`` (its summaries, rows and flicker ratios)."""
    got = nets.get(files, own=list(files))
    names = list(files)
    rows = MT.evaluate(got, gt, lq, iqa=iqa, progress=progress)
    out['summary'].update(MT.summarize(rows, names))
    out['rows'] = merge_rows(out['rows'], rows)
    if real and out.get('real'):
        rrows = score_frames(got, real['lq'], real.get('gt'), progress, iqa=iqa)
        out['real']['summary'].update(MT.summarize(rrows, names))
        out['real']['rows'] = merge_rows(out['real']['rows'], rrows)
    if flicker_dir:
        out.setdefault('flicker', {}).update(score_flicker(got, flicker_dir))


def _refused(ctx, out, flicker, names):
    """The variants that flicker more than the base allows (logged; none with --allow-flicker)."""
    if not flicker or not flicker.get('ratios'):
        return {}
    ratios = dict(out.get('flicker') or {}, base=flicker['ratios'].get('base'))
    refused = flicker_refusals(ratios, 'base', names)
    for why in refused.values():
        ctx.say(f'evaluate: sharpening {"allowed (--allow-flicker)" if ctx.s.allow_flicker else "refused"}: {why}')
    return {} if ctx.s.allow_flicker else refused


def _decide(out, point, names, deciding, match):
    """``(amount, reason)`` by the rule on both axes over ``point`` and its variants ``names`` ({name: amount})."""
    rows, where = deciding
    picked, _, why = choose_point(rows, [point, *names], [*match, 'base'], where)
    if picked is None:
        return 0.0, 'not judged (LPIPS missing for a variant)'
    return names.get(picked, 0.0), why


def run(ctx, nets, point_file, out, point, scored, deciding, match, tmp):
    """The knob's result, ``{'sigma', 'amounts', 'chosen', 'refused', 'reason'}``, or None when it does not apply.

    ``point_file``: the DNI rule's point's weights; ``out``: the sweep's result (variants merged into it);
    ``point``: the point's name in the deciding rows; ``scored``: ``(sel, gt, lq, real, flicker, iqa)`` as the
    sweep had them; ``deciding``: a function of ``out`` giving ``(rows, where)``, the frames that decide;
    ``match``: the --compare models the rule aims at; ``tmp``: a folder for the variants' files, removed after."""
    _, gt, lq, real, flicker, iqa = scored
    if 'lpips' not in (iqa or {}) or not takes_mask(point_file):
        return None
    tmp = Path(tmp)
    base_name = point if point != 'base' else 'dni_0.00'
    names = {sharp_name(base_name, a): a for a in AMOUNTS}
    ctx.say(f'evaluate: sharpening {point} (unsharp mask, sigma {SIGMA:g} px) at amounts '
            + ', '.join(f'{a:g}' for a in AMOUNTS))
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        files = {n: str(write_variant(point_file, a, tmp / f'usm{a:g}.pdparams')) for n, a in names.items()}
        _score(nets, files, out, gt, lq, real, (flicker or {}).get('dir'), iqa, not ctx.s.quiet)
    finally:
        nets.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    refused = _refused(ctx, out, flicker, list(names))
    amount, why = _decide(out, point, {n: a for n, a in names.items() if n not in refused}, deciding(out), match)
    ctx.say(f'evaluate: sharpening rule: amount {amount:g}: {why}')
    return {'sigma': SIGMA, 'amounts': list(AMOUNTS), 'point': base_name, 'chosen': amount,
            'refused': refused, 'reason': why}
