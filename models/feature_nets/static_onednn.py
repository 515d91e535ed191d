"""A frozen network's pass without a gradient as one static program on oneDNN's CPU kernels.

On the CPU, Paddle's dynamic graph does not use oneDNN: a convolution there runs at a third to a quarter of the speed
of the same layer traced into a static program and run on oneDNN's kernels (``FLAGS_use_mkldnn``). VGG16 on a
640x480 frame, 2 cores: 2.4 s against 0.7 s; DISTS on a 640x272 frame and its reference 4.1 s against 1.1 s, LPIPS
0.17 s against 0.06 s, the same scores to about 1e-6 relative. ``StaticForward`` runs the IQA judges' features that
way (``evaluation/iqa.py``), where the evaluate stage spent most of its time (``benchmarks/iqa_speed.py``).

Each output is a copy: Paddle 3.3 segfaulted handing out a traced output that an in-place ReLU had overwritten
(VGG16's conv1_2 tap), and a segfault is past any fallback. Not in training: the targets' VGG16 features (batch 4,
96 px) took 0.16 s against 0.25 s, 3 % of a perceptual step, and the projected discriminator's backbone in its D
step was no faster (0.17 s against 0.16 s).

Elsewhere (a GPU; a tensor that needs its gradient) the function itself runs, and so it does from the first
exception on (a Paddle that cannot trace or run it), with one log line saying why.
"""
import contextlib
import logging

import paddle
import paddle.nn as nn

LOG = logging.getLogger(__name__)


@contextlib.contextmanager
def onednn_kernels():
    """Paddle's static programs run on oneDNN's CPU kernels inside the block (``FLAGS_use_mkldnn``), as before after."""
    before = paddle.get_flags(['FLAGS_use_mkldnn'])['FLAGS_use_mkldnn']
    paddle.set_flags({'FLAGS_use_mkldnn': True})
    try:
        yield
    finally:
        paddle.set_flags({'FLAGS_use_mkldnn': before})


class _Call(nn.Layer):
    """``fn`` as a layer returning a tuple, what ``paddle.jit.to_static`` traces; ``owner`` holds its parameters."""

    def __init__(self, fn, owner):
        super().__init__()
        self.owner, self._fn = owner, fn

    def forward(self, x):
        # each output a copy: an output that is the input (DISTS's first) or that an in-place op may overwrite
        # (a tap before ReLU) crashed Paddle 3.3 as it handed the outputs out (SIGSEGV)
        return tuple(paddle.assign(t) for t in self._fn(x))


class StaticForward:
    """``StaticForward(fn, owner, what)(x)``: ``list(fn(x))`` (a sequence of tensors of the NCHW float32 ``x``, for
    any N, H and W) as one static program on oneDNN's kernels when ``x`` is on the CPU and needs no gradient; ``fn``
    itself otherwise. ``owner``: the frozen layer ``fn`` reads; ``what`` names it in the log."""

    def __init__(self, fn, owner, what):
        self.fn, self.what = fn, what
        spec = [paddle.static.InputSpec([None, 3, None, None], 'float32')]
        self._static = paddle.jit.to_static(_Call(fn, owner), input_spec=spec, full_graph=True)

    def usable(self, x):
        return (self._static is not None and x.place.is_cpu_place()
                and (x.stop_gradient or not paddle.is_grad_enabled()))

    def __call__(self, x):
        if self.usable(x):
            try:
                with onednn_kernels():
                    return list(self._static(x))
            except Exception as exc:  # noqa: BLE001 (a Paddle that cannot trace or run it: the dynamic graph)
                LOG.info('%s in the dynamic graph: %s', self.what, (str(exc).strip().splitlines() or [''])[0])
                self._static = None
        return list(self.fn(x))
