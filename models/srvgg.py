"""SRVGGNetCompact: the compact VGG-style net of realesr-animevideov3 and realesr-general-x4v3."""
import paddle.nn as nn
import paddle.nn.functional as F


class PReLU(nn.Layer):
    """Channel-wise PReLU whose parameter is called ``weight`` (as in PyTorch).

    ``paddle.nn.PReLU`` names it ``_weight``, which would break one-to-one
    state-dict names with the official checkpoints.
    """

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = self.create_parameter(
            [num_parameters], default_initializer=nn.initializer.Constant(init))

    def forward(self, x):
        return F.prelu(x, self.weight)


ACTIVATIONS = ('prelu', 'relu', 'leakyrelu')


def _activation(act_type, num_feat):
    if act_type == 'prelu':
        return PReLU(num_feat)
    if act_type == 'relu':
        return nn.ReLU()
    if act_type == 'leakyrelu':
        return nn.LeakyReLU(0.1)
    raise ValueError(f'act_type must be one of {ACTIVATIONS}, got {act_type!r}')


class SRVGGNetCompact(nn.Layer):
    """Conv/activation stack at LR resolution, pixel shuffle, plus a nearest-upsampled skip."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=4, act_type='prelu'):
        super().__init__()
        if upscale not in (1, 2, 3, 4):
            raise ValueError(f'SRVGGNetCompact supports upscale 1-4, got {upscale}')
        self.upscale = upscale
        layers = [nn.Conv2D(num_in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2D(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2D(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        out = F.pixel_shuffle(self.body(x), self.upscale)
        return out + F.interpolate(x, scale_factor=self.upscale, mode='nearest')
