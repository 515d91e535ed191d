"""The exported point's verdicts: where it loses to bicubic on both axes (used by the evaluate stage for
metrics.json and by the export stage, which refuses such a point without --force-export), and whether it beats every
compared model and the base on both axes (the report's first line and the one command's last)."""
from .dni_sweep import blend_name
from .sharpen_knob import chosen_amount, chosen_name
from .select import loses_to_bicubic
from .winner import confidence, losses_of, merge_rows, point_stats


def exported_amount(res, weight=None, sharpen=None):
    """The exported point's sharpening amount: ``sharpen`` when given (the export stage's), else the rule's for the
    rule's point (``weight`` None) and 0 for a --dni-weight one."""
    if sharpen is not None:
        return float(sharpen)
    return chosen_amount(res['dni']) if weight is None else 0.0


def exported_point(res, weight=None, sharpen=None):
    """``(name, summary)``: the exported point's name (the DNI rule's blend, or ``weight``'s, the finetune or the
    base; with its sharpening, ``exported_amount``) and the held-out pairs' summary holding it (without it when the
    sweep did not measure that point)."""
    w, summ = res['dni']['chosen'] if weight is None else float(weight), res['summary']
    amount = exported_amount(res, weight, sharpen)
    name = 'finetuned' if w == 1.0 else blend_name(w) if w or res['dni'].get('other') == 'partner' else 'base'
    if amount:
        name = chosen_name(blend_name(w), res['dni'], amount)
    row = res['dni']['summary'].get(name)
    return name, dict(summ, **({name: row} if name not in summ and row is not None else {}))


def exported_vs_bicubic(res, weight=None):
    """Where the exported point (``weight``: --dni-weight's) loses to bicubic on both axes
    (``pipeline.choice.select.loses_to_bicubic``): on the paired real LQ frames when there are some (they decide), else
    on the held-out pairs; None when it does not, or was not measured."""
    name, own = exported_point(res, weight)
    real = res.get('real') or {}
    if real.get('paired'):
        blends = (res['dni'].get('real') or {}).get('summary') or {}
        mine = dict(real['summary'], **({name: blends[name]} if name in blends else {}))
        if name in mine:
            lost = loses_to_bicubic(mine, name)
            return lost and {'name': name, 'where': 'on the real LQ frames', **lost}
    lost = loses_to_bicubic(own, name)
    return lost and {'name': name, 'where': 'on the held-out pairs', **lost}


def _deciding_rows(res):
    """``(rows, where, bicubic's summary)`` of the frames that decide: the paired real LQ frames' (with the blends'
    rows there), else the held-out pairs'."""
    real, dni = res.get('real') or {}, res['dni']
    if real.get('paired'):
        return (merge_rows(real['rows'], (dni.get('real') or {}).get('rows')),
                f'the {real["frames"]} held-out real LQ frames', real['summary'].get('bicubic'))
    return (merge_rows(res['selection']['rows'], dni.get('rows')), 'the held-out pairs',
            res['selection']['summary'].get('bicubic'))


def _point_in_rows(res, w, rows, amount=0.0):
    """The name the exported weight ``w`` (with the sharpening ``amount``) has in the deciding rows."""
    dni = res['dni']
    if amount:
        name = chosen_name(blend_name(w), dni, amount)
        return name if rows and f'{name}_psnr' in rows[0] else None
    if w == 0.0 and dni.get('other', 'base') == 'base':
        return 'base'
    keys = rows[0].keys() if rows else ()
    if f'{blend_name(w)}_psnr' in keys:
        return blend_name(w)
    return dni['finetune'] if w == 1.0 else None


def export_verdict(res, weight=None, sharpen=None):
    """The report's first line: whether the exported point (the rule's, or ``weight``'s; ``sharpen``: its
    sharpening, ``exported_amount``) beats every ``--compare`` model and the base on both axes (PSNR, LPIPS) on the
    frames that decide, with the numbers and their noise (``pipeline.choice.winner``), and its PSNR against bicubic's
    (a verdict, not a filter)."""
    w = float(res['dni']['chosen'] if weight is None else weight)
    rows, where, bic = _deciding_rows(res)
    point = _point_in_rows(res, w, rows, exported_amount(res, weight, sharpen))
    compared = [m for m in res['models'] if m not in ('bicubic', 'base', 'finetuned')]
    refs = [r for r in [*compared, 'base'] if r != point]
    stats = point_stats(rows, [point], refs) if point else None
    if not stats:
        return _psnr_verdict(res, w, point, [*compared, 'base'], where)
    st = stats[point]
    none = '' if compared else ' (the base is the only reference)'
    if not st['refs']:
        return (f'The export is the base itself: no point beat it on both axes on {where}{none}: PSNR '
                f'{st["psnr"]:.2f} dB, LPIPS {st["lpips"]:.4f}.')
    bicubic = ''
    if bic and 'psnr' in bic:
        side = 'above' if st['psnr'] >= bic['psnr'] else 'below'
        bicubic = f' Its PSNR is {side} bicubic\'s {bic["psnr"]:.2f} dB.'
    nums = (f'PSNR {st["psnr"]:.2f} dB (' + ', '.join(f'{r} {v["psnr"]:.2f}' for r, v in st['refs'].items())
            + f'), LPIPS {st["lpips"]:.4f} (' + ', '.join(f'{r} {v["lpips"]:.4f}' for r, v in st['refs'].items()) + ')')
    steady = flicker_phrase(res, point, st['refs'])
    if st['beats']:
        return (f'The export beats {" and ".join(st["refs"])} on both axes on {where}{none}: {nums}; '
                f'{confidence(st)}.{bicubic}{steady}')
    return (f'The export does not beat {" and ".join(st["refs"])} on both axes on {where}{none}: it loses to '
            + '; '.join(losses_of(st)) + f'.{bicubic}{steady}')


def flicker_phrase(res, point, refs):
    """`` Flicker ...``: the third axis of the first line, the exported point's flicker (static / warp, against
    bicubic) beside its references' (``refs``), when the run measured it (``--lq-videos``); else ''."""
    ratios = dict(((res['selection'].get('flicker') or {}).get('ratios') or {}), **(res['dni'].get('flicker') or {}))
    name = res['dni']['finetune'] if point == blend_name(1.0) else point
    mine = ratios.get(name)
    if not mine:
        return ''
    theirs = [f'{r} {ratios[r]["static"]:.2f} / {ratios[r]["warp"]:.2f}' for r in refs if ratios.get(r)]
    return (f' Flicker (static / warp, against bicubic): {mine["static"]:.2f} / {mine["warp"]:.2f}'
            + (f' ({", ".join(theirs)})' if theirs else '') + '.')


def _psnr_verdict(res, w, point, refs, where):
    """The first line when LPIPS was not measured (or the weight is off the swept grid): PSNR alone."""
    real, dni = res.get('real') or {}, res['dni']
    at = (dict(real['summary'], **(dni.get('real') or {}).get('summary', {})) if real.get('paired')
          else dict(res['selection']['summary'], **dni.get('summary', {})))
    if point is None or 'psnr' not in at.get(point, {}):
        return f'The export (DNI weight {w:g}, off the swept grid) was not measured: run without --dni-weight to see it.'
    mine = at[point]['psnr']
    nums = ', '.join(f'{r} {at[r]["psnr"]:.2f}' for r in refs if r != point and 'psnr' in at.get(r, {}))
    return (f'The export was not judged on perception (LPIPS not measured: python tools/download_models.py --names '
            f'alexnet lpips); on {where} its PSNR is {mine:.2f} dB ({nums}).')
