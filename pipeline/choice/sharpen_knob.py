"""The sharpening strength, the knob after the DNI rule: the chosen point with a fixed unsharp mask after the network.

The mask is ``y = x + a (x - G * x)`` on the network's output, ``G`` a Gaussian of ``SIGMA`` HR pixels
(``models.archs.compact.sharpen``); its amount ``a`` is stored in the exported weights' arch, so every load path and
the export graph apply it. The compact network's outputs are soft where x4plus redraws texture, and a fine mask is
the cheapest perception it can buy: on the demo footage and the photo pairs 0.016-0.020 of LPIPS for 0.3-0.45 dB at
amount 0.5 (DISTS, not trained on, lower too), with no halo on the sheets (docs/experiments/perception_runs.md).

After the DNI rule has chosen its point (``dni_sweep.choose_weight``), that point with the mask at each of
``AMOUNTS`` is scored on the same frames with the same metrics (the held-out pairs, the real LQ frames, their
flicker), each variant refused when it flickers more than the base and the --compare models allow
(``select.refuse_for_flicker``), and the rule on both axes (``pipeline.choice.winner``) picks among the point and
its variants against the same references
(the --compare models and the base): amount 0, the point as it is, keeps the choice unless a variant wins. Only
with LPIPS measured, only for a network that takes the mask (``models.archs.compact.sharpen.supports_sharpening``:
SRVGGNetCompact), and not with --dni-weight (the user's weight is exported as it is).

The grid (``GRID``) crosses amounts with the Gaussian's sigma: a finer mask buys more LPIPS per dB on some footage
and a wider one on other sets, so the rule, not a constant, picks it. A variant whose detail on the deciding frames
passes the GT's by more than ``DETAIL_CAP`` (``evaluation``'s detail ratio, 1 = as detailed as the GT) is refused
before the rule, as a flickering one is: past it the mask draws halos and grain that LPIPS forgives.
"""
import shutil
from pathlib import Path
from types import SimpleNamespace

from realesrgan_paddle.evaluation import model_cache as MT

from ..inputs.real_lq import score_flicker, score_frames
from .select import measured, refuse_for_flicker
from .winner import choose_point, merge_rows

SIGMA = 1.5  # HR pixels: the sigma a name leaves out
AMOUNTS = (0.25, 0.5, 0.75)
GRID = tuple((s, a) for s in (0.75, SIGMA) for a in AMOUNTS)  # (sigma, amount): every variant scored
DETAIL_CAP = 1.25  # a variant's detail over the GT's, above which it is refused


def sharp_name(point, amount, sigma=SIGMA):
    """The name of ``point`` (a sweep name: ``dni_1.00``) with the mask at ``amount`` and ``sigma`` (named only when
    not ``SIGMA``: ``dni_1.00+usm0.5``, ``dni_1.00+usm0.5s1``); amount 0 is the point itself."""
    if not amount:
        return point
    return f'{point}+usm{float(amount):g}' + ('' if float(sigma) == SIGMA else f's{float(sigma):g}')


def settings():
    """The evaluate stage's fingerprint of this knob."""
    return {'grid': [list(g) for g in GRID], 'detail_cap': DETAIL_CAP}


def chosen_amount(dni):
    """The amount the rule chose for its point, from the sweep's result ``dni`` (0: none, or a run without the knob)."""
    return float((dni.get('sharpen') or {}).get('chosen') or 0.0)


def chosen_sigma(dni):
    """The sigma of the rule's variant (``SIGMA`` when it kept the point, or in a run without the knob)."""
    return float((dni.get('sharpen') or {}).get('sigma') or SIGMA)


def chosen_name(point, dni, amount):
    """``point``'s name with the mask at ``amount`` and the rule's sigma (the export's name; amount 0: ``point``)."""
    return sharp_name(point, amount, chosen_sigma(dni))


def grid_of(sh):
    """``[(sigma, amount), ...]`` the knob's result ``sh`` scored (a run before the sigma grid: its amounts at its
    sigma)."""
    if sh.get('grid'):
        return [(float(s), float(a)) for s, a in sh['grid']]
    return [(float(sh.get('sigma') or SIGMA), float(a)) for a in sh.get('amounts', ())]


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


