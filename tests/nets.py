"""The tiny networks the tests build: one declaration of each, changed per test with keyword arguments
(``srvgg(num_feat=4, upscale=2)``), and ``save_tiny`` for a weights file that stores its architecture."""

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

    import models
    from utils.checkpoint import save_checkpoint
    paddle.seed(seed)
    params = {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}
    save_checkpoint(path, params=params, params_ema=params if ema else None, arch=arch)
    return path
