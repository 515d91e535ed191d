"""A weights file that is none of the supported networks: one line naming the closest network and what of it
is not there (models.detect.detect_arch / closest_arch), through the real loading path."""
import re

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import closest_arch, detect_arch, key_pattern
from tests.skips import need_spandrel, need_torch

CLOSEST = re.compile(r"closest: (\w+) \((\d+) of its (\d+) key names are there; (?:no '([^']+)'|'([^']+)' is not)")


def _save(state, path):
    torch = need_torch()
    torch.save(state, path)
    return path


def _error(path):
    with pytest.raises(models.CheckpointError) as info:
        models.read_checkpoint(path)
    text = str(info.value)
    assert '\n' not in text and text.startswith(str(path)), text
    return text


def _esrgan_state():
    torch, ESRGAN = need_torch(), need_spandrel().architectures.ESRGAN.ESRGAN
    torch.manual_seed(0)
    return ESRGAN(num_filters=8, num_blocks=2, scale=4).state_dict()  # the old format: model.N...


@pytest.mark.slow
def test_an_unsupported_spandrel_network_names_its_closest(tmp_path, torch, spandrel):
    """CRAFT (not supported) shares a few key names with the supported networks: the best overlap is named, with
    one of its keys the file lacks (or one the file has and it does not)."""
    CRAFT = spandrel.architectures.CRAFT.CRAFT
    torch.manual_seed(0)
    state = CRAFT(embed_dim=12, depths=[1], num_heads=[2], window_size=8, split_size_0=2, split_size_1=8,
                  upscale=2).state_dict()
    text = _error(_save(state, tmp_path / 'craft.pth'))
    assert 'cannot detect the architecture: unknown network layout' in text
    m = CLOSEST.search(text)
    assert m, text
    spec = models.get_spec(m.group(1))
    have = {key_pattern(k) for k in state}
    with paddle.LazyGuard():
        theirs = list(models.build_network({'type': spec.name}).state_dict())
    assert 0 < int(m.group(2)) <= int(m.group(3)) == len({key_pattern(k) for k in theirs})
    if m.group(4):
        assert m.group(4) in theirs and key_pattern(m.group(4)) not in have
    else:
        assert m.group(5) in state and key_pattern(m.group(5)) not in {key_pattern(k) for k in theirs}


def test_truncated_esrgan_files_name_rrdbnet_and_the_missing_key(tmp_path, spandrel):
    state = _esrgan_state()
    keys = list(state)
    head = {k: state[k] for k in keys[:len(keys) // 2]}  # the first half: model.0 and some dense blocks
    text = _error(_save(head, tmp_path / 'head.pth'))
    assert text.endswith('RRDBNet keys (conv_first, body.0) found, but conv_body.weight is missing'), text
    tail = {k: v for k, v in state.items() if not k.startswith('model.0.')}  # the first layer lost
    text = _error(_save(tail, tmp_path / 'tail.pth'))
    assert text.endswith("closest: RRDBNet (10 of its 12 key names are there; no 'conv_first.weight')"), text


def test_an_rrdbnet_with_extra_layers_is_refused_by_name(tmp_path, torch, spandrel):
    """MM-RealSR: RRDBNet's keys and degradation-modulation layers; not taken for a plain RRDBNet."""
    MMRealSR = spandrel.architectures.MMRealSR.MMRealSR
    torch.manual_seed(0)
    state = MMRealSR(num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, num_grow_ch=4).state_dict()
    text = _error(_save(state, tmp_path / 'mmrealsr.pth'))
    assert re.search(r"RRDBNet keys .* but also '(am_list|dd_embed|de_net)\.[^']+', which no RRDBNet has", text), text


def test_nothing_in_common():
    state = {'foo.weight': np.zeros((1, 1, 3, 3), np.float32)}
    assert closest_arch(state) is None
    with pytest.raises(ValueError, match=r"first keys \['foo.weight'\]; none of .*RRDBNet.* has any of these"):
        detect_arch(state)
