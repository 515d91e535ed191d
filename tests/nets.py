"""The tiny networks the tests build: one declaration of each, changed per test with keyword arguments
(``srvgg(num_feat=4, upscale=2)``), and ``save_tiny`` for a weights file that stores its architecture;
``TINY``, the four networks the inference tests run, with ``tiny_state``: weights whose output is image-like."""

SRVGG = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2, 'upscale': 4,
         'act_type': 'prelu'}
RRDB = {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'num_feat': 8, 'num_block': 1,
        'num_grow_ch': 4}


def srvgg(**changes):
    """A tiny SRVGGNetCompact architecture (x4, 8 features, 2 body convs) with ``changes``."""
    return {**SRVGG, **changes}


def rrdb(**changes):
    """A tiny RRDBNet architecture (x4, 8 features, one block, growth 4) with ``changes``."""
    return {**RRDB, **changes}


def save_tiny(path, arch, seed=0, ema=False):
    """Weights of ``arch`` initialised after ``paddle.seed(seed)``, saved at ``path`` with the architecture
    (``ema``: the same weights as ``params_ema`` too, as the trainer's checkpoints carry); returns the path."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    paddle.seed(seed)
    params = {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}
    save_checkpoint(path, params=params, params_ema=params if ema else None, arch=arch)
    return path


TINY = {'rrdb_x4': rrdb(num_grow_ch=8), 'rrdb_x2': rrdb(scale=2, num_grow_ch=8),
        'rrdb_x1': rrdb(scale=1, num_grow_ch=8), 'srvgg_x4': srvgg()}


def tiny_state(arch, seed=0):
    """Deterministic small weights whose output is image-like (mostly inside [0, 1], not clipped flat)."""
    import numpy as np

    from realesrgan_paddle import models
    net = models.build_network(arch)
    rng = np.random.default_rng(seed)
    state = {}
    for k, v in net.state_dict().items():
        shape = tuple(v.shape)
        if k.endswith('bias'):
            arr = rng.normal(0, 0.02, shape)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            arr = rng.normal(0, 1.0 / np.sqrt(fan_in), shape)
        else:  # PReLU slopes
            arr = np.full(shape, 0.2)
        state[k] = arr.astype(np.float32)
    if arch['type'] == 'RRDBNet':
        # a bias of 0.5 on the last conv and a contrast-carrying first conv keep outputs in range
        state['conv_last.bias'] = np.full(state['conv_last.bias'].shape, 0.5, np.float32)
    else:
        last = max(k for k in state if k.startswith('body.') and k.endswith('.weight') and state[k].ndim == 4)
        state[last] *= 0.3
    return state


def save_image_like(path, arch, seed=0):
    """``tiny_state(arch, seed)`` saved at ``path`` with the architecture; returns the path."""
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    save_checkpoint(path, params=tiny_state(arch, seed), arch=arch)
    return path



def padded_efficientnet_taps(net, x):
    """``models.feature_nets.efficientnet_lite.EfficientNetLite0.taps`` as it ran before its strided convs took
    TensorFlow's SAME padding themselves (issue 79): a pad op, then the conv without padding. The reference that
    change is held to."""
    import paddle.nn.functional as F

    from realesrgan_paddle.models.feature_nets import efficientnet_lite as E

    def conv(layer, y):
        if layer.s == 1:
            return layer(y)
        return F.conv2d(E.same_pad(y, layer.k, layer.s), layer.weight, None, layer.s, 0, 1, layer._groups)

    x = F.relu6(net._bn0(conv(net._conv_stem, E.normalize(x))))
    out = []
    for i, block in enumerate(net._blocks):
        if i > E.TAPS[-1]:
            break
        y = F.relu6(block._bn0(conv(block._expand_conv, x))) if block.expand else x
        y = F.relu6(block._bn1(conv(block._depthwise_conv, y)))
        y = block._bn2(conv(block._project_conv, y))
        x = y + x if block.residual else y
        if i in E.TAPS:
            out.append(x)
    return out
