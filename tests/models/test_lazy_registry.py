"""The lazy registry (``models.specs.Family``): importing ``models`` imports no network; building one imports its
family alone; detection imports only the families whose ``keys`` a state dict holds, and answers as the full loop
over every registered spec does, because each family's ``keys`` hold for every state its ``detect`` or ``rename``
answers (checked here on every registered network's own keys, the tiny configs, foreign layouts and the
unsupported spandrel networks); a graph check that the loaded families' ops refuse loads the rest first."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models import specs
from realesrgan_paddle.models.detect import default_shapes
from tests.models.tiny_archs import TINY_ARCHS
from tests.models.unsupported_nets import load_fixture, zeros_state

ROOT = Path(__file__).resolve().parents[2]


def default_state(spec):
    """``spec``'s network at its defaults: its key names with zero tensors of their shapes (``detect.default_shapes``);
    None for a network that is not built at its defaults."""
    shapes = default_shapes(spec)
    return {k: np.broadcast_to(np.float32(0), v) for k, v in shapes.items()} if shapes else None


def foreign_layouts():
    """The layouts a ``rename`` maps: old ESRGAN (RRDB_trunk, model.N.sub), torchvision VGG19, torch's
    parametrizations spectral norm, a DataParallel prefix."""
    z = np.zeros((4, 3, 3, 3), np.float32)
    return {'old esrgan trunk': {'conv_first.weight': z, 'RRDB_trunk.0.RDB1.conv1.0.weight': z,
                                 'trunk_conv.weight': z},
            'old esrgan model.N.sub': {'model.0.weight': z, 'model.1.sub.0.RDB1.conv1.0.weight': z},
            'torchvision vgg19': {'features.0.weight': z, 'features.0.bias': z[:, 0, 0, 0], 'classifier.0.weight': z},
            'parametrizations': {'conv0.weight': z, 'conv1.parametrizations.weight.original0': z}}


@pytest.fixture(scope='module')
def corpus():
    states = {f'{s.name} (defaults)': default_state(s) for s in models.all_specs()}
    states = {k: v for k, v in states.items() if v is not None}
    for name, arch in TINY_ARCHS.items():
        paddle.seed(0)
        states[f'{name} (tiny)'] = {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}
    states.update({f'{k} (unsupported)': zeros_state(v) for k, v in load_fixture().items()})
    states.update(foreign_layouts())
    return states


def answers(fn, state):
    """What ``fn(state)`` answers: None, a dict, or the exception's type name."""
    try:
        out = fn(dict(state))
    except Exception as e:  # noqa: BLE001  (a detect's error is an answer too)
        return type(e).__name__
    return None if out is None else type(out).__name__


def unclaimed_answers(family, spec, states):
    """``[(state, 'detect' or 'rename', answer)]`` of the states ``family.keys`` skip but ``spec`` answers."""
    bad = []
    for name, state in states.items():
        if family.may_claim('\n'.join(state)):
            continue
        bad += [(name, what, out) for what, fn in (('detect', spec.detect), ('rename', spec.rename)) if fn
                for out in [answers(fn, state)] if out is not None]
    return bad


def test_every_familys_keys_hold_for_what_its_detect_and_rename_answer(corpus):
    checked = 0
    for spec in models.all_specs():
        family = specs.family_of(spec.name)
        assert family is not None and family.keys is not None, f'{spec.name}: registered without its keys'
        assert unclaimed_answers(family, spec, corpus) == [], spec.name
        checked += 1
    assert checked >= 27


def test_each_family_claims_its_own_states(corpus):
    for name, state in corpus.items():
        own = name.rsplit(' (', 1)[0]
        if name.endswith(('(tiny)', '(defaults)')) and models.get_spec(own).detect:
            assert specs.family_of(own).may_claim('\n'.join(state)), name


def test_the_check_sees_keys_that_skip_a_state_the_family_answers(corpus):
    wrong = specs.Family('SRVGGNetCompact', 'archs.compact.srvgg', keys=('no.such.key',))
    bad = unclaimed_answers(wrong, models.get_spec('SRVGGNetCompact'), corpus)
    assert ('SRVGGNetCompact (tiny)', 'detect', 'dict') in bad


