"""Networks and the small registry from ``type:`` to class.

Importing this package pulls in paddle and the network definitions only: no
training, dataset or video code.
"""
import inspect

from .discriminator import UNetDiscriminatorSN
from .rrdbnet import RRDBNet
from .srvgg import SRVGGNetCompact
from .vgg import VGG19FeatureExtractor

NETWORKS = {cls.__name__: cls for cls in (RRDBNet, SRVGGNetCompact, UNetDiscriminatorSN, VGG19FeatureExtractor)}


def _check_kwargs(cls, kwargs, where):
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(kwargs) - set(params) - {'self'})
    if unknown:
        valid = [p for p in params if p != 'self']
        raise ValueError(f'{where}: unknown key(s) {unknown} for {cls.__name__}; valid keys are {valid}')


def build_network(arch, where='network'):
    """Build a network from an ``arch`` dict: ``{'type': 'RRDBNet', **kwargs}``."""
    if not isinstance(arch, dict) or 'type' not in arch:
        raise ValueError(f'{where}: expected a mapping with a "type" key, got {arch!r}')
    kwargs = dict(arch)
    net_type = kwargs.pop('type')
    if net_type not in NETWORKS:
        raise ValueError(f'{where}.type: unknown network {net_type!r}; known: {sorted(NETWORKS)}')
    cls = NETWORKS[net_type]
    _check_kwargs(cls, kwargs, where)
    return cls(**kwargs)


def net_scale(arch):
    """Upscale factor of a generator ``arch`` dict."""
    if arch['type'] == 'RRDBNet':
        return int(arch.get('scale', 4))
    if arch['type'] == 'SRVGGNetCompact':
        return int(arch.get('upscale', 4))
    raise ValueError(f'{arch["type"]} is not a super-resolution generator')


def load_network(path, param_key='params_ema', arch=None, strict=True):
    """Build the network stored in ``path`` and load its weights.

    ``path`` may be a ``.pdparams`` written by this project (it carries its
    ``arch``), a bare state dict, a ``.pth`` or a ``.safetensors``. ``arch``
    entries override or complete what the file says; missing hyperparameters
    are detected from the key shapes. Returns ``(net, arch)``.
    """
    from utils.checkpoint import load_state_file, pick_params  # lazy: keeps `import models` light
    from .detect import detect_arch, normalize_state_dict

    raw = load_state_file(path)
    state, file_arch = pick_params(raw, param_key)
    state = normalize_state_dict(state)
    final = dict(file_arch or detect_arch(state))
    if arch:
        final.update({k: v for k, v in arch.items() if v is not None})
    net = build_network(final, where=str(path))
    load_state_into(net, state, strict=strict, where=str(path))
    net.eval()
    return net, final


def load_state_into(net, state, strict=True, where='checkpoint'):
    """Copy a numpy/paddle state dict into ``net`` with shape checks and clear errors."""
    import numpy as np
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise ValueError(f'{where}: weights do not fit {type(net).__name__}: '
                         f'missing {missing[:5]}{"..." if len(missing) > 5 else ""}, '
                         f'unexpected {unexpected[:5]}{"..." if len(unexpected) > 5 else ""}')
    for k, v in own.items():
        if k not in state:
            continue
        arr = np.asarray(state[k].numpy() if hasattr(state[k], 'numpy') else state[k])
        if tuple(arr.shape) != tuple(v.shape):
            raise ValueError(f'{where}: {k} has shape {tuple(arr.shape)}, the network expects {tuple(v.shape)}')
        v.set_value(arr.astype(np.float32) if arr.dtype in (np.float16, np.float64) else arr)
    return missing, unexpected
