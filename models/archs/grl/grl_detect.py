"""GRL's arch from its weights (spandrel's reading), its position buffers, and what fits together.

The official files hold the network's position tables and indexes (and its masks for a 64 x 64 training crop):
the window side, the stripe sides and the anchors' down factor are read from their shapes, and the tables must be
the ones those sizes give. Files without them (spandrel keeps them out of its state dicts) stand for the released
geometry, as spandrel assumes: restoration (x1) windows 8 and stripes 8 x 8, real-world SR (``nearest+conv``) 16 and
32 x 64, SR 32 and 64 x 64; ``rename_grl`` puts those tables in. The keys may come under ``model.`` or, beside
others, ``model_g.`` (the official blind-SR checkpoint): only the network's are kept.
"""
import math

import numpy as np

from ...specs import count_keys, shape_of
from .grl_geometry import coords_table, position_index

BLOCK0 = 'layers.0.blocks.0.'
MARKERS = ('conv_first.weight', 'norm_start.weight', 'norm_end.weight',
           BLOCK0 + 'attn.window_attn.attn_transform.logit_scale',
           BLOCK0 + 'attn.stripe_attn.attn_transform1.logit_scale')
MASKS = ('mask_w', 'mask_sh_a2w', 'mask_sh_w2a', 'mask_sv_a2w', 'mask_sv_w2a')
TABLE_NAMES = ('table_w', 'table_sh', 'table_sv', 'index_w', 'index_sh_a2w', 'index_sh_w2a', 'index_sv_a2w',
               'index_sv_w2a')
ASSUMED_DF = 4  # the anchors' down factor where the weights do not show it (every official model's)
# the largest geometry read (released: window 32, stripes 64 x 64, anchors 1/4: 2^20 pairs), so that no file can ask
# for index tables of gigabytes
MAX_WINDOW, MAX_STRIPE, MAX_PAIRS = 32, 64, 2 ** 21
ROUNDING = 0.02  # how far a file's tables may be from the exact ones (bf16 rounding of values up to 1.6)


def pad_size(window, stripe):
    """What the input is padded to: a multiple of the window and stripe sides (the largest, which they divide)."""
    return max(window, *stripe)


def table_buffers(window, stripe, df):
    """name -> array of the position tables and indexes of a GRL with these sizes (``TABLE_NAMES``)."""
    out = {'table_w': coords_table(window, window), 'index_w': position_index(window, window)}
    for kind, (a, b) in (('sh', stripe), ('sv', tuple(stripe)[::-1])):
        out[f'table_{kind}'] = coords_table(a, b, df)
        out[f'index_{kind}_a2w'] = position_index(a, b, df, False)
        out[f'index_{kind}_w2a'] = position_index(a, b, df, True)
    return {name: out[name] for name in TABLE_NAMES}


