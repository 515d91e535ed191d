"""ESRGAN (RRDBNet) against spandrel's ESRGAN: old-format files at x1 / x2 (pixel unshuffle) / x4 / x8, without
an unshuffle, ESRGAN+ (``conv1x1``), 1 and 4 channels, the new-format x2plus layout and tools/convert_torch.py,
each read from a file saved by torch through the project's loading path."""
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle import models
from tests.ref_compare import H, W, centred_output, photo_input, psnr, run_paddle
from tests.models.user_files import WRAPPERS
from tests.skips import SAFETENSORS_SKIP, need_spandrel, need_torch

ROOT = Path(__file__).resolve().parents[2]


def spandrel_esrgan(seed, **kwargs):
    """spandrel's ESRGAN network with seeded random weights (1 block, 8 features: growth is 32 there)."""
    torch, ESRGAN = need_torch(), need_spandrel().architectures.ESRGAN.ESRGAN
    torch.manual_seed(seed)
    net = ESRGAN(num_filters=8, num_blocks=1, **kwargs).eval()
    with torch.no_grad():  # default init leaves the trunk a faint residual: louder, so a wrong port shows
        for name, m in net.named_modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(10 if '.conv5.' in name else 2)
    return net


# spandrel's constructor arguments -> the arch read from the file (besides the sizes)
CASES = {
    'x1-unshuffle4': (dict(in_nc=48, out_nc=3, scale=4, shuffle_factor=4), dict(scale=1)),
    'x2-unshuffle2': (dict(in_nc=12, out_nc=3, scale=4, shuffle_factor=2), dict(scale=2)),
    'x4-plus-rgba': (dict(in_nc=4, out_nc=4, scale=4, plus=True), dict(scale=4, plus=True)),
    'x8-grey': (dict(in_nc=1, out_nc=1, scale=8), dict(scale=8)),
    'x1-plain': (dict(in_nc=3, out_nc=3, scale=1), dict(scale=1, shuffle_factor=1)),
    'x2-plain-plus': (dict(in_nc=3, out_nc=3, scale=2, plus=True), dict(scale=2, plus=True, shuffle_factor=1)),
}


def expected_arch(kwargs, extra):
    shuffle = kwargs.get('shuffle_factor') or 1
    ch = kwargs['out_nc']
    return {'type': 'RRDBNet', 'num_in_ch': ch, 'num_out_ch': ch, 'num_feat': 8, 'num_block': 1,
            'num_grow_ch': 32, **extra, 'scale': kwargs['scale'] // shuffle}


@pytest.mark.parametrize('case', list(CASES))
def test_old_format_files_match_spandrel(case, photo, tmp_path, torch):
    kwargs, extra = CASES[case]
    ref = spandrel_esrgan(1, **kwargs)
    x = photo_input(photo, kwargs['out_nc'])
    want = centred_output(ref, x)
    assert any(k.startswith('model.1.sub.0.RDB1.conv1.0.') for k in ref.state_dict())  # the old format
    torch.save(ref.state_dict(), tmp_path / 'esrgan.pth')
    net, arch = models.load_network(tmp_path / 'esrgan.pth')
    assert arch == expected_arch(kwargs, extra)
    got = run_paddle(net, x)
    s = arch['scale']
    assert got.shape == want.shape == (1, kwargs['out_nc'], H * s, W * s)
    assert psnr(got, want) >= 50, case


def test_safetensors_x2_is_detected_and_matches(photo, tmp_path, spandrel):
    st = pytest.importorskip('safetensors.torch', reason=SAFETENSORS_SKIP)
    ref = spandrel_esrgan(2, in_nc=12, out_nc=3, scale=4, shuffle_factor=2, plus=True)
    x = photo_input(photo, 3)
    want = centred_output(ref, x)
    st.save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / 'esrgan.safetensors'))
    net, arch = models.load_network(tmp_path / 'esrgan.safetensors')
    assert (arch['scale'], arch.get('plus'), models.pad_multiple(arch)) == (2, True, 2)
    assert psnr(run_paddle(net, x), want) >= 50


def new_format(old_state):
    """Real-ESRGAN's (BasicSR's) names for an old-format state dict: ``model.3``, ``model.6``, ... the upsampling
    convs ``conv_up1``, ``conv_up2``, ..., then ``conv_hr`` and ``conv_last``."""
    nb = max(int(m.group(1)) for k in old_state for m in [re.match(r'model\.1\.sub\.(\d+)\.weight', k)] if m)
    n_up = (max(int(k.split('.')[1]) for k in old_state) - 4) // 3
    names = {'model.0': 'conv_first', f'model.1.sub.{nb}': 'conv_body', f'model.{3 * n_up + 2}': 'conv_hr',
             f'model.{3 * n_up + 4}': 'conv_last', **{f'model.{3 * i}': f'conv_up{i}' for i in range(1, n_up + 1)}}
    out = {}
    for k, v in old_state.items():
        m = re.match(r'model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d|1x1)(?:\.0)?\.(\w+)$', k)
        head, _, param = k.rpartition('.')
        out[f'body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}' if m else f'{names[head]}.{param}'] = v
    return out