def forget_loaded():
    """Every registered type back to its ``Family`` (the modules stay imported: loading one again is a lookup that
    gives the same ``ArchSpec``), so detection goes through the families' ``keys`` as in a fresh process."""
    for spec in models.all_specs():
        models.register(specs.family_of(spec.name), replace=True)


def full_loop(state):
    """What detection answers trying every registered spec in order (``detect_with``; None: no spec claims)."""
    from realesrgan_paddle.models.detect import NearMiss, detect_with
    for spec in models.all_specs():
        try:
            arch = detect_with(spec, state)
        except NearMiss:
            continue
        except ValueError as e:
            return f'ValueError: {e}'
        if arch is not None:
            return arch
    return None


def test_detection_by_candidates_is_the_full_loops(corpus):
    """``detect_arch`` (the candidates, with every family unloaded first) against every registered spec in order,
    on every state of the corpus."""
    from realesrgan_paddle.models.detect import detect_arch, normalize_state_dict
    compared = 0
    for name, state in corpus.items():
        if answers(normalize_state_dict, state) != 'dict':
            continue
        full = full_loop(normalize_state_dict(state))
        forget_loaded()
        try:
            got = detect_arch(state)
        except ValueError as e:
            got = f'ValueError: {e}'
        if full is None:
            assert got.startswith('ValueError: unknown network layout'), name
        else:
            assert got == full, name
        compared += 1
    assert compared > 60, compared


PROBE = '''
import json, sys
from realesrgan_paddle import models
def families():
    return sorted(m.split('.models.', 1)[1] for m in sys.modules
                  if '.models.archs.' in m or '.models.feature_nets.' in m)
out = {'import': families()}
models.build_network(%(srvgg)r)
out['build'] = families()
from realesrgan_paddle.models.detect import detect_arch
import paddle
net = models.build_network(%(rrdb)r)
before = families()
detect_arch({k: v.numpy() for k, v in net.state_dict().items()})
out['detect'] = sorted(set(families()) - set(before))
print(json.dumps(out))
'''


def test_a_family_is_imported_when_it_is_built_or_a_state_holds_its_keys():
    code = PROBE % {'srvgg': TINY_ARCHS['SRVGGNetCompact'], 'rrdb': TINY_ARCHS['RRDBNet']}
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out['import'] == []
    assert out['build'] == ['archs.compact', 'archs.compact.srvgg']
    assert out['detect'] == []  # building RRDBNet imported its module; its keys name no other family


GRAPH = '''
import sys
from realesrgan_paddle.checkpoint_io import graph_check
from realesrgan_paddle.models import export_ops
from realesrgan_paddle import models
mode = sys.argv[2]
if mode == 'plumbing':
    graph_check.declare(export_ops.NONE)
try:
    graph_check.check_graph(sys.argv[1])
    print('passed', len([m for m in sys.modules if '.models.archs.' in m]))
except graph_check.GraphRefused:
    print('refused')
'''


def test_a_graph_of_a_family_not_imported_passes_after_the_rest_load(tmp_path):
    """A tiny SRVGG export (PReLU as ReLUs, the nearest skip: ops beyond the plumbing) checked in a fresh process
    where no family is imported: it passes, the families loaded first; with the allow-list cut to the plumbing and
    nothing left to load it is refused."""
    from realesrgan_paddle.inference.export.paddle_export import export_static
    arch = TINY_ARCHS['SRVGGNetCompact']
    export_static(models.build_network(arch), arch, tmp_path / 'x')
    run = lambda mode: subprocess.run([sys.executable, '-c', GRAPH, str(tmp_path / 'x' / 'inference.pdmodel'), mode],
                                      cwd=ROOT, capture_output=True, text=True, timeout=300)  # noqa: E731
    full, cut = run('registry'), run('plumbing')
    assert full.returncode == 0 and cut.returncode == 0, full.stderr[-2000:] + cut.stderr[-2000:]
    passed = full.stdout.split()
    assert passed[0] == 'passed' and int(passed[1]) > 20, full.stdout
    assert cut.stdout.strip() == 'refused'
