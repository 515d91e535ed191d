"""A weights file that is none of the supported networks: one line naming the closest network and what of it
is not there (models.detect.detect_arch / closest_arch), through the real loading path; the layouts of 22
networks spandrel knows and this project does not (tests/models/unsupported_nets.py, without torch), and every
near-miss of a supported family's keys."""
import re
from pathlib import Path

import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import closest_arch, detect_arch, key_pattern
from tests.models.unsupported_nets import SMALL, load_fixture, spandrel_keys, spandrel_net, zeros_state
from tests.skips import SAFETENSORS_SKIP, need_spandrel, need_torch

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
    """Swin2SR (not supported) shares key names with the supported networks: the best overlap is named, with
    one of its keys the file lacks (or one the file has and it does not)."""
    Swin2SR = spandrel.architectures.Swin2SR.Swin2SR
    torch.manual_seed(0)
    state = Swin2SR(embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                    upsampler='pixelshuffledirect').state_dict()
    text = _error(_save(state, tmp_path / 'swin2sr.pth'))
    assert 'cannot detect the architecture: unknown network layout' in text
    m = CLOSEST.search(text)
    assert m, text
    spec = models.get_spec(m.group(1))
    have = {key_pattern(k) for k in state}
    with paddle.LazyGuard():
        theirs = list(models.build_network({'type': spec.name}).state_dict())
    assert 0 < int(m.group(2)) <= int(m.group(3)) == len({key_pattern(k) for k in theirs})
    if m.group(4):  # a long name is shown with '...' in its middle
        named = [k for k in theirs if _shows(m.group(4), k)]
        assert named and not {key_pattern(k) for k in named} & have, text
    else:
        named = [k for k in state if _shows(m.group(5), k)]
        assert named and not {key_pattern(k) for k in named} & {key_pattern(k) for k in theirs}, text


def _shows(shown, key):
    """``shown`` is ``key``, or its head and tail around '...'."""
    head, cut, tail = shown.partition('...')
    return shown == key or bool(cut) and key.startswith(head) and key.endswith(tail)


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


# the unsupported networks whose keys come closest to a supported family's: that family is named
NEAREST = {'Swin2SR': 'SwinIR', 'MMRealSR': 'RRDBNet'}


def _one_line_naming(text, path, name):
    """``text`` is one line about ``path`` that names the closest family (NEAREST) or says none shares a key."""
    assert '\n' not in text and text.startswith(str(path)) and len(text) < 700, text
    if name in NEAREST:
        assert f'closest: {NEAREST[name]} (' in text or text.count(NEAREST[name]) >= 1 and 'MM-RealSR' in text, text
    else:
        assert CLOSEST.search(text) or 'has any of these key names' in text, text


def test_every_unsupported_spandrel_layout_is_one_line(tmp_path, capsys):
    """21 networks spandrel knows (the fixture of tests/models/unsupported_nets.py: keys, shapes, small buffers),
    each as a bare .safetensors file and as a params_ema .pdparams: one line each through read_checkpoint, and the
    converter's folder run prints one line per file (RGT once ended in a KeyError traceback in DAT's detect)."""
    st = pytest.importorskip('safetensors.numpy', reason=SAFETENSORS_SKIP)
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    from tests.models.arch_paths import convert_cli
    layouts = load_fixture()
    assert set(NEAREST) <= set(layouts) and len(layouts) >= 21
    folder = tmp_path / 'in'
    folder.mkdir()
    for name, keys in layouts.items():
        state = {k: np.ascontiguousarray(v) for k, v in zeros_state(keys).items()}
        for path in (folder / f'{name}.safetensors', tmp_path / f'{name}.pdparams'):
            if path.suffix == '.safetensors':
                st.save_file(state, str(path))
            else:
                save_checkpoint(path, params={}, params_ema=state)
            _one_line_naming(_error(path), path, name)
    assert convert_cli(['--input', folder, '--output', tmp_path / 'out']) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert not any('Traceback' in ln for ln in err)
    assert len(err) == len(layouts) + 1 and err[-1].startswith(f'converted 0 of {len(layouts)} checkpoints'), err[-3:]
    for line in err[:-1]:
        _one_line_naming(line, folder, Path(line.split(':', 1)[0]).stem)


@pytest.mark.slow(seconds=8)
def test_the_fixture_is_what_spandrel_builds(tmp_path, torch, spandrel):
    """The stored layouts are spandrel's own (its networks built at the small configs), and the networks nearest a
    supported family, saved by torch with their real values, read as their fixture does."""
    layouts = load_fixture()
    assert set(layouts) == set(SMALL)
    for name in sorted(SMALL):
        assert spandrel_keys(name) == layouts[name], name
    for name in NEAREST:
        state = spandrel_net(name).state_dict()
        text = _error(_save({'params': state}, tmp_path / f'{name}.pth'))
        _one_line_naming(text, tmp_path / f'{name}.pth', name)
        fixture = _error(_save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
                                zeros_state(layouts[name]).items()}, tmp_path / f'{name}_zeros.pth'))
        assert text.split(': ', 1)[1] == fixture.split(': ', 1)[1], name


def _tiny_states():
    from tests.models.tiny_archs import TINY_ARCHS
    for name, arch in sorted(TINY_ARCHS.items()):
        yield name, arch, {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}


def _near_misses(state):
    """Every supported layout with one tensor gone, one a scalar, one flattened."""
    for k in state:
        for how in ('gone', 'scalar', 'flat'):
            s = dict(state)
            if how == 'gone':
                del s[k]
            else:
                s[k] = np.zeros((), np.float32) if how == 'scalar' else state[k].reshape(-1)
            yield f'{k} {how}', s


@pytest.mark.slow(seconds=6)
def test_no_near_miss_of_a_supported_family_raises_anything_else():
    """Every family's tiny state (tests/models/tiny_archs.py), each tensor dropped, made a scalar or flattened:
    detection gives an arch or one ValueError line, and so does the check of a stored arch against the weights
    (2268 near-misses; before detect_with, 53 of them raised KeyError or IndexError from a spec's detect)."""
    from realesrgan_paddle.models.loading import check_stored_arch
    checked = 0
    for name, arch, state in _tiny_states():
        # models/archs/waifu2x/waifu2x.py: CUNet x2 and Real-CUGAN se x2 are one layout
        assert detect_arch(state)['type'] == {'CUNet': 'RealCUGAN'}.get(name, name)
        for what, s in _near_misses(state):
            for check in (detect_arch, lambda st: check_stored_arch(arch, st, 'w.pth')):
                try:
                    check(s)
                except ValueError as e:
                    assert '\n' not in str(e) and len(str(e)) < 700, (name, what, str(e))
                checked += 1
    assert checked >= 4000