NEW_FORMAT = {'x2plus': (dict(in_nc=12, out_nc=3, scale=4, shuffle_factor=2), dict(scale=2)),
              'x8-grey': (dict(in_nc=1, out_nc=1, scale=8), dict(scale=8)),  # (spandrel drops new-format conv1x1)
              'x1-plain': (dict(in_nc=3, out_nc=3, scale=1), dict(scale=1, shuffle_factor=1))}


@pytest.mark.parametrize('case', list(NEW_FORMAT))
def test_new_format_files(case, photo, tmp_path, torch, spandrel):
    """BasicSR's names (the official x2plus layout: pixel unshuffle by 2) in ``params_ema``, read by spandrel too."""
    kwargs, extra = NEW_FORMAT[case]
    ref = spandrel_esrgan(3, **kwargs)
    x = photo_input(photo, kwargs['out_nc'])
    want = centred_output(ref, x)
    torch.save({'params_ema': new_format(ref.state_dict())}, tmp_path / 'new.pth')
    theirs = spandrel.ModelLoader().load_from_file(tmp_path / 'new.pth')
    assert theirs.scale == extra['scale']
    with torch.no_grad():
        assert psnr(theirs.model(torch.from_numpy(x)).numpy(), want) >= 50  # the file is the same network
    net, arch = models.load_network(tmp_path / 'new.pth')
    assert arch == expected_arch(kwargs, extra)
    assert psnr(run_paddle(net, x), want) >= 50


