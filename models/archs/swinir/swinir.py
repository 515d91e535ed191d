"""SwinIR (Liang et al., "SwinIR: Image Restoration Using Swin Transformer", 2021) and its ``ArchSpec``.

Shallow conv, residual Swin transformer blocks (RSTB: window attention, alternate blocks shifted by half a
window, then a conv), a conv after the body, and one of four reconstructions, told apart by their weights:
``pixelshuffle`` (classical SR), ``pixelshuffledirect`` (lightweight), ``nearest+conv`` (real-world SR; the
medium and large real-SR models, large with ``resi_connection`` '3conv'), or none (denoising / JPEG, x1).
State-dict names are the official ones (and spandrel's); the fixed buffers of the official files
(``relative_position_index``, ``attn_mask``) are dropped on reading: the network computes them, the mask
at run time for the padded input size.
"""
import math
import re

import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ..rrdb.rrdbnet import static_unshuffle
from ...specs import ArchSpec, Bound, find_spec, shape_of
from .window_attention import (WINDOW_ATTENTION_OPS, Mlp, PixelShuffleUpsample, WindowAttention, crop_to,
                               image_mean, index_buffer, pad_to_multiple, relative_position_index, shifted_attention,
                               to_image, to_tokens, window_features)

UPSAMPLERS = ('pixelshuffle', 'pixelshuffledirect', 'nearest+conv', '')
RESI_CONNECTIONS = ('1conv', '3conv')


class SwinBlock(nn.Layer):
    """norm, (shifted) window attention, residual; norm, MLP, residual."""

    def __init__(self, dim, heads, window, shift, mlp_ratio, qkv_bias=True):
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, index, mask):
        x = x + shifted_attention(self.norm1(x), self.attn, self.window, self.shift, index, mask)
        return x + self.mlp(self.norm2(x))


