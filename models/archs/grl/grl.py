"""GRL (Li et al., CVPR 2023: "Efficient and Explicit Modelling of Image Hierarchies for Image Restoration") and
its spec.

A shallow conv, a layer norm on the tokens, transformer stages (``models.archs.grl.grl_blocks``: mixed window and
anchored stripe attention, an MLP, each post-normed; a closing conv), a layer norm, a conv after the body
(``conv_type``), the shallow features added back, and one of four reconstructions told apart by their weights:
``pixelshuffle`` (a conv to 64 features and leaky ReLU, 2x or 3x pixel-shuffle steps, a conv), ``pixelshuffledirect``
(one conv and shuffle), ``nearest+conv`` (x4: two nearest 2x steps each with a conv) or none (restoration, x1: the
input added back when the channels agree). DIV2K's mean is taken off first and added back last (other channel
counts: none), times ``img_range``.

Odd sizes, as the original (and spandrel) runs it: the input is padded at the bottom and right to a multiple of
the largest of the window and the stripe sides (by reflection; by zeros when that pad is not smaller than the image,
``grl_geometry.pad_grl``), the output cropped back to exactly scale x input.

The position tables and indexes are buffers kept with the weights, as in the official files: detection reads the
window, the stripes and the anchors' down factor from them (``grl_detect``).
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ... import export_ops as ops
from ...legacy_ops import EXP_OPS, GELU_OPS, NORMALIZE_OPS, SIGMOID_OPS
from ...specs import ArchSpec, Bound
from ..swinir.window_attention import (PixelShuffleUpsample, crop_to, image_mean, shifted_window_mask, to_image,
                                       to_tokens)
from .grl_blocks import TransformerStage, apply_conv, last_conv
from .grl_detect import (MAX_STRIPE, MAX_WINDOW, TABLE_NAMES, detect_grl, grl_bytes, grl_consistent, pad_size,
                         rename_grl, table_buffers)
from .grl_geometry import pad_grl, stripe_masks

FEAT = 64  # the reconstruction's width (fixed in GRL)
UPSAMPLERS = ('pixelshuffle', 'pixelshuffledirect', 'nearest+conv', '')


class _Up(nn.Layer):
    def __init__(self, layers):
        super().__init__()
        self.up = layers


class GRL(nn.Layer):
    """GRL for any input size (padded inside, output cropped back)."""

    def __init__(self, in_channels=3, out_channels=3, embed_dim=96, upscale=2, upsampler='pixelshuffle',
                 depths=(6, 6, 6, 6, 6, 6), num_heads_window=(3,) * 6, num_heads_stripe=(3,) * 6, window_size=8,
                 stripe_size=(8, 8), mlp_ratio=4.0, qkv_bias=True, qkv_proj_type='linear', anchor_proj_type='avgpool',
                 anchor_one_stage=True, anchor_window_down_factor=1, local_connection=False, conv_type='1conv',
                 img_range=1.0):
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f'GRL upsampler must be one of {UPSAMPLERS}, got {upsampler!r}')
        self.upsampler, self.upscale, self.img_range = upsampler, upscale, float(img_range)
        self.window, self.stripe, self.df = window_size, tuple(stripe_size), anchor_window_down_factor
        self.pad, self.skip = pad_size(window_size, stripe_size), in_channels == out_channels
        self.stripe_shifts = max(depths) > 2  # blocks 2, 3, 6, 7, ... shift their stripes
        self.register_buffer('mean', image_mean(in_channels), persistable=False)
        for name, value in table_buffers(window_size, stripe_size, anchor_window_down_factor).items():
            self.register_buffer(name, paddle.to_tensor(value))
        opts = dict(qkv_bias=qkv_bias, qkv_proj_type=qkv_proj_type, anchor_proj_type=anchor_proj_type,
                    anchor_one_stage=anchor_one_stage, anchor_window_down_factor=anchor_window_down_factor,
                    local_connection=local_connection, conv_type=conv_type)
        self.conv_first = nn.Conv2D(in_channels, embed_dim, 3, 1, 1)
        self.norm_start = nn.LayerNorm(embed_dim)
        self.layers = nn.LayerList([
            TransformerStage(embed_dim, d, hw, hs, window_size, self.stripe, mlp_ratio, opts)
            for d, hw, hs in zip(depths, num_heads_window, num_heads_stripe)])
        self.norm_end = nn.LayerNorm(embed_dim)
        self.conv_after_body = last_conv(conv_type, embed_dim)
        self._build_tail(embed_dim, out_channels)

    def _build_tail(self, dim, out_ch):
        if self.upsampler == 'pixelshuffledirect':
            self.upsample = _Up(nn.Sequential(nn.Conv2D(dim, out_ch * self.upscale ** 2, 3, 1, 1),
                                              nn.PixelShuffle(self.upscale)))
            return
        if not self.upsampler:
            self.conv_last = nn.Conv2D(dim, out_ch, 3, 1, 1)
            return
        self.conv_before_upsample = nn.Sequential(nn.Conv2D(dim, FEAT, 3, 1, 1), nn.LeakyReLU(0.01))
        if self.upsampler == 'pixelshuffle':
            self.upsample = _Up(PixelShuffleUpsample(self.upscale, FEAT))
        else:
            if self.upscale != 4:
                raise ValueError(f"GRL's nearest+conv reconstruction is x4 only, got upscale {self.upscale}")
            self.conv_up1 = nn.Conv2D(FEAT, FEAT, 3, 1, 1)
            self.conv_up2 = nn.Conv2D(FEAT, FEAT, 3, 1, 1)
            self.conv_hr = nn.Conv2D(FEAT, FEAT, 3, 1, 1)
        self.conv_last = nn.Conv2D(FEAT, out_ch, 3, 1, 1)

    def geometry(self, h, w):
        """The tables, indexes and masks every block reads, for an h x w map (run-time sizes)."""
        geo = {name: getattr(self, name) for name in TABLE_NAMES}
        geo['mask_w'] = shifted_window_mask(h, w, self.window, self.window // 2)
        if self.stripe_shifts:
            geo['mask_sh'] = stripe_masks(h, w, self.stripe, self.df)
            geo['mask_sv'] = stripe_masks(h, w, self.stripe[::-1], self.df)
        return geo

    def forward_features(self, x):
        shape = paddle.shape(x)
        geo = self.geometry(shape[2], shape[3])
        tokens = self.norm_start(to_tokens(x))
        for layer in self.layers:
            tokens = layer(tokens, geo)
        return to_image(self.norm_end(tokens))

    def _tail(self, feat, padded):
        if self.upsampler == 'pixelshuffledirect':
            return self.upsample.up(feat)
        if not self.upsampler:
            return padded + self.conv_last(feat) if self.skip else self.conv_last(feat)
        out = self.conv_before_upsample(feat)
        if self.upsampler == 'pixelshuffle':
            return self.conv_last(self.upsample.up(out))
        for conv in (self.conv_up1, self.conv_up2):
            out = F.leaky_relu(conv(F.interpolate(out, scale_factor=2, mode='nearest')), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(out), 0.2))

    def forward(self, x):
        padded = (pad_grl(x, self.pad) - self.mean) * self.img_range
        feat = self.conv_first(padded)
        feat = apply_conv(self.conv_after_body, self.forward_features(feat)) + feat
        return crop_to(self._tail(feat, padded) / self.img_range + self.mean, x, self.upscale)


# released GRLs: tiny (embed 64, 4 stages), small (128), base (180, 6 stages, local branch); windows 8-32, stripes
# up to 64 x 64, anchors 1/4
BOUNDS = {'in_channels': Bound(1, 16), 'out_channels': Bound(1, 16), 'embed_dim': Bound(2, 512),
          'depths': Bound(1, 32, count=(1, 16)), 'num_heads_window': Bound(1, 64, count=(1, 16)),
          'num_heads_stripe': Bound(1, 64, count=(1, 16)), 'window_size': Bound(2, MAX_WINDOW),
          'stripe_size': Bound(2, MAX_STRIPE, count=(2, 2)), 'anchor_window_down_factor': Bound(1, 16),
          'mlp_ratio': Bound(0, 16, real=True)}
# beyond the plumbing: layer norms, matmuls, softmax, GELU, the windows at run-time sizes (cast, //, %), the masks'
# aranges and comparisons, the position MLP's ReLU and the bias gathers, the cosine attention (L2 norms, clip, exp,
# sigmoid), the pad (aranges, ReLUs, comparisons, gathers), the anchors' average pool, strided convs and slices, HAT's
# channel attention (mean, sigmoid), the reconstructions (leaky ReLU, pixel shuffle, nearest), the division by
# img_range
EXPORT_OPS = (EXP_OPS | GELU_OPS | NORMALIZE_OPS | SIGMOID_OPS | ops.LAYER_NORM | ops.MATMUL | ops.SOFTMAX | ops.CAST
              | ops.FLOOR_DIVIDE | ops.MODULO | ops.DIVIDE | ops.RELU | ops.LEAKY_RELU | ops.PIXEL_SHUFFLE | ops.NEAREST
              | ops.POOL | ops.MEAN | ops.DEPTHWISE_CONV
              | ops.ExportOps('gather range greater_equal less_equal less_than not_equal strided_slice squeeze2 '
                              'unsqueeze2', '',
                              '1.gather 1.arange 1.greater_equal 1.less_equal 1.less_than 1.not_equal 1.strided_slice '
                              '1.squeeze 1.unsqueeze'))
SPEC = ArchSpec('GRL', GRL, detect=detect_grl, rename=rename_grl, scale_key='upscale', pad_mode='own',
                pad_multiple=lambda arch: pad_size(arch.get('window_size', 8), arch.get('stripe_size', (8, 8))),
                bytes_per_pixel=grl_bytes, undetectable={'img_range': (1.0, 255.0)}, bounds=BOUNDS,
                consistent=grl_consistent, export_ops=EXPORT_OPS)
