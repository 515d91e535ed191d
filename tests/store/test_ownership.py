"""One module answers "is this cached file ours" (``store.ownership.check_entry``), for every kind the product keeps:
converted weights, export folders, the oneDNN graph, the bf16 verdicts. For each kind, an entry made by
``store.write`` with the files and facts its product code writes (real files: a checkpoint, an export of a tiny
network and its oneDNN graph, a verdict) passes, and each of these does not, with one line naming the file or folder:
a planted file (no record, or a file its record does not list), a swapped file (other bytes, same size), a hard link,
a symbolic link, and a record whose hashes match but whose arch differs from the one asked for. ``store.open``
removes what is not ours (never a link's target) and says so in one line."""
import json
import os
import shutil

import pytest

from realesrgan_paddle import store
from realesrgan_paddle.checkpoint_io.graph_check import export_readers
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.models import zoo
from realesrgan_paddle.store.ownership import NotOurs, check_entry
from tests.cli_checks import a_line
from tests.nets import srvgg

ARCH = srvgg(upscale=2)
OTHER_ARCH = dict(ARCH, upscale=4)
KINDS = store.KINDS


@pytest.fixture(scope='module')
def made(tmp_path_factory):
    """``{kind: (files: {name: bytes}, facts)}``: what the product writes for each kind, from a tiny network."""
    from realesrgan_paddle.inference.export.paddle_export import EXPORT_REV, export_static
    from realesrgan_paddle.models import build_network
    src = tmp_path_factory.mktemp('src')
    net = build_network(ARCH)
    save_checkpoint(src / 'w.pdparams', params=net.state_dict(), arch=ARCH, meta={'name': 'tiny'})
    export_static(net, ARCH, src / 'export')
    export = {n: (src / 'export' / n).read_bytes() for n in ('inference.pdmodel', 'inference.pdiparams',
                                                             'model_info.json')}
    graph = {'graph': 'a' * 64, 'params': 'b' * 64}
    return {
        'weights': ({'w.pdparams': (src / 'w.pdparams').read_bytes()},
                    dict(zoo.weights_facts(zoo.get_entry('realesr-animevideov3')), arch=ARCH)),
        'export': (export, {'made_from': 'c' * 64, 'revision': EXPORT_REV, 'arch': ARCH}),
        'onednn': ({'_optimized.pdmodel': export['inference.pdmodel'],
                    '_optimized.pdiparams': export['inference.pdiparams']},
                   {'made_from': graph, 'revision': '3.3.1', 'arch': ARCH}),
        'bf16': ({'verdict.json': json.dumps({'bf16': True, 'crops': []}).encode()},
                 {'made_from': graph, 'revision': {'rev': 1}, 'arch': ARCH}),
    }


def readers(kind, folder):
    """The readers the product hands ``store.open`` for ``kind`` (the graph check), or None."""
    if kind == 'export':
        return export_readers(folder)
    if kind == 'onednn':
        return export_readers(folder, ('_optimized.pdmodel', '_optimized.pdiparams'), optimized=True)
    return None


def write(kind, made, root):
    files, facts = made[kind]
    return store.write(kind, 'k', files, facts, root)


def check(kind, made, root, **expect):
    facts = dict(made[kind][1], **expect)
    folder = store.entry_dir(kind, 'k', root)
    return check_entry(folder, kind, 'k', facts, readers(kind, folder))


def biggest(entry):
    return max((entry.path(n) for n in entry.digests), key=lambda p: p.stat().st_size)


@pytest.mark.parametrize('kind', KINDS)
def test_an_entry_the_program_wrote_is_ours_and_hands_on_its_digests(kind, made, tmp_path):
    entry = write(kind, made, tmp_path)
    found = check(kind, made, tmp_path)
    assert found.digests == entry.digests and set(found.digests) == set(made[kind][0])
    assert json.loads((entry.dir / store.RECORD).read_text())['files'].keys() == entry.digests.keys()


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('how', ['no_record', 'beside'])
def test_a_planted_file_is_not_ours(kind, how, made, tmp_path, caplog):
    """Files under an entry's name without a record (an older version's cache, a copy), or a file put beside an
    entry's own: not ours; ``store.open`` removes the folder with one line."""
    folder = store.entry_dir(kind, 'k', tmp_path)
    if how == 'no_record':
        folder.mkdir(parents=True)
        for name, data in made[kind][0].items():
            (folder / name).write_bytes(data)
        why = 'no record'
    else:
        write(kind, made, tmp_path)
        (folder / 'planted.pdparams').write_bytes(b'planted')
        why = 'planted.pdparams'
    with pytest.raises(NotOurs, match=why):
        check(kind, made, tmp_path)
    with caplog.at_level('WARNING', logger='store'):
        assert store.open(kind, 'k', made[kind][1], tmp_path) is None
    assert 'removed, to be made again' in a_line(caplog.text, str(folder), why)
    assert not os.path.lexists(folder)


