"""ATD (models/archs/atd/): spandrel's network in every wrapper and dtype users' files come in, read by detection
from the weights alone, through ``Upscaler`` on a real photo crop at an odd size (37x45, mirrored to 40x48 inside:
1920 tokens in category groups of 256, the last filled by 128 mirrored tokens), its output at >= 90 dB.

The category sort's ties: spandrel sorts the categories with ``torch.sort(stable=False)``, which on a CPU is
libstdc++'s introsort and leaves ties in an order of its own. With ``category_order`` 'torch_cpu' the port replays
that sort and is held to spandrel as it runs here; with 'stable' (the default: exportable) it is held to spandrel
with its sort made stable. Other forms (x1 without the mean, x3 '3conv' without qkv bias, x4 nearest+conv, the
light layout), a 5x7 crop, the export against the dynamic graph, broken files named in one line. Export, tiles,
ONNX and training: tests/models/test_arch_user_paths.py (tests/models/tiny_archs.py)."""
import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models.archs.atd.category_order import introsort_order
from realesrgan_paddle.models.detect import detect_arch
from tests.models.user_files import LEAST_DB, odd_crop
from tests.ref_compare import (assert_every_wrapper, assert_export_matches, assert_form_matches, network_vs_ref,
                               paddle_state, psnr, spread_output, torch_out, unit_gain)

TINY = {'type': 'ATD', 'in_chans': 3, 'embed_dim': 24, 'depths': [2, 3], 'num_heads': [2, 3], 'window_size': 8,
        'category_size': 256, 'num_tokens': 16, 'reducted_dim': 4, 'convffn_kernel_size': 5, 'mlp_ratio': 2.0,
        'qkv_bias': True, 'upscale': 2, 'upsampler': 'pixelshuffledirect', 'resi_connection': '1conv', 'norm': True}
CPU = {'arch': {'category_order': 'torch_cpu'}}


def _last_conv(net):
    return net.upsample[0] if net.upsampler == 'pixelshuffledirect' else net.conv_last


