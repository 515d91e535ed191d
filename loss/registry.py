"""The loss registry: one decorator on a loss class makes it a ``type:`` of ``train.losses``.

    @register_loss(target='gt', log='pix')
    class L1Loss(WeightedLoss): ...

``target`` is what the loss compares the output with by default (an entry of ``train.losses`` may say another):
a target of ``training/loss_terms.py`` (``gt``, ``gt_usm``, ``teacher``, ``lq``, ``lq_pair``, ``gan``, or one
registered there), which owns its data and how a step gets its inputs.
``inputs`` names what the trainer passes to ``forward``, in order: ``output`` (the generator's output on the target's
input), ``target`` (the tensor the entry's target names), ``ema_output`` (the EMA generator's output), ``redrawn``
(the output on the input with its noise and codec drawn again, ``noise_sigma``/``jpeg_quality`` of the loss), or
the names a target defines (``lq_pair``: ``output``, ``next_output``, ``flow``, ``flow_mask``).
``log`` is the name of its term in the logs (``l_g_<log>``).
What a loss needs is data here, read by the options check and the trainer, never its class name: ``dataset``, the
``datasets.<key>`` it cannot work without (``ConsistencyLoss``: ``real_lq``; the check also reports that dataset
given with no loss that needs it), and ``weights``, a :class:`Weights` (the option naming a weights file, the
model-zoo entry used when it is unset, the message when the file is missing), checked before training starts.
The registry holds classes only; the modules that define them are imported by ``loss/__init__.py`` (a loss defined
elsewhere is registered when its module is imported).
"""
from typing import Callable, NamedTuple, Optional

LOSS_REGISTRY = {}


class Weights(NamedTuple):
    """The pretrained weights a loss loads: ``key``, its option naming the file (None: no such option); ``zoo``,
    the model-zoo entry used when the option is unset: a name, a tuple of names, or ``entry -> name(s)`` (the
    entry's own options pick it); ``missing(path)``, the one-line message when the file is absent."""
    key: Optional[str]
    zoo: object
    missing: Optional[Callable] = None


def register_loss(cls=None, *, target='gt', inputs=('output', 'target'), log=None, name=None, dataset=None,
                  weights=None):
    """Class decorator: register ``cls`` under ``name`` (default its class name); see the module docstring."""
    bad = [i for i in (target, *inputs) if not (isinstance(i, str) and i.isidentifier())]
    if bad:
        raise ValueError(f'register_loss: a target and inputs are names, got {bad}')

    def add(c):
        key = name or c.__name__
        if key in LOSS_REGISTRY and LOSS_REGISTRY[key] is not c:
            old = LOSS_REGISTRY[key]
            if (old.__module__, old.__qualname__) != (c.__module__, c.__qualname__):  # a module reloaded: replace
                raise ValueError(f'register_loss: {key} is already {old.__module__}.{old.__qualname__}')
        c.LOSS_TARGET, c.LOSS_INPUTS, c.LOSS_LOG = target, tuple(inputs), log or key.lower().removesuffix('loss')
        c.LOSS_DATASET, c.LOSS_WEIGHTS = dataset, weights
        LOSS_REGISTRY[key] = c
        return c
    return add(cls) if cls is not None else add


def unregister_loss(name):
    LOSS_REGISTRY.pop(name, None)


def needing(dataset):
    """The registered losses that cannot work without ``datasets.<dataset>``, by name."""
    return sorted(k for k, c in LOSS_REGISTRY.items() if getattr(c, 'LOSS_DATASET', None) == dataset)