def test_convert_torch_tool_stores_the_detected_variant(photo, tmp_path, torch):
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    ref = spandrel_esrgan(4, in_nc=3, out_nc=3, scale=8, plus=True)
    x = photo_input(photo, 3)
    want = centred_output(ref, x)
    torch.save(ref.state_dict(), tmp_path / '8x_esrgan_plus.pth')
    spec = importlib.util.spec_from_file_location('convert_torch_cli', ROOT / 'tools' / 'convert_torch.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'converted.pdparams'
    assert tool.main(['--input', str(tmp_path / '8x_esrgan_plus.pth'), '--output', str(out), '--verify']) == 0
    stored = load_state_file(out)['arch']
    assert stored == expected_arch({'out_nc': 3, 'scale': 8}, {'plus': True})
    net, _ = models.load_network(out)
    assert psnr(run_paddle(net, x), want) >= 50


def test_x3_files_read_as_x2_until_scale_3_then_match_spandrel(photo, tmp_path, capsys, torch):
    """An x3 ESRGAN file (one nearest-x3 upsampling) has an x2 file's weights: read alone it is x2, as spandrel reads
    it, and the conversion says ``--scale 3`` is the other choice; with it the file is x3 and matches spandrel's x3
    network, then loads as x3 from the converted file, exports and runs in Paddle Inference at any size."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    ref = spandrel_esrgan(6, in_nc=3, out_nc=3, scale=3)
    x = photo_input(photo, 3)
    want = centred_output(ref, x)
    assert want.shape[2:] == (3 * H, 3 * W)
    torch.save(ref.state_dict(), tmp_path / '3x_esrgan.pth')
    _, alone = models.load_network(tmp_path / '3x_esrgan.pth')
    assert alone == expected_arch({'out_nc': 3, 'scale': 2}, {'shuffle_factor': 1})
    spec = importlib.util.spec_from_file_location('convert_torch_cli', ROOT / 'tools' / 'convert_torch.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['--input', str(tmp_path / '3x_esrgan.pth'), '--output', str(tmp_path / 'as_x2.pdparams')]) == 0
    assert 'scale is not visible in the weights; assumed 2 (use --scale 3 if needed)' in capsys.readouterr().out
    out = tmp_path / 'x3.pdparams'
    assert tool.main(['--input', str(tmp_path / '3x_esrgan.pth'), '--output', str(out), '--scale', '3']) == 0
    assert load_state_file(out)['arch']['scale'] == 3
    net, arch = models.load_network(out)
    got = run_paddle(net, x)
    assert got.shape == want.shape and psnr(got, want) >= 50
    pred = PredictorBackend(export_static(net, arch, tmp_path / 'infer'))
    for shape in [(1, 3, 11, 17), (1, 3, 8, 6)]:
        y = pred.forward(np.random.default_rng(0).random(shape, dtype=np.float32))
        assert y.shape[2:] == (3 * shape[2], 3 * shape[3])
    # a stored x3 arch without the unshuffle factor (as train.py saves network_g: {type: RRDBNet, scale: 3}) loads
    from tests.nets import save_tiny
    tiny = {'type': 'RRDBNet', 'scale': 3, 'num_feat': 4, 'num_block': 1, 'num_grow_ch': 4}
    assert models.load_network(save_tiny(tmp_path / 'trained.pdparams', tiny, seed=1))[1]['scale'] == 3
    with pytest.raises(models.CheckpointError, match='--scale 3 does not match the weights'):
        models.read_checkpoint(save_tiny(tmp_path / 'x4.pdparams', {**tiny, 'scale': 4}), overrides={'scale': 3},
                               check=True)


def test_variants_that_do_not_add_up_are_named():
    from realesrgan_paddle.models.detect import detect_arch
    from realesrgan_paddle.models.archs.rrdb.rrdbnet import upsamplings
    with pytest.raises(ValueError, match='got scale 3 with shuffle_factor 2'):
        upsamplings(3, 2)
    arch = {'type': 'RRDBNet', 'num_feat': 4, 'num_block': 1, 'num_grow_ch': 4, 'scale': 1, 'shuffle_factor': 1}
    state = {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}
    state['conv_first.weight'] = np.zeros((4, 12, 3, 3), np.float32)  # an unshuffle by 2 with no upsampling
    with pytest.raises(ValueError, match='not an upscaling network'):
        detect_arch(state)


# ---------------------------------------------------------------- the paths, for the new variants
PLUS_X8 = {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 8, 'num_feat': 4, 'num_block': 1,
           'num_grow_ch': 4, 'plus': True}
PLAIN_X1 = {**PLUS_X8, 'scale': 1, 'shuffle_factor': 1, 'plus': False}


@pytest.mark.slow
@pytest.mark.parametrize('arch', [PLUS_X8, {**PLUS_X8, 'scale': 2, 'shuffle_factor': 2}, PLAIN_X1],
                         ids=['plus-x8', 'plus-x2-unshuffle', 'plain-x1'])
def test_static_export_matches_the_dynamic_graph(arch, tmp_path):
    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    from tests.nets import save_tiny
    net, found = models.load_network(save_tiny(tmp_path / 'tiny.pdparams', arch, seed=3))
    assert found == arch
    pred, dyn = PredictorBackend(export_static(net, arch, tmp_path / 'infer')), DynamicBackend(net)
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 12, 20), (1, 3, 8, 16)]:  # dynamic H and W (multiples of the unshuffle)
        x = rng.random(shape, dtype=np.float32)
        y = pred.forward(x)
        assert y.shape[2:] == (shape[2] * arch['scale'], shape[3] * arch['scale'])
        np.testing.assert_allclose(y, dyn.forward(x), atol=1e-4)


def test_tiles_give_the_whole_image_and_a_training_step_runs(photo, tmp_path):
    import logging

    import paddle

    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.training.option_file import load_options
    from realesrgan_paddle.training.steps import build_model
    from tests.nets import save_tiny
    path = save_tiny(tmp_path / 'plus.pdparams', {**PLUS_X8, 'scale': 4}, seed=4)
    img = np.ascontiguousarray(photo[:H, :W])
    whole = Upscaler(model=str(path), backend='dynamic', precision='fp32').upscale(img)
    # tile_pad beyond the receptive field: the tiles hold all the whole image's context
    tiled = Upscaler(model=str(path), backend='dynamic', precision='fp32', tile=16, tile_pad=24).upscale(img)
    assert whole.shape == (H * 4, W * 4, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    net_g = json.dumps({**PLUS_X8, 'scale': 4})
    opt = load_options(ROOT / 'options' / 'tiny_smoke.yml',
                       [f'path.experiments_root={tmp_path}', 'model_type=RealESRNetModel', 'network_d=null',
                        'train.gan_opt=null', f'network_g={net_g}'])
    paddle.seed(0)
    model = build_model(opt, logging.getLogger('test'))
    assert type(model.g).__name__ == 'RRDBNet' and model.g.body[0].rdb1.conv1x1 is not None
    before = model.g.body[0].rdb1.conv1x1.weight.numpy().copy()
    rng = np.random.default_rng(0)
    lq = paddle.to_tensor(rng.random((2, 3, 16, 16), dtype=np.float32))
    gt = paddle.to_tensor(rng.random((2, 3, 64, 64), dtype=np.float32))
    losses = model.optimize(lq, gt, gt, 1)
    assert np.isfinite(losses['l_g_pix'])
    assert not np.array_equal(model.g.body[0].rdb1.conv1x1.weight.numpy(), before)  # ESRGAN+'s conv trains


@pytest.mark.slow(seconds=8)
@pytest.mark.parametrize('case, kinds', [('x2-unshuffle2', WRAPPERS), ('x4-plus-rgba', ('module', 'fp16'))])
def test_users_files_at_an_odd_size_through_the_api(case, kinds, photo, tmp_path, spandrel):
    """Every wrapper and dtype users' files come in (tests/models/user_files.py), through ``Upscaler`` at 37x45:
    spandrel's output at >= 90 dB. The x2 file unshuffles its input: the upscaler reflects it up to a multiple
    of 2 as spandrel does, and crops."""
    from tests.models.user_files import assert_user_files_match, odd_crop
    kwargs, extra = CASES[case]
    ref = spandrel_esrgan(3, **kwargs)
    x = odd_crop(photo, channels=3)
    if kwargs['out_nc'] == 4:
        x = np.concatenate([x, x[1:2]])  # RGB + a green alpha, as photo_input makes it
    centred_output(ref, x[None])

    def arch_read(arch):
        assert arch == expected_arch(kwargs, extra)
    assert_user_files_match(ref, x, tmp_path, kinds=kinds, arch_check=arch_read)
