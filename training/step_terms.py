"""One training step's loss terms: the inputs each reads (``StepRefs``), their weighted values, and the extra data
sources they read (``datasets.real_lq``, ``real_lq_pairs``, ``real_pairs``, or a registered one: built once per run;
the real pairs are a second batch through the terms they name).

The terms themselves, their targets and the sources' registry are ``training/loss_terms.py``'s.
"""
from .loss_terms import SOURCE_REGISTRY, TARGET_REGISTRY, default_pair_names


def build_sources(opt, rank, logger):
    """``{key: source}`` of every registered source the options set, each built once."""
    ds, out = opt.get('datasets') or {}, {}
    for key, s in SOURCE_REGISTRY.items():
        if ds.get(key):
            out[key] = s.make(ds[key], opt, rank, logger)
    return out


def style_name(name):
    """The log name of a perceptual loss's second (style) term."""
    return name.replace('percep', 'style') if 'percep' in name else f'{name}_style'


def evaluate(terms, refs):
    """``{log name: weighted term}`` of ``terms`` (no gan ones) on one step's ``refs`` (``StepRefs``)."""
    out = {}
    for t in terms:
        if t.target == 'gan':
            continue
        v = t.loss(*(refs.get(i, t) for i in t.inputs))
        if isinstance(v, tuple):  # the perceptual loss: (features, style), either None when its weight is 0
            for name, part in ((t.name, v[0]), (style_name(t.name), v[1])):
                if part is not None:
                    out[name] = t.weight * part
        else:
            out[t.name] = t.weight * v
    return out


class StepRefs:
    """What one step's terms read, each computed once when a term first asks for it (``once``).

    The term's target gives its inputs (``training/loss_terms.py``: ``output``, ``target``, ``input``, and a target's
    own, as ``lq_pair``'s); every target shares ``ema_output``, the EMA generator's output on the training LQ (the
    current output, detached, without EMA), and ``redrawn``, the output on the target's input with its noise and
    codec drawn again (the term's ``noise_sigma``/``jpeg_quality``). ``values``: the step's ``gt``, ``gt_usm`` and
    ``output``; ``lq``: its training LQ; ``model``: the trainer (its ``net_g``, ``sources``, ...)."""

    def __init__(self, model, lq, gt, gt_usm, output, teacher=None):
        self.model, self.lq, self.values = model, lq, {'gt': gt, 'gt_usm': gt_usm, 'output': output}
        self.teacher = teacher or model.teacher_out  # the real pairs' batch runs the teacher itself

    def once(self, key, make):
        if key not in self.values:
            self.values[key] = make()
        return self.values[key]

    def get(self, what, term):
        """Input ``what`` of ``term``: its target's, cut to the batch's first ``term.samples`` images when set (one
        slice per tensor and count, shared by every term that asks for it, whatever its target)."""
        v = self._whole(what, term)
        k = getattr(term, 'samples', None)
        if k is None or not hasattr(v, 'shape') or not len(v.shape) or v.shape[0] <= k:
            return v
        return self.once(('samples', id(v), k), lambda: (v, v[:k]))[1]  # v kept: its id is not reused this step

    def _whole(self, what, term):
        t = TARGET_REGISTRY[term.target]
        if t.inputs is not None and what not in t.inputs:
            raise ValueError(f'a term with target {term.target} takes {t.inputs}, not {what!r}')
        v = t.fetch(self, what, term) if t.fetch is not None else None
        if v is not None:
            return v
        if what == 'ema_output':
            return self.once('ema', lambda: self.model.ema_output(self.lq))
        if what == 'redrawn':
            return self.once(('redrawn', id(term)), lambda: self.model.redrawn_output(self.get('input', term),
                                                                                       term.loss))
        raise ValueError(f'unknown loss input {what!r} for target {term.target}')


class PairTerms:
    """The real (LQ, HR) pairs' batch (``datasets.real_pairs``) through the terms its ``losses`` names (default: the
    entries with a gt or gt_usm target the pairs can go through), each times the pairs' ``weight``."""

    def __init__(self, opt, terms):
        section = opt['datasets']['real_pairs']
        self.weight = float(section['weight'])
        names = section.get('losses')
        names = default_pair_names(opt['train'].get('losses')) if names is None else names
        self.terms = [t for t in terms if t.name in set(names)]

    def values(self, model, pair):
        """``{<log name>_pair: term}`` on one batch ``pair`` of the real pairs, ``(lq, gt, base)``, against its plain
        HR crops (no USM: the real degradation is not the synthetic one) or the teacher's output on its LQ crops;
        the discriminator does not see it. ``base``: the frozen trunk's output on ``lq`` (a low-band corrector's,
        run once for the batch), or None: the generator's own forward."""
        lq, gt, base = pair
        out = model.g.correct(lq, base) if base is not None else model.net_g(lq)
        refs = StepRefs(model, lq, gt, gt, out, teacher=model.teacher)
        return {f'{name}_pair': self.weight * v for name, v in evaluate(self.terms, refs).items()}
