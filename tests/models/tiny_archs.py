"""One tiny config per registered generator, for the user-path tests (tests/models/test_arch_user_paths.py).

A new generator registered without an entry here fails ``test_every_generator_has_a_tiny_config``."""

TINY_ARCHS = {
    'RRDBNet': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2, 'num_feat': 8, 'num_block': 1,
                'num_grow_ch': 4},
    'LowBandRRDBNet': {'type': 'LowBandRRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2, 'num_feat': 8,
                       'num_block': 1, 'num_grow_ch': 4, 'corr_feat': 8, 'corr_conv': 2, 'corr_up': 1},
    'SRVGGNetCompact': {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2,
                        'upscale': 2, 'act_type': 'prelu'},
    'SPAN': {'type': 'SPAN', 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 8, 'upscale': 2, 'norm': True},
    'RealPLKSR': {'type': 'RealPLKSR', 'dim': 16, 'n_blocks': 1, 'upscaling_factor': 2, 'kernel_size': 7,
                  'split_ratio': 0.25, 'use_ea': True, 'dysample': True, 'layer_norm': False, 'norm_groups': 4},
    'PLKSR': {'type': 'PLKSR', 'dim': 8, 'n_blocks': 1, 'upscaling_factor': 3, 'kernel_size': 5},
    'OmniSR': {'type': 'OmniSR', 'up_scale': 2, 'num_feat': 16, 'block_num': 1, 'window_size': 4, 'res_num': 1},
    'DAT': {'type': 'DAT', 'upscale': 2, 'embed_dim': 32, 'split_size': [4, 8], 'depth': [2], 'num_heads': [2],
            'expansion_factor': 2.0, 'resi_connection': '1conv', 'upsampler': 'pixelshuffledirect'},
    'RealCUGAN': {'type': 'RealCUGAN', 'scale': 2, 'se': False},
    'UpConv7': {'type': 'UpConv7', 'scale': 2},
    'CUNet': {'type': 'CUNet', 'scale': 2},
    'SAFMN': {'type': 'SAFMN', 'dim': 8, 'n_blocks': 1, 'ffn_scale': 2.0, 'upscaling_factor': 2},
    'RCAN': {'type': 'RCAN', 'scale': 2, 'n_resgroups': 1, 'n_resblocks': 1, 'n_feats': 8, 'kernel_size': 3,
             'reduction': 4, 'norm': True, 'rgb_range': 255.0},
    'SwiftSRGAN': {'type': 'SwiftSRGAN', 'num_channels': 8, 'num_blocks': 1, 'upscale_factor': 2},
    'SwinIR': {'type': 'SwinIR', 'upscale': 2, 'embed_dim': 12, 'depths': [2], 'num_heads': [2], 'window_size': 4,
               'upsampler': 'pixelshuffledirect'},
    'HAT': {'type': 'HAT', 'upscale': 2, 'embed_dim': 12, 'depths': [2], 'num_heads': [2], 'window_size': 4,
            'compress_ratio': 3, 'squeeze_factor': 4},
    'DRCT': {'type': 'DRCT', 'upscale': 2, 'embed_dim': 12, 'num_heads': [2], 'window_size': 4, 'gc': 4,
             'num_feat': 16},
    'RGT': {'type': 'RGT', 'upscale': 2, 'embed_dim': 32, 'depth': [2], 'num_heads': [2], 'split_size': [4, 8]},
    'DITN': {'type': 'DITN', 'dim': 8, 'ITL_blocks': 1, 'SAL_blocks': 1, 'UFONE_blocks': 1, 'upscale': 2},
}
