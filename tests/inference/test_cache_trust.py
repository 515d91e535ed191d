"""The user cache is never trusted because of a file name (issue 73): a stamp cannot turn the graph check off, and
an export in the store is used only when it is this program's export of the very weights asked for (its record
names their sha256 and its files' sha256s; ``store.open``), and a graph the store hands on is checked all the same.
Each test plants the hostile file in a cache of its own and checks the refusal, the export made again, and the
victim's bytes."""
import json
import os
import shutil

import numpy as np
import pytest

from realesrgan_paddle import store
from realesrgan_paddle.checkpoint_io import graph_check
from realesrgan_paddle.inference.export.paddle_export import (EXPORT_REV, ExportRefused, cached_export, export_key,
                                                              export_static, open_cached_export, open_export)
from realesrgan_paddle.store import ownership
from realesrgan_paddle.utils.fileio import sha256_file
from tests.nets import save_image_like, srvgg

ARCH = srvgg()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'home'))
    monkeypatch.setattr(graph_check, '_CHECKED', set())  # a fresh process: nothing checked or hashed yet
    monkeypatch.setattr(graph_check, '_WALKED', set())
    monkeypatch.setattr(ownership, '_DIGESTS', {})
    return tmp_path / 'home'


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    """Two tiny SRVGG x4 weights files: the user's model and another."""
    d = tmp_path_factory.mktemp('weights')
    return save_image_like(d / 'mine.pdparams', ARCH, 0), save_image_like(d / 'other.pdparams', ARCH, 7)


def _with_save_op(graph, target):
    """Add to the legacy graph file ``graph`` a ``save`` op that writes ``target``: the hostile graph."""
    from paddle.base.proto import framework_pb2 as fp
    prog = fp.ProgramDesc()
    prog.ParseFromString(graph.read_bytes())
    block = prog.blocks[0]
    op = block.ops.add()
    op.type = 'save'
    x = op.inputs.add()
    x.parameter, x.arguments[:] = 'X', [next(v.name for v in block.vars if v.persistable)]
    a = op.attrs.add()
    a.name, a.type, a.s = 'file_path', 2, str(target)
    graph.write_bytes(prog.SerializeToString())


def test_a_planted_stamp_does_not_turn_the_graph_check_off(home, tmp_path, weights):
    """An empty ``graph_ok/<sha256>-1`` made a hostile export skip the op check, and its ``save`` op wrote a file
    outside (9 KB, exit 0). The check now runs in every process; no file is consulted."""
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.inference.backends import PredictorBackend
    import paddle
    paddle.seed(0)
    from realesrgan_paddle import models
    evil = export_static(models.build_network(ARCH), ARCH, tmp_path / 'evil')
    target = tmp_path / 'written_by_the_graph'
    _with_save_op(evil / 'inference.pdmodel', target)
    digest = sha256_file(evil / 'inference.pdmodel')
    (home / 'graph_ok').mkdir(parents=True)
    for rev in range(1, 4):
        (home / 'graph_ok' / f'{digest}-{rev}').write_bytes(b'')
    for run in (open_export, PredictorBackend, Upscaler):
        with pytest.raises(ExportRefused, match=r"op 'save' is not one"):
            run(evil)
    assert not target.exists()


def _forward(folder, x):
    from realesrgan_paddle.inference.backends import PredictorBackend
    return PredictorBackend(folder, engine='onednn', precision='fp32').forward(x)