def write_variant(point_file, amount, dst, sigma=SIGMA):
    """``point_file``'s weights with the mask at ``amount`` and ``sigma`` written to ``dst`` (``Path``)."""
    return weights_io().write_sharpened(point_file, amount, dst, sigma=sigma)


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
    ratios = dict(flicker['ratios'], **(out.get('flicker') or {}))  # the base, the --compare models, the variants
    return refuse_for_flicker(ctx, ratios, names, 'sharpening ')


def overshoots(summary, names, cap=DETAIL_CAP):
    """``{name: why}``: the variants whose detail (``summary``: the deciding frames' means) is above ``cap``."""
    out = {}
    for n in names:
        d = (summary.get(n) or {}).get('detail')
        if measured(d) and d > cap:
            out[n] = f'{n}: detail {d:.2f}, past the GT\'s by more than {cap:g}x'
    return out


def _deciding_summary(out, real):
    """The means of the frames that decide: the real LQ frames' when they have HR frames, else the held-out pairs'."""
    if real and real.get('gt') and out.get('real'):
        return out['real']['summary']
    return out['summary']


def _decide(out, point, names, deciding, match):
    """``(amount, sigma, reason)`` by the rule on both axes over ``point`` and its variants ``names``
    ({name: (sigma, amount)})."""
    rows, where = deciding
    picked, _, why = choose_point(rows, [point, *names], [*match, 'base'], where)
    if picked is None:
        return 0.0, SIGMA, 'not judged (LPIPS missing for a variant)'
    sigma, amount = names.get(picked, (SIGMA, 0.0))
    return amount, sigma, why


def run(ctx, nets, point_file, out, point, scored, deciding, match, tmp):
    """The knob's result, ``{'sigma', 'grid', 'point', 'chosen', 'refused', 'reason'}`` (``sigma``: the chosen
    variant's; ``grid_of`` reads the grid, and the amounts of a run made before it), or None when it does not apply.

    ``point_file``: the DNI rule's point's weights; ``out``: the sweep's result (variants merged into it);
    ``point``: the point's name in the deciding rows; ``scored``: ``(sel, gt, lq, real, flicker, iqa)`` as the
    sweep had them; ``deciding``: a function of ``out`` giving ``(rows, where)``, the frames that decide;
    ``match``: the --compare models the rule aims at; ``tmp``: a folder for the variants' files, removed after."""
    _, gt, lq, real, flicker, iqa = scored
    if 'lpips' not in (iqa or {}) or not takes_mask(point_file):
        return None
    tmp = Path(tmp)
    base_name = point if point != 'base' else 'dni_0.00'
    names = {sharp_name(base_name, a, s): (s, a) for s, a in GRID}
    ctx.say(f'evaluate: sharpening {point} (unsharp mask) at ' + ', '.join(
        f'amount {a:g} sigma {s:g} px' for s, a in GRID))
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        files = {n: str(write_variant(point_file, a, tmp / f'usm{a:g}s{s:g}.pdparams', s))
                 for n, (s, a) in names.items()}
        _score(nets, files, out, gt, lq, real, (flicker or {}).get('dir'), iqa, not ctx.s.quiet)
    finally:
        nets.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    refused = _refused(ctx, out, flicker, list(names))
    for n, why in overshoots(_deciding_summary(out, real), [n for n in names if n not in refused]).items():
        ctx.say(f'evaluate: sharpening refused: {why}')
        refused[n] = why
    amount, sigma, why = _decide(out, point, {n: v for n, v in names.items() if n not in refused}, deciding(out),
                                 match)
    ctx.say(f'evaluate: sharpening rule: amount {amount:g}' + (f', sigma {sigma:g} px' if amount else '') + f': {why}')
    return {'sigma': sigma, 'grid': [list(g) for g in GRID], 'point': base_name, 'chosen': amount,
            'refused': refused, 'reason': why}
