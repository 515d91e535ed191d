"""The loss registry: one decorator on a loss class makes it a ``type:`` of ``train.losses``.

    @register_loss(target='gt', log='pix')
    class L1Loss(WeightedLoss): ...

``target`` is what the loss compares the output with by default (an entry of ``train.losses`` may say another):
``gt`` (the plain GT), ``gt_usm`` (the sharpened GT), ``teacher`` (the frozen teacher's output on the same input),
``lq`` (the output on real LQ frames against those frames, ``datasets.real_lq``), ``lq_pair`` (the outputs on two
consecutive real LQ frames, ``datasets.real_lq_pairs``) or ``gan`` (the discriminator).
``inputs`` names what the trainer passes to ``forward``, in order: ``output`` (the generator's output on the target's
input), ``target`` (the tensor the entry's target names), ``ema_output`` (the EMA generator's output), ``redrawn``
(the output on the input with its noise and codec drawn again, ``noise_sigma``/``jpeg_quality`` of the loss), and
for ``lq_pair`` ``next_output`` (the output on frame t+1; ``output`` is frame t's), ``flow`` and ``flow_mask`` (the
LQ motion between them and its confidence).
``log`` is the name of its term in the logs (``l_g_<log>``). The registry holds classes only; the modules that
define them are imported by ``loss/__init__.py`` (a loss defined elsewhere is registered when its module is
imported).
"""
TARGETS = ('gt', 'gt_usm', 'teacher', 'lq', 'lq_pair', 'gan')
INPUTS = ('output', 'target', 'ema_output', 'redrawn', 'next_output', 'flow', 'flow_mask')
LOSS_REGISTRY = {}


def register_loss(cls=None, *, target='gt', inputs=('output', 'target'), log=None, name=None):
    """Class decorator: register ``cls`` under ``name`` (default its class name); see the module docstring."""
    if target not in TARGETS:
        raise ValueError(f'register_loss: target must be one of {TARGETS}, got {target!r}')
    bad = [i for i in inputs if i not in INPUTS]
    if bad:
        raise ValueError(f'register_loss: inputs must be among {INPUTS}, got {bad}')

    def add(c):
        key = name or c.__name__
        if key in LOSS_REGISTRY and LOSS_REGISTRY[key] is not c:
            old = LOSS_REGISTRY[key]
            if (old.__module__, old.__qualname__) != (c.__module__, c.__qualname__):  # a module reloaded: replace
                raise ValueError(f'register_loss: {key} is already {old.__module__}.{old.__qualname__}')
        c.LOSS_TARGET, c.LOSS_INPUTS, c.LOSS_LOG = target, tuple(inputs), log or key.lower().removesuffix('loss')
        LOSS_REGISTRY[key] = c
        return c
    return add(cls) if cls is not None else add


def unregister_loss(name):
    LOSS_REGISTRY.pop(name, None)
