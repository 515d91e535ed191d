"""The built-in ArchSpecs: the facts each network declares, and that the rest of the code reads them."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.detect import detect_arch, normalize_state_dict
from tests.nets import rrdb, srvgg
from tests.skips import SAFETENSORS_SKIP

RRDB = rrdb(scale=2, num_block=2)
SRVGG = srvgg(upscale=3)


def _state(arch):
    return {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}


def test_builtin_specs_and_their_facts():
    names = [s.name for s in models.all_specs()]
    # LowBandRRDBNet first: its weights hold an RRDBNet's keys too (models/archs/rrdb/lowband.py)
    assert names[:5] == ['LowBandRRDBNet', 'RRDBNet', 'SRVGGNetCompact', 'UNetDiscriminatorSN', 'VGG19FeatureExtractor']
    assert set(models.NETWORKS) == set(names)
    rrdb, srvgg = models.get_spec('RRDBNet'), models.get_spec(SRVGG)
    assert (rrdb.scale_key, srvgg.scale_key) == ('scale', 'upscale')
    assert [models.pad_multiple({'type': 'RRDBNet', 'scale': s}) for s in (4, 2, 1)] == [1, 2, 4]
    assert models.pad_multiple(SRVGG) == 1
    assert models.net_scale({'type': 'RRDBNet'}) == 4  # the constructor default
    assert (rrdb.cpu_engine, srvgg.cpu_engine) == ('openvino', 'openvino')  # SRVGG: its convertible export
    assert not models.get_spec('UNetDiscriminatorSN').lazy_build and rrdb.lazy_build
    with pytest.raises(ValueError, match='not a super-resolution generator'):
        models.net_scale({'type': 'UNetDiscriminatorSN'})
    with pytest.raises(ValueError, match=r"network.type: unknown network 'Nope'"):
        models.get_spec({'type': 'Nope'})


def test_flag_names_map_to_each_networks_keys():
    rrdb, srvgg, unet = (models.get_spec(n) for n in ('RRDBNet', 'SRVGGNetCompact', 'UNetDiscriminatorSN'))
    assert [rrdb.key_for(f) for f in ('scale', 'block', 'num_feat', 'num_conv')] == ['scale', 'num_block',
                                                                                     'num_feat', None]
    assert [srvgg.key_for(f) for f in ('scale', 'block', 'num_conv', 'act_type')] == ['upscale', None, 'num_conv',
                                                                                      'act_type']
    assert [unet.key_for(f) for f in ('scale', 'num_out_ch', 'skip_connection')] == [None, None, 'skip_connection']
    assert (srvgg.flag_for('upscale'), rrdb.flag_for('num_block'), rrdb.flag_for('num_feat')) == \
        ('scale', 'block', 'num_feat')
    assert dict(srvgg.undetectable) == {'act_type': ('relu', 'leakyrelu'), 'skip': ('nearest', 'bilinear')}


def test_tile_memory_comes_from_the_spec():
    from realesrgan_paddle.inference import memory
    x4plus = {'type': 'RRDBNet', 'scale': 4, 'num_feat': 64, 'num_grow_ch': 32}
    assert 16e3 < memory.activation_bytes_per_pixel(x4plus) < 18e3  # ~17 KB/px (measured 18 KB/px)
    # x2 runs its trunk on a quarter of the pixels
    assert memory.activation_bytes_per_pixel({**x4plus, 'scale': 2}) < memory.activation_bytes_per_pixel(x4plus) / 3
    assert memory.activation_bytes_per_pixel(SRVGG) == models.get_spec(SRVGG).bytes_per_pixel(SRVGG)


@pytest.mark.parametrize('arch', [RRDB, SRVGG, {**RRDB, 'scale': 1}])
def test_detection_round_trip(arch):
    assert detect_arch(_state(arch)) == arch


def test_old_esrgan_layouts_are_renamed_and_detected():
    ours = _state({**RRDB, 'scale': 4})
    old = {}
    for k, v in ours.items():
        parts = k.split('.')
        if parts[0] == 'body':  # body.N.rdbK.convJ.P -> RRDB_trunk.N.RDBK.convJ.0.P
            old[f'RRDB_trunk.{parts[1]}.RDB{parts[2][3:]}.{parts[3]}.0.{parts[4]}'] = v
        else:
            names = {'conv_body': 'trunk_conv', 'conv_up1': 'upconv1', 'conv_up2': 'upconv2', 'conv_hr': 'HRconv'}
            old[f'{names.get(parts[0], parts[0])}.{parts[1]}'] = v
    renamed = normalize_state_dict({f'module.{k}': v for k, v in old.items()})
    assert set(renamed) == set(ours)
    assert all(np.array_equal(renamed[k], ours[k]) for k in ours)
    assert detect_arch(old) == {**RRDB, 'scale': 4}


def test_broken_layouts_are_named():
    state = _state(SRVGG)
    del state['body.2.weight']
    with pytest.raises(ValueError, match='conv indices'):
        detect_arch(state)
    with pytest.raises(ValueError, match='unknown network layout.*RRDBNet, SRVGGNetCompact'):
        detect_arch({'foo.weight': np.zeros((1, 1, 3, 3), np.float32)})


def test_zoo_checks_a_vgg19_release_file_like_any_other(tmp_path):
    """A torchvision-layout VGG19 converts into the zoo entry's arch (no per-type special case)."""
    st = pytest.importorskip('safetensors.numpy', reason=SAFETENSORS_SKIP)
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.models.feature_nets.vgg import _VGG19_CFG, torchvision_index_map
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    channels = {f'conv{b}_{i}': c for b, n, c in _VGG19_CFG for i in range(1, n + 1)}
    state, cin = {}, 3
    for idx, name in sorted(torchvision_index_map().items()):
        state[f'features.{idx}.weight'] = np.zeros((channels[name], cin, 3, 3), np.float32)
        state[f'features.{idx}.bias'] = np.zeros(channels[name], np.float32)
        cin = channels[name]
    state['classifier.0.weight'] = np.zeros((2, 2), np.float32)
    st.save_file(state, str(tmp_path / 'vgg.safetensors'))
    entry = zoo.get_entry('vgg19')
    zoo.convert_release_file(entry, tmp_path / 'vgg.safetensors', tmp_path / 'vgg.pdparams')
    assert load_state_file(tmp_path / 'vgg.pdparams')['arch'] == entry.arch
    del state['features.34.weight'], state['features.34.bias']  # no conv5_4: not the entry's network
    st.save_file(state, str(tmp_path / 'short.safetensors'))
    with pytest.raises(ValueError, match='does not match vgg19'):
        zoo.convert_release_file(entry, tmp_path / 'short.safetensors', tmp_path / 'short.pdparams')