def residual_conv(dim, kind):
    """The conv closing a residual group (and the body): one 3x3, or 3x3 -> 1x1 -> 3x3 at a quarter width."""
    if kind == '1conv':
        return nn.Conv2D(dim, dim, 3, 1, 1)
    if kind == '3conv':
        return nn.Sequential(nn.Conv2D(dim, dim // 4, 3, 1, 1), nn.LeakyReLU(0.2),
                             nn.Conv2D(dim // 4, dim // 4, 1, 1, 0), nn.LeakyReLU(0.2),
                             nn.Conv2D(dim // 4, dim, 3, 1, 1))
    raise ValueError(f'resi_connection must be one of {RESI_CONNECTIONS}, got {kind!r}')


class _Group(nn.Layer):
    """``residual_group.blocks``: the state-dict level of the official RSTB."""

    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.LayerList(blocks)


class RSTB(nn.Layer):
    """Residual Swin transformer block: ``depth`` Swin blocks, a conv, plus the group's input."""

    def __init__(self, dim, depth, heads, window, mlp_ratio, resi_connection):
        super().__init__()
        self.residual_group = _Group([SwinBlock(dim, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
                                      for i in range(depth)])
        self.conv = residual_conv(dim, resi_connection)

    def forward(self, x, index, mask):
        out = x
        for block in self.residual_group.blocks:
            out = block(out, index, mask)
        return to_tokens(self.conv(to_image(out))) + x


class _Unshuffle(nn.Layer):
    """Pixel unshuffle as reshape/transpose (any run-time H, W): ``conv_first.0`` of the SwinIRs that take
    their input at 1/r resolution (``conv_first.1`` is then the convolution)."""

    def __init__(self, r):
        super().__init__()
        self.r = r

    def forward(self, x):
        return static_unshuffle(x, self.r)


class PatchNorm(nn.Layer):
    """``patch_embed.norm``: the LayerNorm on the embedded tokens."""

    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)


class SwinIR(nn.Layer):
    """SwinIR for any input size: reflect-padded to a multiple of ``window_size`` inside, output cropped to
    exactly ``upscale`` x input. ``img_range`` 255 is the JPEG models' scaling (spandrel's rule: window 7)."""

    def __init__(self, num_in_ch=3, num_out_ch=3, upscale=4, embed_dim=60, depths=(6, 6, 6, 6),
                 num_heads=(6, 6, 6, 6), window_size=8, mlp_ratio=2.0, upsampler='pixelshuffledirect',
                 resi_connection='1conv', num_feat=64, img_range=1.0, start_unshuffle=1):
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f'SwinIR upsampler must be one of {UPSAMPLERS}, got {upsampler!r}')
        if len(depths) != len(num_heads) or not depths:
            raise ValueError(f'SwinIR depths {list(depths)} and num_heads {list(num_heads)} must have one entry '
                             'per residual group')
        if upsampler == 'nearest+conv' and upscale * start_unshuffle not in (2, 4, 8):
            raise ValueError(f"SwinIR 'nearest+conv' upsamples by 2, 4 or 8, got {upscale * start_unshuffle}")
        if upsampler == '' and (upscale != 1 or start_unshuffle != 1):
            raise ValueError(f'SwinIR without an upsampler is x1 without unshuffle, got upscale {upscale}, '
                             f'start_unshuffle {start_unshuffle}')
        self.upscale, self.upsampler, self.window, self.unshuffle = upscale, upsampler, window_size, start_unshuffle
        self.img_range = float(img_range)
        self.register_buffer('mean', image_mean(num_in_ch), persistable=False)
        index_buffer(self, 'position_index', relative_position_index(window_size))
        conv = nn.Conv2D(num_in_ch * start_unshuffle ** 2, embed_dim, 3, 1, 1)
        self.conv_first = nn.Sequential(_Unshuffle(start_unshuffle), conv) if start_unshuffle > 1 else conv
        self.patch_embed = PatchNorm(embed_dim)
        self.layers = nn.LayerList([RSTB(embed_dim, d, h, window_size, mlp_ratio, resi_connection)
                                    for d, h in zip(depths, num_heads)])
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        self._build_tail(num_out_ch, embed_dim, num_feat)

    @property
    def tail_scale(self):
        """The reconstruction's factor: ``upscale`` times the input's pixel-unshuffle."""
        return self.upscale * self.unshuffle

    def _build_tail(self, out_ch, dim, feat):
        if self.upsampler == 'pixelshuffledirect':
            self.upsample = nn.Sequential(nn.Conv2D(dim, out_ch * self.tail_scale ** 2, 3, 1, 1),
                                          nn.PixelShuffle(self.tail_scale))
            return
        if not self.upsampler:
            self.conv_last = nn.Conv2D(dim, out_ch, 3, 1, 1)
            return
        self.conv_before_upsample = nn.Sequential(nn.Conv2D(dim, feat, 3, 1, 1), nn.LeakyReLU(0.01))
        if self.upsampler == 'pixelshuffle':
            self.upsample = PixelShuffleUpsample(self.tail_scale, feat)
        else:
            for i in range(1, int(math.log2(self.tail_scale)) + 1):
                setattr(self, f'conv_up{i}', nn.Conv2D(feat, feat, 3, 1, 1))
            self.conv_hr = nn.Conv2D(feat, feat, 3, 1, 1)
        self.conv_last = nn.Conv2D(feat, out_ch, 3, 1, 1)

    def forward_features(self, x):
        return window_features(self, x, self.position_index)

    def forward(self, x):
        padded = (pad_to_multiple(x, self.window * self.unshuffle) - self.mean) * self.img_range
        feat = self.conv_first(padded)
        feat = self.conv_after_body(self.forward_features(feat)) + feat
        if self.upsampler == 'pixelshuffledirect':
            out = self.upsample(feat)
        elif not self.upsampler:
            out = padded + self.conv_last(feat)
        elif self.upsampler == 'pixelshuffle':
            out = self.conv_last(self.upsample(self.conv_before_upsample(feat)))
        else:
            out = self.conv_before_upsample(feat)
            for i in range(1, int(math.log2(self.tail_scale)) + 1):
                up = F.interpolate(out, scale_factor=2, mode='nearest')
                out = F.leaky_relu(getattr(self, f'conv_up{i}')(up), 0.2)
            out = self.conv_last(F.leaky_relu(self.conv_hr(out), 0.2))
        return crop_to(out / self.img_range + self.mean, x, self.upscale)


# ---------------------------------------------------------------- detection
_BLOCK0 = 'layers.0.residual_group.blocks.0.'
_HAT_KEYS = ('conv_block.cab', 'overlap_attn', 'relative_position_index_SA')


def rename_swin_buffers(state, marker, buffers):
    """``state`` without the fixed buffers the official files carry (named by ``buffers``, a key regex) when
    ``marker`` (a key prefix) is there and such a buffer is; None otherwise (not such a file)."""
    if not any(k.startswith(marker) for k in state):
        return None
    dropped = {k: v for k, v in state.items() if not re.search(buffers, k)}
    return dropped if len(dropped) < len(state) else None


def rename_swinir(state):
    if any(h in k for k in state for h in _HAT_KEYS):
        return None
    return rename_swin_buffers(state, _BLOCK0 + 'attn.', r'(^|\.)(relative_position_index|attn_mask)$')


def stage_shapes(state, table_key):
    """``(depths, heads)`` per residual group: blocks counted from the keys, heads from the bias tables."""
    depths, heads = [], []
    while f'layers.{len(depths)}.residual_group.blocks.0.norm1.weight' in state:
        i = len(depths)
        blocks = {int(m.group(1)) for k in state for m in [re.match(rf'layers\.{i}\.residual_group\.blocks\.(\d+)\.', k)]
                  if m}
        if blocks != set(range(len(blocks))):
            raise ValueError(f'residual group {i} has blocks {sorted(blocks)[:8]}, not 0, 1, 2, ...')
        depths.append(len(blocks))
        heads.append(shape_of(state[table_key.format(i=i)])[1])
    return depths, heads


def window_of(state, key):
    """The window size a (2w - 1)^2-row bias table gives."""
    rows = shape_of(state[key])[0]
    side = math.isqrt(rows)
    if side * side != rows or side % 2 == 0:
        raise ValueError(f'{key} has {rows} rows, not (2 x window - 1)^2')
    return (side + 1) // 2


def _tail_of(state, out_ch):
    """``(upsampler, upscale, num_feat)`` from the reconstruction's keys."""
    if 'conv_before_upsample.0.weight' in state:
        feat = shape_of(state['conv_before_upsample.0.weight'])[0]
        if 'conv_up1.weight' in state:
            ups = sum(1 for i in (1, 2, 3) if f'conv_up{i}.weight' in state)
            return 'nearest+conv', 2 ** ups, feat
        convs = sorted(int(m.group(1)) for k in state for m in [re.match(r'^upsample\.(\d+)\.weight$', k)] if m)
        first = shape_of(state['upsample.0.weight'])[0] if convs else 0
        if first == 9 * feat and convs == [0]:
            return 'pixelshuffle', 3, feat
        if first != 4 * feat or convs != list(range(0, 2 * len(convs), 2)):
            raise ValueError(f'pixel-shuffle upsampler convs {convs[:6]} with {first} outputs do not fit '
                             f'{feat} features')
        return 'pixelshuffle', 2 ** len(convs), feat
    if 'upsample.0.weight' in state:
        r2 = shape_of(state['upsample.0.weight'])[0] // out_ch
        r = math.isqrt(r2)
        if r * r != r2:
            raise ValueError(f'upsample.0 has {shape_of(state["upsample.0.weight"])[0]} outputs, not '
                             f'{out_ch} x scale^2')
        return 'pixelshuffledirect', r, 64
    return '', 1, 64


def detect_swinir(state):
    """SwinIR's arch from its weights (spandrel's reading); None for other networks. A ``conv_first.1`` (after a
    pixel unshuffle of 3-channel input) gives ``start_unshuffle``; ``upscale`` is then the tail's factor over it."""
    first = next((k for k in ('conv_first.weight', 'conv_first.1.weight') if k in state), None)
    if _BLOCK0 + 'attn.relative_position_bias_table' not in state or first is None \
            or any(h in k for k in state for h in _HAT_KEYS):
        return None
    if 'absolute_pos_embed' in state:
        raise ValueError('a SwinIR with an absolute position embedding (one input size) is not supported')
    embed, in_ch = shape_of(state[first])[:2]
    if not embed or not in_ch:
        raise ValueError(f'{first} has shape {shape_of(state[first])}: no channels')
    unshuffle = round(math.sqrt(in_ch // 3)) if first == 'conv_first.1.weight' else 1
    if in_ch % (unshuffle * unshuffle):
        raise ValueError(f'{first} takes {in_ch} channels, not a pixel-unshuffled image\'s')
    in_ch //= unshuffle * unshuffle
    out_ch = shape_of(state['conv_last.weight'])[0] if 'conv_last.weight' in state else in_ch
    upsampler, tail, feat = _tail_of(state, out_ch)
    if tail % unshuffle:
        raise ValueError(f'the upsampler scales by {tail}, which a pixel unshuffle by {unshuffle} does not divide')
    window = window_of(state, _BLOCK0 + 'attn.relative_position_bias_table')
    depths, heads = stage_shapes(state, 'layers.{i}.residual_group.blocks.0.attn.relative_position_bias_table')
    return {'type': 'SwinIR', 'num_in_ch': in_ch, 'num_out_ch': out_ch, 'upscale': tail // unshuffle,
            'embed_dim': embed, 'depths': depths, 'num_heads': heads, 'window_size': window,
            'mlp_ratio': shape_of(state[_BLOCK0 + 'mlp.fc1.weight'])[0] / embed, 'upsampler': upsampler,
            'resi_connection': '1conv' if 'conv_after_body.weight' in state else '3conv', 'num_feat': feat,
            'img_range': 255.0 if window == 7 else 1.0, 'start_unshuffle': unshuffle}


def attention_bytes(arch, extra=0.0):
    """fp32 working set per LR pixel of a window-attention network, fitted to the CPU predictor's peak RSS
    (SwinIR light x4 at 128 px: 10.8 KB/px, this gives 10.8; real-SR medium x4: 31.8 measured, 34 here):
    the tokens and their copies (norm, qkv, heads, the MLP's hidden layer and GELU's terms), the attention
    maps (heads x window^2 per token, with the bias and the softmax), ``extra`` floats more, and the
    reconstruction (a few ``num_feat`` maps at scale^2, or the image channels for the lightweight one)."""
    spec = find_spec(arch['type'])

    def get(key):
        return arch.get(key, spec.default(key) if key in spec.keys else None)
    dim, window, mlp = int(get('embed_dim')), int(get('window_size')), float(get('mlp_ratio'))
    heads, scale = max(get('num_heads')), int(get('upscale'))
    body = 1.0 / int(get('start_unshuffle') or 1) ** 2  # the body's share of the input pixels
    tokens = dim * (8 + 8 * mlp)
    maps = 3 * heads * window * window
    direct = get('upsampler') in ('pixelshuffledirect', '')
    recon = (2 * int(get('num_out_ch')) if direct else 3 * int(get('num_feat'))) * scale * scale
    return 4.0 * ((tokens + maps + extra) * body + recon)


def window_multiple(arch):
    """Tiles start on the window grid (``Upscaler`` pads to this and cuts tiles at its multiples): a tile cut off
    the grid sees other windows than the whole image does, everywhere, not only at its seams. The outer reflect
    pad is the one the network would make inside, so the whole image's output is unchanged."""
    return int(arch.get('window_size', 8)) * int(arch.get('start_unshuffle', 1))


# released SwinIRs: embed 60-240, up to 9 groups of 6 blocks, 6-8 heads, window 7 or 8, MLP ratio 2
GROUPS = Bound(1, 64, count=(1, 16))  # per residual group: blocks, heads
SWIN_BOUNDS = {'embed_dim': Bound(1, 512), 'depths': GROUPS, 'num_heads': GROUPS, 'window_size': Bound(1, 32),
               'mlp_ratio': Bound(0, 16, real=True), 'start_unshuffle': Bound(1, 8)}


def swin_consistent(arch):
    """``[(key, problem)]`` of window-attention values that do not fit each other (SwinIR and HAT): one head
    count per group, heads that divide the width (a head of width 0 divides by zero), a non-empty MLP."""
    dim, depths, heads = arch['embed_dim'], arch['depths'], arch['num_heads']
    if len(depths) != len(heads):
        return [('num_heads', f'must have one entry per residual group ({len(depths)} in depths), got {len(heads)}')]
    odd = next((h for h in heads if dim % h), None)
    if odd is not None:
        return [('num_heads', f'each must divide embed_dim {dim}, got {odd}')]
    if int(dim * arch['mlp_ratio']) < 1:
        return [('mlp_ratio', f'{arch["mlp_ratio"]} x embed_dim {dim} leaves the MLP no width')]
    if arch.get('resi_connection') == '3conv' and dim < 4:
        return [('embed_dim', f"must be at least 4 with resi_connection '3conv' (a quarter-width conv), got {dim}")]
    return []


# beyond the plumbing (models/export_ops.py): window attention's ops and the upsamplers' (pixel shuffle; nearest
# and leaky ReLUs for 'nearest+conv' and 'pixelshuffle')
EXPORT_OPS = WINDOW_ATTENTION_OPS | ops.PIXEL_SHUFFLE | ops.NEAREST | ops.LEAKY_RELU
SPEC = ArchSpec('SwinIR', SwinIR, detect=detect_swinir, rename=rename_swinir, scale_key='upscale',
                bytes_per_pixel=attention_bytes, pad_multiple=window_multiple, undetectable={'img_range': (1.0, 255.0)},
                bounds=SWIN_BOUNDS, consistent=swin_consistent, export_ops=EXPORT_OPS)
