"""Networks, their ``ArchSpec`` registry (``models.specs``) and ``type:`` -> network.

Importing this package pulls in paddle and the network definitions only: no
training, dataset, video or torch code.
"""
from . import discriminator, rrdbnet, srvgg, vgg
from .discriminator import UNetDiscriminatorSN
from .rrdbnet import RRDBNet
from .specs import NETWORKS, ArchSpec, all_specs, find_spec, get_spec, register, unregister
from .srvgg import SRVGGNetCompact
from .vgg import VGG19FeatureExtractor

for _module in (rrdbnet, srvgg, discriminator, vgg):  # registration order = detection order
    register(_module.SPEC)

__all__ = ['ArchSpec', 'NETWORKS', 'RRDBNet', 'SRVGGNetCompact', 'UNetDiscriminatorSN', 'VGG19FeatureExtractor',
           'all_specs', 'apply_overrides', 'build_network', 'find_spec', 'get_spec', 'load_network',
           'load_state_into', 'net_scale', 'pad_multiple', 'register', 'unregister']


def build_network(arch, where='network'):
    """Build a network from an ``arch`` dict: ``{'type': 'RRDBNet', **kwargs}``."""
    return get_spec(arch, where).build(arch, where)


def net_scale(arch):
    """Upscale factor of a generator ``arch`` dict."""
    return get_spec(arch).scale(arch)


def pad_multiple(arch):
    """Input H and W of ``arch`` must be multiples of this (pixel-unshuffle factor; 1 for most networks)."""
    return int(get_spec(arch).pad_multiple(arch))


def apply_overrides(arch, overrides):
    """``arch`` completed by ``overrides``, whose names may be command-line spellings.

    ``scale`` becomes the network's own scale key (``upscale`` for
    SRVGGNetCompact), ``block`` becomes ``num_block``; names that do not apply
    are kept, so that ``build_network`` reports them. None values are skipped.
    """
    out = dict(arch)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if 'type' in overrides:
        out['type'] = overrides.pop('type')
    spec = get_spec(out)
    for k, v in overrides.items():
        out[spec.key_for(k) or k] = v
    return out


def load_network(path, param_key='params_ema', arch=None, strict=True):
    """Build the network stored in ``path`` and load its weights.

    ``path`` may be a ``.pdparams`` written by this project (it carries its
    ``arch``), a bare state dict, a ``.pth`` or a ``.safetensors``. ``arch``
    entries override or complete what the file says (command-line spellings
    such as ``scale`` are mapped by the network's ``ArchSpec``, see
    ``apply_overrides``); missing hyperparameters are detected from the key
    shapes. Returns ``(net, arch)``.
    """
    from utils.checkpoint import load_state_file, pick_params  # lazy: keeps `import models` light
    from .detect import detect_arch, normalize_state_dict

    raw = load_state_file(path)
    state, file_arch = pick_params(raw, param_key)
    state = normalize_state_dict(state)
    final = apply_overrides(file_arch or detect_arch(state), arch)
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