def _spandrel_atd(x, torch, spandrel, seed=0, **over):
    """spandrel's ATD, seeded, its linear layers at unit gain, the dictionary refinement's sigma and scales drawn,
    its last conv rescaled so that the output on ``x`` spreads 0.1 around 0.5."""
    torch.manual_seed(seed)
    net = spandrel.architectures.ATD.ATD(**{k: v for k, v in {**TINY, **over}.items() if k != 'type'}).eval()
    unit_gain(net, seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(('sigma', 'attn_atd.scale')):
                p.copy_(torch.rand(p.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 0.5)
    return spread_output(net, _last_conv(net), x)


@pytest.fixture
def stable_sort(torch, monkeypatch):
    """spandrel's category sort made stable (ties in token order)."""
    sort = torch.sort
    monkeypatch.setattr(torch, 'sort', lambda t, dim=-1, descending=False, stable=False:
                        sort(t, dim=dim, descending=descending, stable=True))


@pytest.mark.slow(seconds=20)
def test_users_files_through_the_api(photo, tmp_path, torch, spandrel, stable_sort):
    x = odd_crop(photo)
    assert_every_wrapper(_spandrel_atd(x[None], torch, spandrel), x, tmp_path, TINY)


@pytest.mark.slow(seconds=20)
def test_users_files_with_pytorchs_cpu_order(photo, tmp_path, torch, spandrel):
    """spandrel as it runs on a CPU; the default (stable) order is far from it (the gap printed), the replay of
    PyTorch's CPU sort is not."""
    x = odd_crop(photo)
    ref = _spandrel_atd(x[None], torch, spandrel)
    seen = assert_every_wrapper(ref, x, tmp_path, {**TINY, 'category_order': 'torch_cpu'}, **CPU)
    from tests.models.user_files import api_outputs
    gap = psnr(api_outputs(tmp_path / 'params.pth', x)[0], torch_out(ref, x))
    print('stable order against spandrel on a CPU', round(gap, 1))
    assert gap < min(seen.values()) - 20


@pytest.mark.parametrize('over', [
    {'upscale': 3, 'upsampler': 'pixelshuffle', 'resi_connection': '3conv', 'qkv_bias': False, 'window_size': 4},
    {'upscale': 4, 'upsampler': 'nearest+conv', 'depths': [1], 'num_heads': [4], 'convffn_kernel_size': 3},
    {'upscale': 1, 'upsampler': '', 'norm': False, 'num_tokens': 8, 'reducted_dim': 6, 'mlp_ratio': 1.5},
    {'upscale': 4, 'embed_dim': 48, 'depths': [2], 'num_heads': [4], 'category_size': 128}],
    ids=['x3_3conv_nobias_window4', 'x4_nearest', 'x1_no_norm', 'x4_light'])
def test_forms_at_an_odd_size(over, photo, tmp_path, torch, spandrel, stable_sort):
    x = odd_crop(photo)
    assert_form_matches(_spandrel_atd(x[None], torch, spandrel, seed=1, **over), x, tmp_path, {**TINY, **over})


def test_small_crops_and_a_grey_network(photo, tmp_path, torch, spandrel):
    """A 5x7 crop through the network (mirrored to 8x8 inside: the smallest side is half a window; ``Upscaler``
    raises any image under 8 px to 8 by repeating its edges first, inference/tiling.py), a 9x13 crop through
    ``Upscaler`` (mirrored to 16x16 inside) and a one-channel network, in PyTorch's CPU order."""
    x = odd_crop(photo, 5, 7)
    got, _, db = network_vs_ref(_spandrel_atd(x[None], torch, spandrel, seed=2), x, tmp_path,
                                arch={'category_order': 'torch_cpu'})
    print('5x7', round(db, 1))
    assert got.shape == (3, 10, 14) and db >= LEAST_DB
    x = odd_crop(photo, 9, 13)
    assert_form_matches(_spandrel_atd(x[None], torch, spandrel, seed=2), x, tmp_path,
                        {**TINY, 'category_order': 'torch_cpu'}, **CPU)
    grey = odd_crop(photo, channels=1)
    assert_form_matches(_spandrel_atd(grey[None], torch, spandrel, seed=3, in_chans=1), grey, tmp_path,
                        {**TINY, 'in_chans': 1, 'category_order': 'torch_cpu'}, **CPU)


def test_the_replayed_sort_is_pytorchs(torch):
    """introsort_order against torch.sort(stable=False) on a CPU: random categories, sorted and reversed runs, and
    Musser's median-of-three killer (which sends the introsort into its heapsort)."""
    rng = np.random.default_rng(0)
    cases = [rng.integers(0, m, n) for n, m in [(17, 3), (1920, 16), (4096, 64), (5000, 128)]]
    cases += [np.sort(rng.integers(0, 16, 3000)), np.sort(rng.integers(0, 16, 3000))[::-1].copy()]
    k = 512
    killer = np.zeros(2 * k, np.int64)
    for i in range(1, k + 1):
        if i % 2:
            killer[i - 1], killer[i] = i, k + i
        killer[k + i - 1] = 2 * i
    for keys in cases + [killer]:
        want = torch.sort(torch.from_numpy(keys)[None], dim=-1, stable=False)[1][0].numpy()
        assert np.array_equal(introsort_order(keys), want), len(keys)


@pytest.mark.slow(seconds=10)
def test_the_export_gives_the_networks_output(tmp_path):
    """The static export (Paddle Inference) against the dynamic graph, at two sizes; the torch_cpu order refuses
    to export in one line."""
    import paddle

    from realesrgan_paddle.inference.export.paddle_export import export_static
    paddle.seed(0)
    net = models.build_network(TINY)
    net.eval()
    assert_export_matches(net, TINY, tmp_path / 'infer', [(1, 3, 32, 40), (1, 3, 37, 45)])
    cpu = {**TINY, 'category_order': 'torch_cpu'}
    with pytest.raises(ValueError, match="cannot be exported: export with category_order 'stable'"):
        export_static(models.build_network(cpu), cpu, tmp_path / 'cpu')


def _state(**over):
    return paddle_state({**TINY, **over})


def test_detection_and_broken_weights_are_named():
    assert detect_arch(_state()) == TINY
    light = {**TINY, 'embed_dim': 48, 'num_heads': [4, 4], 'upscale': 4}
    assert detect_arch(_state(**light)) == {**light, 'category_size': 128}
    state = _state()
    state['relative_position_index_SA'] = state['relative_position_index_SA'][:10]
    with pytest.raises(ValueError, match="relative_position_index_SA of shape \\[10, 64\\] is not a window's"):
        detect_arch(state)
    state = _state()
    state['upsample.0.weight'] = state['upsample.0.weight'][:10]
    with pytest.raises(ValueError, match='upsample.0 conv has 10 outputs'):
        detect_arch(state)
    with pytest.raises(ValueError, match='absolute position embedding'):
        detect_arch({**_state(), 'absolute_pos_embed': np.zeros((1, 64, 24), 'float32')})


def test_bounds_are_checked_before_building():
    with pytest.raises(ValueError, match='num_heads'):
        models.build_network({**TINY, 'num_heads': [5, 3]})
    with pytest.raises(ValueError, match='window_size'):
        models.build_network({**TINY, 'window_size': 7})
    with pytest.raises(ValueError, match='upscale'):
        models.build_network({**TINY, 'upsampler': 'nearest+conv'})
    with pytest.raises(ValueError, match='embed_dim'):
        models.build_network({**TINY, 'embed_dim': 10 ** 6})
    assert models.pad_multiple(TINY) == 8 and models.min_side(TINY) == 4 and models.net_scale(TINY) == 2
    big = {**TINY, 'embed_dim': 96, 'depths': [6] * 4, 'num_heads': [6] * 4, 'window_size': 16, 'upscale': 4}
    assert models.net_facts(big).bytes_per_pixel > models.net_facts(TINY).bytes_per_pixel
