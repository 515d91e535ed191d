"""One YAML option's walk, from the options file to the loss constructor that reads it, enters at most three
training modules, each named for what it does: ``option_file`` (the file: YAML, ``-o``, the BasicSR spellings, the
trainer's own settings and the checks across sections), ``schema`` (an option's field and a ``type:`` section's
schema, read from its constructor) and ``loss_terms`` (``train.losses``: the entries, their targets and sources, the
official ``*_opt`` spelling, the built terms). Issue 72: the walk went through eight (``option_file``, ``schema``,
``basicsr_compat``, ``loss_list``, ``fields``, ``option_values``, ``loader_options``, ``targets``), and the options
were renamed ``raw`` -> ``opt`` -> ``entries`` -> ``cfg`` -> ``kw`` on the way; docs/DESIGN.md, Options, draws both.

``walk`` records, with ``sys.setprofile``, every function of the project called while ``load_options`` reads a file
and ``build_terms`` builds its loss terms (what ``train.py`` and the trainer do with it; code run at import time does
not count), and, for each, the names of its arguments that hold the one value followed (a number written nowhere
else in the file). Consecutive calls into one module are one visit.
"""
import re
import sys
from pathlib import Path

from realesrgan_paddle.training.loss_terms import build_terms
from realesrgan_paddle.training.option_file import load_options

ROOT = Path(__file__).resolve().parents[2]
DATA = 'tests/data/images'
PKG = 'realesrgan_paddle.'
MAX_MODULES = 3
# the project's own spelling: the low-pass term's blur, the second entry of the compact recipe
COMPACT = ('options/finetune_domain_compact_cpu.yml', r'(LowPassL1Loss.*?sigma: )1\.0', 1.0123456,
           [f'datasets.train.dataroot_gt={DATA}/train_hr', f'datasets.val.dataroot_gt={DATA}/val/gt',
            f'datasets.val.dataroot_lq={DATA}/val/lq'])
# the official spelling: train.pixel_opt, which becomes an entry of train.losses
OFFICIAL = ('tests/training/official_options/train_realesrnet_x4plus.yml',
            r'(pixel_opt:\n    type: L1Loss\n    loss_weight: )1\.0', 0.7654321,
            ['path.pretrain_network_g=~', 'path.pretrain_network_d=~', 'datasets.train.meta_info=~',
             f'datasets.train.dataroot_gt={DATA}/train_hr'])


def holds(x, value, depth=8):
    """Whether ``x`` is ``value`` or a mapping or list holding it."""
    if isinstance(x, float):
        return x == value
    if depth and isinstance(x, dict):
        return any(holds(v, value, depth - 1) for v in x.values())
    if depth and isinstance(x, (list, tuple)):
        return any(holds(v, value, depth - 1) for v in x)
    return False


def walk(fn, value):
    """``(calls, result)``: ``calls`` is ``[(module, function, {argument name: argument} of those holding
    value)]`` of every project function ``fn()`` calls, in order."""
    calls, importing = [], [0]

    def prof(frame, event, arg):
        code = frame.f_code
        if code.co_name == '<module>':  # a module body runs: an import, not the path
            importing[0] += 1 if event == 'call' else -1 if event == 'return' else 0
            return
        name = frame.f_globals.get('__name__', '')
        if event != 'call' or importing[0] or not name.startswith(PKG):
            return
        n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 4) + bool(code.co_flags & 8)
        args = {a: frame.f_locals[a] for a in code.co_varnames[:n] if a in frame.f_locals}
        calls.append((name[len(PKG):], code.co_name, {a: v for a, v in args.items() if holds(v, value)}))
    sys.setprofile(prof)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
    return calls, result


def training_visits(calls):
    """The training modules entered, consecutive calls into one merged: ``['training.option_file', ...]``."""
    out = []
    for module, _, _ in calls:
        if module.startswith('training.') and (not out or out[-1] != module):
            out.append(module)
    return out


def option_walk(tmp_path, src, pattern, value, overrides):
    """The walk of ``value``, written in place of the one ``pattern`` finds in options file ``src``, from
    ``load_options`` to the loss constructor."""
    text = (ROOT / src).read_text(encoding='utf-8')
    marked = re.sub(pattern, rf'\g<1>{value}', text, count=1)
    assert marked != text
    f = tmp_path / Path(src).name
    f.write_text(marked, encoding='utf-8')
    calls, opt = walk(lambda: load_options(f, overrides, []), value)
    more, terms = walk(lambda: build_terms(opt['train']['losses']), value)
    return calls + more, terms


def name_problems(calls):
    """The arguments holding the value under another name than its level's: the options are ``opt``, the list of
    loss entries ``losses``, one ``type:`` section (an entry of the list) ``section``; the one check of an option's
    value against its field (``schema.check_field``) takes any option's value, a list or a section too, as
    ``value``."""
    out = []
    for module, fn, held in calls:
        for arg, v in held.items():
            if isinstance(v, dict) and 'network_g' in v and 'train' in v:
                want = ('opt',)
            elif isinstance(v, list) and v and all(isinstance(s, dict) and 'type' in s for s in v):
                want = ('losses', 'value')
            elif isinstance(v, dict) and 'type' in v and any(isinstance(x, float) for x in v.values()):
                want = ('section', 'value')
            else:
                continue
            if arg not in want:
                out.append(f'{module}.{fn}({arg}): the {want[0]}')
    return out


def test_own_spelling_walks_through_three_modules(tmp_path):
    """``train.losses[1].sigma`` of the compact recipe, to ``LowPassL1Loss(sigma=...)``."""
    calls, _ = option_walk(tmp_path, *COMPACT)
    assert sorted(set(training_visits(calls))) == ['training.loss_terms', 'training.option_file', 'training.schema']
    assert len(set(training_visits(calls))) <= MAX_MODULES
    assert [(m, fn) for m, fn, held in calls if 'sigma' in held] == [('loss.frequency', '__init__')]
    assert name_problems(calls) == []


def test_official_spelling_walks_through_three_modules(tmp_path):
    """``train.pixel_opt.loss_weight`` of an official file, to the weight of the term its entry builds."""
    calls, terms = option_walk(tmp_path, *OFFICIAL)
    assert sorted(set(training_visits(calls))) == ['training.loss_terms', 'training.option_file', 'training.schema']
    assert [t.weight for t in terms if t.name == 'l_g_pix'] == [OFFICIAL[2]]
    assert name_problems(calls) == []


def test_the_measure_sees_a_fourth_module_and_a_rename(tmp_path):
    """The measure itself: a walk through a fourth training module is seen, and so are the options held under
    another name than ``opt``."""
    from realesrgan_paddle.training import loss_terms, option_file, schema, state_io
    opt = {'name': 'x', 'network_g': {}, 'train': {'losses': [{'type': 'L1Loss', 'weight': 0.5}]}}

    def path():
        option_file.check_across(opt, [])
        loss_terms.targets([])
        schema.check_field(schema.Field('dict'), opt, 'opt', [])
        state_io.save_state(tmp_path / 's.pdstates', {'a': 1})
    calls, _ = walk(path, 0.5)
    assert training_visits(calls) == ['training.option_file', 'training.loss_terms', 'training.schema',
                                      'training.state_io']
    assert 'training.schema.check_field(value): the opt' in name_problems(calls)
    assert not [p for p in name_problems(calls) if 'option_file' in p]