@pytest.mark.parametrize('plant', ['other_weights', 'swapped_params', 'linked_folder', 'hard_linked_params'])
def test_a_planted_export_is_made_again_from_the_users_weights(home, tmp_path, weights, caplog, plant):
    """``store/export/<key>`` is the export of the weights whose sha256 makes the key. An export of other weights
    copied there (its record and all) ran instead of the user's model (another output, exit 0) before records named
    the weights; so did one whose parameters were swapped, and a link under the key led the export into a folder of
    the user's. Each is now exported again, with one line, from the user's weights; the user's files keep their
    bytes."""
    mine, other = weights
    x = np.random.default_rng(0).random((1, 3, 12, 16), np.float32)
    ref = _forward(cached_export(mine, cache_root=tmp_path / 'clean'), x)
    assert not np.allclose(ref, _forward(cached_export(other, cache_root=tmp_path / 'clean'), x), atol=1e-3)
    key = store.entry_dir('export', export_key(sha256_file(mine)), home)
    key.parent.mkdir(parents=True)
    victim = tmp_path / 'users' / 'notes.txt'
    victim.parent.mkdir()
    victim.write_bytes(b'keep me\n' * 50)
    if plant == 'other_weights':
        shutil.copytree(cached_export(other, cache_root=tmp_path / 'clean'), key)
    elif plant == 'swapped_params':
        shutil.copytree(cached_export(mine, cache_root=tmp_path / 'clean'), key)
        shutil.copy(cached_export(other, cache_root=tmp_path / 'clean') / 'inference.pdiparams', key)
    elif plant == 'linked_folder':
        shutil.copytree(cached_export(mine, cache_root=tmp_path / 'clean'), victim.parent / 'export')
        key.symlink_to(victim.parent / 'export')  # even a right export is not used through a link
    else:
        shutil.copytree(cached_export(mine, cache_root=tmp_path / 'clean'), key)
        os.replace(victim, victim.with_name('tmp'))
        os.link(key / 'inference.pdiparams', victim)  # the user's file is a second name of the parameters
        os.unlink(victim.with_name('tmp'))
    before = {p: p.read_bytes() for p in victim.parent.rglob('*') if p.is_file()}
    with caplog.at_level('WARNING'):
        export = open_cached_export(mine, cache_root=home, user_cache=home)
    lines = [r.getMessage() for r in caplog.records if r.levelname == 'WARNING']
    assert len(lines) == 1 and str(key) in lines[0] and 'removed, to be made again' in lines[0], lines
    assert export.dir == key and key.is_dir() and not key.is_symlink()
    record = json.loads((key / store.RECORD).read_text())
    assert record['made_from'] == sha256_file(mine) and record['revision'] == EXPORT_REV
    assert np.array_equal(_forward(export, x), ref)
    assert {p: p.read_bytes() for p in victim.parent.rglob('*') if p.is_file()} == before
    caplog.clear()
    with caplog.at_level('WARNING'):
        assert open_cached_export(mine, cache_root=home, user_cache=home).dir == key
    assert not caplog.records  # the export made again is used as it is


def test_the_export_files_are_hashed_once_per_process(home, weights, monkeypatch):
    """The parameters' sha256 (0.05 s for x4plus) is taken once per process, on the same open file as the header
    walk (one open of the weights); a file changed since (a new inode or times) is hashed again, and a changed byte
    is caught."""
    mine, _ = weights
    first = open_cached_export(mine, cache_root=home, user_cache=home)
    calls, walks = [], []
    real, walk = ownership._hash_fd, graph_check.walk_params
    monkeypatch.setattr(ownership, '_DIGESTS', {})
    monkeypatch.setattr(graph_check, '_WALKED', set())
    monkeypatch.setattr(ownership, '_hash_fd', lambda fd: calls.append(fd) or real(fd))
    monkeypatch.setattr(graph_check, 'walk_params', lambda *a: walks.append(a[1]) or walk(*a))
    for _ in range(3):
        assert open_cached_export(mine, cache_root=home, user_cache=home).dir == first.dir
    files = json.loads((first.dir / store.RECORD).read_text())['files']  # graph, parameters, sidecars
    assert len(calls) == len(files) and len(walks) == 1  # each hashed once, the parameters walked once
    params = first.dir / 'inference.pdiparams'
    good = params.read_bytes()
    data = bytearray(good)
    data[-1] ^= 1  # the last byte of the last tensor's data: the header walk still passes
    params.write_bytes(bytes(data))
    again = open_cached_export(mine, cache_root=home, user_cache=home)
    assert len(calls) > len(files)  # the changed file hashed, refused, and exported again
    assert (again.dir / 'inference.pdiparams').read_bytes() == good


# ---------------------------------------------------------------- the oneDNN-optimised graph kept in the user cache
def _optimised(export_dir, home):
    from realesrgan_paddle.inference.backends import OptimizedGraphCache, PredictorBackend
    first = PredictorBackend(open_export(export_dir, home), engine='onednn', precision='fp32')
    return first, OptimizedGraphCache(open_export(export_dir, home))


