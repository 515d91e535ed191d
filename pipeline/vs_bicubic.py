"""Bicubic as a candidate: the point the export writes, and where it loses to bicubic on both axes (used by the
evaluate stage for metrics.json and by the export stage, which refuses such a point without --force-export)."""
from .dni_sweep import blend_name
from .select import loses_to_bicubic


def exported_point(res, weight=None):
    """``(name, summary)``: the exported point's name (the DNI rule's blend, or ``weight``'s, the finetune or the
    base) and the held-out pairs' summary holding it (without it when the sweep did not measure that weight)."""
    w, summ = res['dni']['chosen'] if weight is None else float(weight), res['summary']
    name = 'finetuned' if w == 1.0 else blend_name(w) if w or res['dni'].get('other') == 'partner' else 'base'
    row = res['dni']['summary'].get(name)
    return name, dict(summ, **({name: row} if name not in summ and row is not None else {}))


def exported_vs_bicubic(res, weight=None):
    """Where the exported point (``weight``: --dni-weight's) loses to bicubic on both axes
    (``pipeline.select.loses_to_bicubic``): on the paired real LQ frames when there are some (they decide), else
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
