"""Networks spandrel knows and this project does not port, as their state dicts' key names and shapes.

``FIXTURE`` (gzip JSON, name -> {key: shape}) holds them for the tests that run without torch: a file of each
layout (zeros, and the buffers' own values: detection reads DAT's offset table) goes through detection
(tests/models/test_detect_closest.py). ``spandrel_keys(name)`` builds the
network from spandrel with the small config of ``SMALL`` (torch needed); the torch test checks that the fixture
is what spandrel builds. Written again with ``python -m tests.models.unsupported_nets`` (torch and spandrel).

Not here: LaMa (one fixed 51 M-parameter size) and KBNet_l (7.6 M at its smallest): KBNet_s stands for KBNet.
"""
import gzip
import importlib
import json
from pathlib import Path

import numpy as np
from tests.skips import need_spandrel, need_torch

FIXTURE = Path(__file__).with_name('unsupported_keys.json.gz')

# name -> (spandrel architecture module, class, small constructor arguments)
SMALL = {
    'AuraSR': ('AuraSR', 'AuraSR', dict(dim=8, image_size=32, input_image_size=8, up_dim_mults=(1, 2),
                                        down_dim_mults=(2,), full_attn=(False, False), attn_depths=(1, 1),
                                        mid_attn_depth=1, resnet_block_groups=4, self_attn_dim_head=4,
                                        self_attn_heads=2, style_network=dict(dim_in=8, dim_out=8, depth=1))),
    'DRUNet': ('DRUNet', 'DRUNet', dict(nc=[4, 8, 16, 32], nb=1)),
    'DnCNN': ('DnCNN', 'DnCNN', dict(nc=8, nb=3)),
    'FBCNN': ('FBCNN', 'FBCNN', dict(nc=[4, 8, 16, 32], nb=1)),
    'FDAT': ('FDAT', 'FDAT', dict(embed_dim=16, num_groups=1, depth_per_group=2, num_heads=2, window_size=4,
                                  mid_dim=8, scale=2)),
    'FFTformer': ('FFTformer', 'FFTformer', dict(dim=8, num_blocks=[1, 1, 1], num_refinement_blocks=1)),
    'GFPGAN': ('GFPGAN', 'GFPGAN', dict(out_size=32, num_style_feat=32, channel_multiplier=1, narrow=0.125,
                                        num_mlp=2)),
    'HVICIDNet': ('HVICIDNet', 'HVICIDNet', dict(channels=[4, 4, 8, 16], heads=[1, 1, 2, 2])),
    'IPT': ('IPT', 'IPT', dict(patch_size=8, patch_dim=2, n_feats=8, num_heads=2, num_layers=1)),
    'KBNet_s': ('KBNet', 'KBNet_s', dict(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])),
    'MMRealSR': ('MMRealSR', 'MMRealSR', dict(num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, num_grow_ch=4,
                                              num_feats=[4, 8, 16, 32], num_blocks=[1, 1, 1, 1])),
    'MixDehazeNet': ('MixDehazeNet', 'MixDehazeNet', dict(embed_dims=[4, 8, 16, 8, 4], depths=[1, 1, 1, 1, 1])),
    'MoESR': ('MoESR', 'MoESR', dict(dim=8, n_blocks=1, n_block=1, upsample_dim=8, scale=2)),
    'NAFNet': ('NAFNet', 'NAFNet', dict(width=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1])),
    'RestoreFormer': ('RestoreFormer', 'RestoreFormer', dict(n_embed=16, embed_dim=32, ch=32, ch_mult=(1, 1),
                                                             num_res_blocks=1, attn_resolutions=(16,), resolution=32,
                                                             z_channels=32, head_size=2)),
    'RetinexFormer': ('RetinexFormer', 'RetinexFormer', dict(n_feat=8, stage=1, num_blocks=[1, 1, 1])),
    'SAFMNBCIE': ('SAFMNBCIE', 'SAFMNBCIE', dict(dim=8, n_blocks=1, num_layers=1, upscaling_factor=2)),
    'SCUNet': ('SCUNet', 'SCUNet', dict(config=[1] * 7, dim=16)),
    'SeemoRe': ('SeemoRe', 'SeemoRe', dict(num_experts=2, num_layers=1, embedding_dim=8, scale=2)),
    'Swin2SR': ('Swin2SR', 'Swin2SR', dict(embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                                           upsampler='pixelshuffledirect')),
    'Uformer': ('Uformer', 'Uformer', dict(embed_dim=4, depths=[1] * 9, num_heads=[1] * 9, win_size=4)),
}


def spandrel_net(name):
    """spandrel's network ``name`` at its small config, seeded (needs torch and spandrel: the caller skips)."""
    torch = need_torch()
    need_spandrel()
    module, cls, kwargs = SMALL[name]
    torch.manual_seed(0)
    return getattr(importlib.import_module(f'spandrel.architectures.{module}'), cls)(**kwargs)


MAX_BUFFER = 256  # values: a buffer up to this size is stored with them (index and offset tables)


def spandrel_keys(name):
    """``{key: shape}`` of ``spandrel_net(name)``'s state dict; a small buffer as ``{shape, dtype, values}``."""
    net = spandrel_net(name)
    buffers = {k for k, _ in net.named_buffers()}
    out = {}
    for k, v in net.state_dict().items():
        small = k in buffers and v.numel() <= MAX_BUFFER
        out[k] = ({'shape': list(v.shape), 'dtype': str(v.numpy().dtype), 'values': v.flatten().tolist()} if small
                  else list(v.shape))
    return out


def load_fixture():
    """name -> {key: shape}, as stored."""
    return json.loads(gzip.decompress(FIXTURE.read_bytes()))


def zeros_state(keys):
    """A state dict of the fixture's layout: float32 zeros (no memory beyond one value per tensor) and the small
    buffers' values."""
    def tensor(v):
        if isinstance(v, dict):
            return np.asarray(v['values'], v['dtype']).reshape(v['shape'])
        return np.broadcast_to(np.float32(0), tuple(v))
    return {k: tensor(v) for k, v in keys.items()}


def main():
    data = {name: spandrel_keys(name) for name in sorted(SMALL)}
    text = json.dumps(data, separators=(',', ':')).encode()  # each state in its own order
    FIXTURE.write_bytes(gzip.compress(text, 9, mtime=0))
    print(f'{FIXTURE}: {len(data)} networks, {sum(map(len, data.values()))} tensors')


if __name__ == '__main__':
    main()
