"""RRDBNet (ESRGAN / Real-ESRGAN generator) with the official parameter names.

Scale 2 and 1 pixel-unshuffle the input first, so ``conv_first`` sees 12 or 48
channels and the trunk always upsamples by 4.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def _conv3(cin, cout):
    return nn.Conv2D(cin, cout, 3, 1, 1)


class ResidualDenseBlock(nn.Layer):
    """Five densely connected convs; the output is scaled by 0.2 and added back."""

    def __init__(self, num_feat=64, num_grow_ch=32):
        super().__init__()
        g = num_grow_ch
        self.conv1 = _conv3(num_feat, g)
        self.conv2 = _conv3(num_feat + g, g)
        self.conv3 = _conv3(num_feat + 2 * g, g)
        self.conv4 = _conv3(num_feat + 3 * g, g)
        self.conv5 = _conv3(num_feat + 4 * g, num_feat)

    def forward(self, x):
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(paddle.concat(feats, axis=1)), 0.2))
        return self.conv5(paddle.concat(feats, axis=1)) * 0.2 + x


class RRDB(nn.Layer):
    """Residual-in-residual dense block: three RDBs, residual scaled by 0.2."""

    def __init__(self, num_feat, num_grow_ch=32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Layer):
    def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32):
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f'RRDBNet supports scale 1, 2 or 4, got {scale}')
        self.scale = scale
        self.unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        self.conv_first = _conv3(num_in_ch * self.unshuffle ** 2, num_feat)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = _conv3(num_feat, num_feat)
        self.conv_up1 = _conv3(num_feat, num_feat)
        self.conv_up2 = _conv3(num_feat, num_feat)
        self.conv_hr = _conv3(num_feat, num_feat)
        self.conv_last = _conv3(num_feat, num_out_ch)

    def forward(self, x):
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode='nearest')), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
