"""``verify_conversion``: a converted ``.pdparams`` against the PyTorch reference network on the original file
(``tools/convert_torch.py --verify``). Without torch, or for a network with no reference, it logs one line and
returns None.

    from realesrgan_paddle.models.convert import convert_checkpoint
    from realesrgan_paddle.reference.conversion_check import verify_conversion
    res = convert_checkpoint('RRDB_ESRGAN_x4.pth', 'esrgan.pdparams', overrides={'block': 23})
    rel = verify_conversion(res['src'], res['dst'], res['arch'], res['param_key'])
"""
from pathlib import Path

import numpy as np
import paddle

from realesrgan_paddle.models.detect import normalize_state_dict
from realesrgan_paddle.models.loading import load_network, read_checkpoint


def torch_state(src, used):
    """The source weights as torch tensors: a .pth read by torch itself (``weights_only``, so no code runs:
    a reader independent of ours), other formats by ``read_checkpoint``."""
    import torch  # optional: verify_conversion says so in one line
    if src.suffix in ('.safetensors', '.pdparams'):
        state, _ = read_checkpoint(src, used, detect=False)
        return {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    raw = torch.load(src, map_location='cpu', weights_only=True)
    sub = raw[used] if used else raw
    return {k: v for k, v in sub.items() if isinstance(v, torch.Tensor)}


def verify_conversion(src, dst, arch, used, tol=1e-4, size=32, log=print):
    """Max abs diff between the PyTorch reference network on the original file and ours on the converted
    file, relative to the output peak (None when torch or a reference network is missing)."""
    try:
        import torch

        from . import torch_networks
    except ImportError:
        log('  verify: skipped (torch is not installed)')
        return None
    tstate = normalize_state_dict({k: v.float() for k, v in torch_state(Path(src), used).items()})
    try:
        tnet = torch_networks.load_reference(arch, tstate)
    except LookupError as e:
        log(f'  verify: skipped ({e})')
        return None
    channels = arch.get('num_in_ch', 3)
    x = np.random.default_rng(0).random((1, channels, size, size), dtype=np.float32)
    pnet, _ = load_network(dst)
    tout = torch_networks.reference_outputs(tnet, arch, x)
    with paddle.no_grad():
        pout = pnet(paddle.to_tensor(x))
    pout = {k: v.numpy() for k, v in (pout.items() if isinstance(pout, dict) else [('out', pout)])}
    diff = max(float(np.abs(tout[k] - pout[k]).max()) for k in tout)
    peak = max(float(np.abs(t).max()) for t in tout.values())
    rel = diff / max(1.0, peak)
    status = 'ok' if rel <= tol else f'ABOVE --tol {tol:g}'
    log(f'  verify: max abs diff {diff:.3g} (output peak {peak:.3g}, relative {rel:.3g}) on a random '
        f'1x{channels}x{size}x{size} input, torch {torch.__version__} vs paddle {paddle.__version__}: {status}')
    return rel
