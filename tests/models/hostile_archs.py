"""Small weights files whose stored arch or tensor shapes ask for a huge or broken network (issue 73), written with
the project's own writer (``checkpoint_io.state_file.save_checkpoint``); no torch.

Each starts from the state dict of a tiny real network of the type (``TINY``) and reshapes only the tensors the
attacked value shows in (a window's bias tables, a kernel, the number of blocks), so detection reads the hostile
value from the file exactly as it would from a real one.
"""
import re

import numpy as np

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint

TINY = {
    'SwinIR': {'type': 'SwinIR', 'upscale': 2, 'embed_dim': 12, 'depths': [2], 'num_heads': [2], 'window_size': 4,
               'upsampler': 'pixelshuffledirect'},
    'HAT': {'type': 'HAT', 'upscale': 2, 'embed_dim': 12, 'depths': [2], 'num_heads': [2], 'window_size': 4,
            'compress_ratio': 3, 'squeeze_factor': 4, 'num_feat': 8},
    'OmniSR': {'type': 'OmniSR', 'up_scale': 2, 'num_feat': 16, 'block_num': 1, 'window_size': 4, 'res_num': 1},
    'DAT': {'type': 'DAT', 'upscale': 2, 'embed_dim': 32, 'split_size': [2, 4], 'depth': [2], 'num_heads': [2],
            'expansion_factor': 2.0, 'resi_connection': '1conv', 'upsampler': 'pixelshuffledirect'},
    'RealPLKSR': {'type': 'RealPLKSR', 'dim': 8, 'n_blocks': 1, 'upscaling_factor': 2, 'kernel_size': 5,
                  'split_ratio': 0.25, 'use_ea': True, 'dysample': False, 'layer_norm': False, 'norm_groups': 4},
    'SPAN': {'type': 'SPAN', 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 8, 'upscale': 2, 'norm': True,
             'img_range': 255.0},
    'SRVGGNetCompact': {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2,
                        'upscale': 2, 'act_type': 'prelu'},
    'RRDBNet': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2, 'num_feat': 8, 'num_block': 1,
                'num_grow_ch': 4},
}


def tiny_state(arch, seed=0):
    """``{name: float32 array}`` of ``arch``'s network with seeded weights (built by Paddle, in this process)."""
    import paddle

    from realesrgan_paddle import models
    paddle.seed(seed)
    net = models.build_network(arch)
    return {k: np.array(v.numpy()) for k, v in net.state_dict().items()}


def save(path, state, arch=None):
    """``state`` (and ``arch``, stored when given) as a ``.pdparams`` the project writes; returns the path."""
    save_checkpoint(path, state, arch=arch)
    return path


def with_window(state, arch, window, overlap=None):
    """``state`` of a SwinIR/HAT/OmniSR with its bias tables reshaped for ``window`` (HAT: and ``overlap``
    pixels of overlapping window); rows drawn small and finite."""
    rng = np.random.default_rng(1)
    out = dict(state)
    for k, v in state.items():
        if k.endswith('overlap_attn.relative_position_bias_table'):
            o = overlap if overlap is not None else window + int(window * arch.get('overlap_ratio', 0.5))
            out[k] = rng.normal(0, 0.02, ((window + o - 1) ** 2, v.shape[1])).astype(np.float32)
        elif k.endswith('relative_position_bias_table') or k.endswith('rel_pos_bias.weight'):
            out[k] = rng.normal(0, 0.02, ((2 * window - 1) ** 2, v.shape[1])).astype(np.float32)
    return out


def with_split(state, split):
    """A DAT ``state`` with the relative-position tables and indices of ``split`` (h, w) windows."""
    from realesrgan_paddle.models.archs.dat.dat_blocks import relative_tables
    out = dict(state)
    for k in state:
        m = re.search(r'attns\.(\d)\.(rpe_biases|relative_position_index)$', k)
        if m:
            h, w = split if m.group(1) == '0' else split[::-1]
            out[k] = relative_tables(h, w)[0 if m.group(2) == 'rpe_biases' else 1]
    return out


def with_kernel(state, kernel):
    """A RealPLKSR ``state`` with its large-kernel convs of ``kernel`` x ``kernel``."""
    out = dict(state)
    for k, v in state.items():
        if re.search(r'\.lk\.conv\.weight$', k):
            out[k] = np.zeros(v.shape[:2] + (kernel, kernel), np.float32)
    return out


def with_blocks(state, group, blocks):
    """A SwinIR ``state`` whose residual ``group`` counts ``blocks`` blocks: each block past the tiny network's
    holds one small norm weight, which is all detection counts (a new group's blocks, as group 0's)."""
    out = dict(state)
    prefix = f'layers.{group}.residual_group.blocks.'
    width = state['layers.0.residual_group.blocks.0.norm1.weight'].shape[0]
    for i in range(blocks):
        out.setdefault(f'{prefix}{i}.norm1.weight', np.ones(width, np.float32))
    return out