# ---------------------------------------------------------------- the reconstruction, the anchors
def output_params(state, in_ch):
    """``(out_channels, upsampler, upscale)``."""
    if 'upsample.up.0.weight' in state and 'conv_before_upsample.0.weight' in state:
        convs = 0
        while f'upsample.up.{2 * convs}.weight' in state:  # convs at 0, 2, 4, ..., each with a pixel shuffle
            convs += 1
        width = shape_of(state['conv_before_upsample.0.weight'])[0]
        three = convs == 1 and shape_of(state['upsample.up.0.weight'])[0] == 9 * width
        scale = 3 if three else 2 ** convs
        return shape_of(state['conv_last.weight'])[0], 'pixelshuffle', scale
    if 'upsample.up.0.weight' in state:
        out = shape_of(state['upsample.up.0.weight'])[0]
        scale = math.isqrt(max(out // max(in_ch, 1), 1))
        if scale * scale * in_ch != out:
            raise ValueError(f'GRL upsample.up.0 conv has {out} outputs, not {in_ch} x scale^2')
        return in_ch, 'pixelshuffledirect', scale
    if 'conv_up1.weight' in state:
        return shape_of(state['conv_last.weight'])[0], 'nearest+conv', 4
    return shape_of(state['conv_last.weight'])[0], '', 1


def _stage_kind(state, i):
    body = f'{BLOCK0}attn.anchor.body.{i}.'
    if body + 'reduction.weight' in state:
        return 'avgpool' if body + 'reduction.bias' in state else 'patchmerging'
    if body + 'weight' in state:
        return 'conv2d'
    return 'separable_conv' if body + '0.weight' in state else None


def anchor_params(state):
    """``(anchor_proj_type, anchor_one_stage, df)``; df None where the weights do not show it."""
    stages = 0
    while _stage_kind(state, stages):
        stages += 1
    if not stages:
        raise ValueError(f'GRL-like keys, but no anchor projection ({BLOCK0}attn.anchor.body.0)')
    kind = _stage_kind(state, 0)
    if stages > 1:
        return kind, False, 2 ** stages
    body = f'{BLOCK0}attn.anchor.body.0.'
    if kind == 'conv2d':
        return kind, True, shape_of(state[body + 'weight'])[2] - 1
    if kind == 'separable_conv':
        return kind, True, shape_of(state[body + '0.weight'])[2] - 1
    return kind, True, 2 if kind == 'patchmerging' else None


# ---------------------------------------------------------------- the geometry
def released_geometry(state):
    """``(window, stripe, df)`` spandrel assumes for a file without position tables."""
    in_ch = shape_of(state['conv_first.weight'])[1]
    _, upsampler, scale = output_params(state, in_ch)
    df = anchor_params(state)[2] or ASSUMED_DF
    if scale == 1:
        return 8, (8, 8), df
    return (16, (32, 64), df) if upsampler == 'nearest+conv' else (32, (64, 64), df)


def _prefix(state):
    for prefix in ('', 'model.', 'model_g.'):
        if all(prefix + k in state for k in MARKERS):
            return prefix
    return None


def rename_grl(state):
    """The network's keys (``model.``/``model_g.`` taken off), without the training crop's masks, with the position
    tables computed again (as spandrel does: an fp16 file's are rounded) for the geometry their shapes give, or the
    released geometry's where the file has none; None when ``state`` is not GRL's."""
    prefix = _prefix(state)
    if prefix is None or (prefix == 'model.' and not all(k.startswith(prefix) for k in state)):
        return None
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and k[len(prefix):] not in MASKS}
    try:
        has_tables = any(k in out for k in TABLE_NAMES)
        out.update(table_buffers(*(geometry_of(out, ROUNDING) if has_tables else released_geometry(out))))
    except (KeyError, ValueError, IndexError):  # detection names what is missing or wrong
        pass
    return out


def _inv_div_add(a, d):
    """``b`` where ``a = b + b // d``."""
    return round(a / (1 + 1 / d))


def geometry_of(state, atol=1e-5):
    """``(window, stripe, df)`` from the position tables' shapes; each table must be the one they give."""
    missing = [k for k in TABLE_NAMES if k not in state]
    if missing:
        raise ValueError(f'GRL-like keys, but no {missing[0]}')
    window = (shape_of(state['table_w'])[1] + 1) // 2
    n2, n1 = shape_of(state['index_sh_a2w'])[:2] if len(shape_of(state['index_sh_a2w'])) == 2 else (0, 0)
    df = math.isqrt(n1 // n2) if n2 and n1 % n2 == 0 else 0
    sh = shape_of(state['table_sh'])
    if df < 1 or df * df * n2 != n1 or len(sh) != 4:
        raise ValueError(f'GRL index_sh_a2w of shape {list(shape_of(state["index_sh_a2w"]))} is not an anchor '
                         'index (anchor tokens x df^2 as many stripe tokens)')
    stripe = (_inv_div_add(sh[1] + 1, df), _inv_div_add(sh[2] + 1, df))
    if not 2 <= window <= MAX_WINDOW or not 2 <= min(stripe) <= max(stripe) <= MAX_STRIPE \
            or any(s % (2 * df) for s in stripe) or (stripe[0] * stripe[1]) ** 2 > MAX_PAIRS * df * df:
        raise ValueError(f'GRL tables give window {window}, stripes {stripe[0]} x {stripe[1]}, anchors 1/{df}: '
                         f'not a geometry GRL runs (window 2-{MAX_WINDOW}, stripes 2-{MAX_STRIPE} and multiples of '
                         f'twice the down factor, at most {MAX_PAIRS} stripe-anchor pairs)')
    want = table_buffers(window, stripe, df)
    for name in TABLE_NAMES:
        got = np.asarray(state[name])
        if got.shape != want[name].shape or not np.allclose(got, want[name], atol=atol):
            raise ValueError(f'GRL {name} is not the table of window {window}, stripes {stripe[0]} x {stripe[1]}, '
                             f'anchors 1/{df}')
    return window, stripe, df


# ---------------------------------------------------------------- detection
def _conv_type(state):
    if 'conv_after_body.weight' not in state:
        return '3conv'
    shape = shape_of(state['conv_after_body.weight'])
    return 'linear' if len(shape) == 2 else '1conv1x1' if shape[2] == 1 else '1conv'


def _stages(state):
    """``(depths, heads_window, heads_stripe)``."""
    depths = [count_keys(state, f'layers.{i}.blocks.{{}}.norm1.weight')
              for i in range(count_keys(state, 'layers.{}.blocks.0.norm1.weight'))]
    if not depths:
        raise ValueError('GRL-like keys, but no transformer stage (layers.0.blocks.0.norm1)')
    attn = 'layers.{}.blocks.0.attn.'
    heads_w, heads_s = ([shape_of(state[attn.format(i) + key])[0] for i in range(len(depths))]
                        for key in ('window_attn.attn_transform.logit_scale',
                                    'stripe_attn.attn_transform1.logit_scale'))
    return depths, heads_w, heads_s


def detect_grl(state):
    """GRL's arch from its weights (the module docstring); None for other networks."""
    if not all(k in state for k in MARKERS):
        return None
    window, stripe, df = geometry_of(state)
    embed, in_ch = shape_of(state['conv_first.weight'])[:2]
    out_ch, upsampler, scale = output_params(state, in_ch)
    kind, one_stage, anchor_df = anchor_params(state)
    if anchor_df is not None and anchor_df != df:
        raise ValueError(f'GRL anchor projection reduces by {anchor_df}, its tables by {df}')
    depths, heads_w, heads_s = _stages(state)
    linear_qkv = BLOCK0 + 'attn.qkv.body.weight' in state
    qkv_bias = BLOCK0 + ('attn.qkv.body.bias' if linear_qkv else 'attn.qkv.body.0.bias') in state
    return {'type': 'GRL', 'in_channels': in_ch, 'out_channels': out_ch, 'embed_dim': embed, 'upscale': scale,
            'upsampler': upsampler, 'depths': depths, 'num_heads_window': heads_w, 'num_heads_stripe': heads_s,
            'window_size': window, 'stripe_size': list(stripe),
            'mlp_ratio': shape_of(state[BLOCK0 + 'mlp.fc1.weight'])[0] / embed, 'qkv_bias': qkv_bias,
            'qkv_proj_type': 'linear' if linear_qkv else 'separable_conv', 'anchor_proj_type': kind,
            'anchor_one_stage': one_stage, 'anchor_window_down_factor': df,
            'local_connection': BLOCK0 + 'conv.cab.0.weight' in state, 'conv_type': _conv_type(state)}


def grl_consistent(arch):
    """One head count per stage; heads that divide half the width; an even window and stripes of whole anchor
    windows shifted by whole anchor pixels, dividing the pad; a down factor each anchor projection gives; room for
    the local branch's channel attention."""
    dim, df = arch['embed_dim'], arch['anchor_window_down_factor']
    window, stripe = arch['window_size'], arch['stripe_size']
    n = len(arch['depths'])
    if len(arch['num_heads_window']) != n or len(arch['num_heads_stripe']) != n:
        return [('num_heads_window', f'must have one entry per stage ({n} in depths), as num_heads_stripe')]
    odd = next((h for h in arch['num_heads_window'] + arch['num_heads_stripe'] if dim % (2 * h)), None)
    if odd is not None:
        return [('embed_dim', f'must be a multiple of twice each head count, got {dim} with {odd} heads')]
    if len(stripe) != 2 or window % 2 or any(s % (2 * df) for s in stripe) or pad_size(window, stripe) % window \
            or any(pad_size(window, stripe) % s for s in stripe):
        return [('stripe_size', f'{list(stripe)} with window {window} and down factor {df}: the window must be even, '
                                f'each stripe a multiple of {2 * df}, and all dividing the largest')]
    if (stripe[0] * stripe[1]) ** 2 > MAX_PAIRS * df * df:
        return [('stripe_size', f'{list(stripe)} with anchors 1/{df}: over {MAX_PAIRS} stripe-anchor pairs')]
    one = arch['anchor_one_stage']
    if (not one and df & (df - 1)) or (one and arch['anchor_proj_type'] == 'patchmerging' and df != 2):
        return [('anchor_window_down_factor', f'{df} is not one the {arch["anchor_proj_type"]} anchors give')]
    if arch['local_connection'] and dim < 18:
        return [('embed_dim', f'the local branch needs at least 18 channels, got {dim}')]
    if int(dim * arch['mlp_ratio']) < 1:
        return [('mlp_ratio', f'{arch["mlp_ratio"]} x embed_dim {dim} leaves the MLP no width')]
    return []


def grl_bytes(arch):
    """fp32 working set per LR pixel (of the padded map): tokens, q/k/v (3C), the MLP's hidden map, the window
    attention rows (heads x window^2) and the stripe's (heads x stripe x anchors), the HR output."""
    c, s = int(arch.get('embed_dim', 96)), int(arch.get('upscale', 2))
    window, stripe = int(arch.get('window_size', 8)), arch.get('stripe_size', (8, 8))
    df = max(int(arch.get('anchor_window_down_factor', 1)), 1)
    heads = max(list(arch.get('num_heads_window', (3,))) + list(arch.get('num_heads_stripe', (3,))))
    rows = heads * (window * window + 2 * int(stripe[0]) * int(stripe[1]) // (df * df))
    return 4.0 * (10 * c + float(arch.get('mlp_ratio', 4.0)) * c + rows + 64 * 2 + 2 * 3 * s * s)