def _forge_record(changed):
    """Rewrite the store record beside ``changed`` so that its size and sha256 match (what a forger can do)."""
    rec_path = changed.parent / store.RECORD
    rec = json.loads(rec_path.read_text())
    rec['files'][changed.name] = {'sha256': sha256_file(changed), 'size': changed.stat().st_size}
    rec_path.write_text(json.dumps(rec))


def test_a_planted_optimised_graph_is_not_run(home, tmp_path, caplog, monkeypatch):
    """The kept optimised graph (``store/onednn/<key>/``), planted with a ``save`` op and a record rewritten to
    match (what a forger can write): before the store an optimised graph planted with a stamp anyone can compute
    ran, and wrote a file outside. It is checked as the export's graph is (its fused ops allowed) on the bytes the
    store hashes and, refused, made again."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import PredictorBackend
    paddle.seed(0)
    d = export_static(models.build_network(ARCH), ARCH, tmp_path / 'exp')
    first, cache = _optimised(d, home)
    assert not first.opt_cache_hit and cache.ready()  # made, and it passes
    target = tmp_path / 'written_by_the_graph'
    _with_save_op(cache.model, target)
    _forge_record(cache.model)
    monkeypatch.setattr(ownership, '_DIGESTS', {})  # a new process
    with caplog.at_level('WARNING', logger='inference'):
        again = PredictorBackend(open_export(d, home), engine='onednn', precision='fp32')
    assert not again.opt_cache_hit
    assert any("op 'save'" in r.getMessage() and 'not used' in r.getMessage() for r in caplog.records), caplog.text
    again.forward(np.zeros((1, 3, 8, 8), np.float32))
    assert not target.exists()


@pytest.mark.slow(seconds=40)
def test_every_kinds_optimised_graph_passes(home, tmp_path):
    """Every network's oneDNN-optimised graph passes the check (graph_check.FUSED_OPS and _ATTRS cover the
    fused ops): the second predictor of each loads the kept graph."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import PredictorBackend
    from tests.export_memo import memo_export
    from tests.models.tiny_archs import TINY_ARCHS
    from tests.nets import rrdb
    kinds = dict(TINY_ARCHS, rrdb_x4=rrdb(), rrdb_x1=rrdb(scale=1), srvgg_x4=ARCH, srvgg_relu=srvgg(act_type='relu'),
                 srvgg_lrelu=srvgg(upscale=3, act_type='leakyrelu'))
    missed = []
    for name, arch in kinds.items():
        paddle.seed(0)
        d = memo_export(models.build_network(arch), arch, tmp_path / name)[0]  # made once a session
        PredictorBackend(open_export(d, home), engine='onednn', precision='fp32')
        if not PredictorBackend(open_export(d, home), engine='onednn', precision='fp32').opt_cache_hit:
            missed.append(name)
    assert not missed, f'optimised graphs refused: {missed}'


def test_an_export_cache_of_an_older_version_is_never_read(home, tmp_path, weights, caplog):
    """The export cache before the store (``infer/<key>/``, a ``model_info.json`` naming the weights) is not ours:
    never read, even holding a hostile graph; the export is made in the store. A store entry whose record is of an
    older format is removed with one line and made again."""
    mine, _ = weights
    old = home / 'infer' / export_key(sha256_file(mine))
    shutil.copytree(cached_export(mine, cache_root=tmp_path / 'clean'), old)
    (old / store.RECORD).unlink()
    _with_save_op(old / 'inference.pdmodel', tmp_path / 'written_by_the_graph')
    first = open_cached_export(mine, cache_root=home, user_cache=home)
    assert first.dir == store.entry_dir('export', old.name, home)
    rec = json.loads((first.dir / store.RECORD).read_text())
    (first.dir / store.RECORD).write_text(json.dumps(dict(rec, format=0)))
    with caplog.at_level('WARNING', logger='store'):
        again = open_cached_export(mine, cache_root=home, user_cache=home)
    assert 'an older version' in caplog.text and again.dir == first.dir
    assert json.loads((again.dir / store.RECORD).read_text())['format'] == rec['format']
