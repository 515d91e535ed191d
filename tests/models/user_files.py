"""Weights files as users hold them, and the check that each gives the reference network's output through the
public ``Upscaler`` at an odd size (tests/models/test_arch_<family>.py).

The wrappers and dtypes (``WRAPPERS``): a release's ``params_ema`` (beside other ``params``, which must not be
taken), ``params`` alone, a Lightning-style ``state_dict`` beside an optimizer's entries, a bare DataParallel
``module.`` state dict, fp16 ``.pth`` and bf16 ``.safetensors`` (both rounded: the reference then runs the same
rounded weights). The input is a real photo crop of ``ODD`` size: no multiple of 2, 4, 8 or a window.
"""
import copy

import numpy as np

from tests.ref_compare import psnr
from tests.skips import need_torch

WRAPPERS = ('params_ema', 'params', 'state_dict', 'module', 'fp16', 'bf16')
ODD = (37, 45)  # rows, columns
LEAST_DB = 90.0


def odd_crop(photo, h=ODD[0], w=ODD[1], channels=3):
    """A centred ``h`` x ``w`` crop of the BGR ``photo`` as (C, H, W) float32 RGB in [0, 1] (1: its grey)."""
    y, x = (photo.shape[0] - h) // 2, (photo.shape[1] - w) // 2
    rgb = photo[y:y + h, x:x + w, ::-1].astype(np.float32) / 255
    if channels == 1:
        rgb = rgb.mean(2, keepdims=True)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def _rounded(state, dtype):
    """``state`` (torch tensors) with its floating tensors stored as ``dtype``; integer buffers as they are."""
    return {k: v.to(dtype) if v.is_floating_point() and dtype is not None else v for k, v in state.items()}


def write_user_file(state, kind, folder):
    """``state`` (a torch state dict) written as users' files come (``WRAPPERS``); the path."""
    torch = need_torch()
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    path = folder / f'{kind}.{"safetensors" if kind == "bf16" else "pth"}'
    if kind == 'bf16':
        from safetensors.torch import save_file
        save_file(_rounded(state, torch.bfloat16), str(path))
        return path
    other = {k: v * 0.5 if v.is_floating_point() else v for k, v in state.items()}
    content = {'params_ema': {'params_ema': state, 'params': other},
               'params': {'params': state},
               'state_dict': {'state_dict': state, 'optimizer_states': [], 'epoch': 7, 'global_step': 1200},
               'module': {f'module.{k}': v for k, v in state.items()},
               'fp16': {'params_ema': _rounded(state, torch.float16)}}[kind]
    torch.save(content, path)
    return path


def reference_as_read(ref, kind):
    """The torch network ``ref`` with the weights a ``kind`` file holds (fp16/bf16 rounded), in float32."""
    torch = need_torch()
    dtype = {'fp16': torch.float16, 'bf16': torch.bfloat16}.get(kind)
    if dtype is None:
        return ref
    net = copy.deepcopy(ref)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in _rounded(ref.state_dict(), dtype).items()})
    return net.eval()


def api_outputs(path, x, **options):
    """The public ``Upscaler`` on ``x`` (C, H, W) from the weights file ``path``: the dynamic graph, the whole
    image (``options`` override), float32 out, unclipped."""
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler(str(path), **{'backend': 'dynamic', 'tile': 0, 'precision': 'fp32', **options})
    return up.run_chw(x), up


def assert_user_files_match(ref, x, folder, least=LEAST_DB, kinds=WRAPPERS, arch_check=None, **options):
    """Every ``kinds`` file of the torch network ``ref`` through ``Upscaler`` on ``x`` (C, H, W) against ``ref``
    on the same rounded weights: at least ``least`` dB each, exactly scale x the input; ``arch_check(arch)`` on
    the arch each file reads as; ``options`` to ``Upscaler`` (an ``arch`` override). Returns kind -> dB."""
    torch = need_torch()
    seen, wants = {}, {}
    for kind in kinds:
        path = write_user_file(ref.state_dict(), kind, folder)
        got, up = api_outputs(path, x, **options)
        rounding = kind if kind in ('fp16', 'bf16') else None
        if rounding not in wants:
            with torch.no_grad():
                wants[rounding] = reference_as_read(ref, kind)(torch.from_numpy(x[None])).numpy()[0]
        want = wants[rounding]
        assert got.shape == want.shape == (want.shape[0], x.shape[1] * up.scale, x.shape[2] * up.scale), kind
        assert want.std() > 0.02, f'{kind}: the reference output is flat'
        seen[kind] = psnr(got, want)
        if arch_check is not None:
            arch_check(up.arch)
    low = {k: round(v, 1) for k, v in seen.items() if v < least}
    assert not low, f'below {least} dB through the API: {low}'
    return seen