@pytest.mark.parametrize('kind', KINDS)
def test_a_swapped_file_is_not_ours(kind, made, tmp_path):
    """A file of the entry replaced by other bytes of the same size (so only its sha256 tells)."""
    p = biggest(write(kind, made, tmp_path))
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    os.unlink(p)
    p.write_bytes(bytes(data))
    with pytest.raises(NotOurs, match='another sha256'):
        check(kind, made, tmp_path)


@pytest.mark.parametrize('kind', KINDS)
def test_a_hard_link_is_not_ours(kind, made, tmp_path):
    """A file of the entry with a second name (a hard link to a file outside, which writing through would
    change)."""
    p = biggest(write(kind, made, tmp_path))
    os.link(p, tmp_path / 'outside')
    with pytest.raises(NotOurs, match='a hard link'):
        check(kind, made, tmp_path)


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('what', ['file', 'folder'])
def test_a_symbolic_link_is_not_ours_and_its_target_is_kept(kind, what, made, tmp_path, caplog):
    """A file of the entry, or the entry's folder, replaced by a symbolic link to an identical copy: not followed;
    ``store.open`` removes the link, never what it points to."""
    entry = write(kind, made, tmp_path)
    if what == 'file':
        p = biggest(entry)
        target = tmp_path / 'elsewhere'
        os.replace(p, target)
        p.symlink_to(target)
    else:
        target = tmp_path / 'elsewhere'
        os.replace(entry.dir, target)
        entry.dir.symlink_to(target, target_is_directory=True)
    before = sorted(os.listdir(target)) if target.is_dir() else target.read_bytes()
    with pytest.raises(NotOurs, match='symbolic link'):
        check(kind, made, tmp_path)
    with caplog.at_level('WARNING', logger='store'):
        assert store.open(kind, 'k', made[kind][1], tmp_path) is None
    assert (sorted(os.listdir(target)) if target.is_dir() else target.read_bytes()) == before


@pytest.mark.parametrize('kind', KINDS)
def test_a_record_whose_hashes_match_but_whose_arch_differs_is_not_ours(kind, made, tmp_path):
    """Every file is the one its record names, but the record says another arch than the one asked for (an entry
    of another network under the name): not ours."""
    write(kind, made, tmp_path)
    with pytest.raises(NotOurs, match='made from other arch'):
        check(kind, made, tmp_path, arch=OTHER_ARCH)


@pytest.mark.parametrize('kind', KINDS)
def test_a_record_of_other_sources_is_not_ours(kind, made, tmp_path):
    """An entry made from other weights (or export files), or by another revision of the code."""
    write(kind, made, tmp_path)
    with pytest.raises(NotOurs, match='made from other made_from'):
        check(kind, made, tmp_path, made_from='d' * 64)
    with pytest.raises(NotOurs, match='made from other revision'):
        check(kind, made, tmp_path, revision='older')


def test_each_file_is_hashed_once_per_process(made, tmp_path, monkeypatch):
    """A second check of an unchanged entry reads no file (the digests are remembered by file identity, in memory
    only); a file changed since is read again."""
    from realesrgan_paddle.store import ownership
    entry = write('export', made, tmp_path)
    monkeypatch.setattr(ownership, '_DIGESTS', {})
    reads = []
    real = ownership._hash_fd
    monkeypatch.setattr(ownership, '_hash_fd', lambda fd: reads.append(fd) or real(fd))
    for _ in range(3):
        check('export', made, tmp_path)
    assert len(reads) == len(entry.digests)
    shutil.copy(entry.path('model_info.json'), tmp_path / 'copy')
    os.replace(tmp_path / 'copy', entry.path('model_info.json'))  # the same bytes, a new file
    check('export', made, tmp_path)
    assert len(reads) == len(entry.digests) + 1
