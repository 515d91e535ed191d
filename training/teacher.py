"""A frozen copy of the base generator, run on every training batch: the anchor of ``SelfAnchorLoss``.

The teacher is the network the finetune starts from (``path.pretrain_network_g``), never updated. Two ways
to run it, chosen by ``train.teacher_backend``:

* ``predictor``: the weights are exported once (``inference.upscaler.cached_export``, the shared cache) and
  run by Paddle Inference in fp32. On the CPU this is the faster path (``benchmarks/train_speed.py``).
* ``dynamic``: a second copy of the network in the dynamic graph, under ``no_grad``.
* ``auto``: the predictor on the CPU, the dynamic graph on a GPU (the GPU predictor path has not run).

Both give the base network's output to fp32 round-off; the teacher sees exactly the student's input, with
no padding, so at the first step ``teacher(lq) == student(lq)``.
"""
import numpy as np
import paddle

TEACHER_BACKENDS = ('auto', 'predictor', 'dynamic')


class FrozenTeacher:
    """``teacher(lq)`` -> the base network's output on ``lq`` (a tensor without gradient)."""

    def __init__(self, weights, backend='auto', device='cpu', logger=None):
        if backend not in TEACHER_BACKENDS:
            raise ValueError(f'train.teacher_backend must be one of {TEACHER_BACKENDS}, got {backend!r}')
        from models.zoo import resolve
        self.weights = resolve(weights)
        if backend == 'auto':
            backend = 'predictor' if device == 'cpu' else 'dynamic'
        self.backend = backend
        if backend == 'predictor':
            from inference.backends import PredictorBackend
            from inference.upscaler import cached_export
            infer_dir = cached_export(self.weights)
            self.runner = PredictorBackend(infer_dir, device, precision='fp32')
            self.net = None
        else:
            import models
            self.net, _ = models.load_network(self.weights)
            self.net.eval()
            for p in self.net.parameters():
                p.stop_gradient = True
        if logger is not None:
            engine = getattr(getattr(self, 'runner', None), 'engine', 'dynamic graph')
            logger.info(f'teacher: frozen {self.weights} ({backend}, {engine}) for the anchor loss')

    def __call__(self, lq):
        if self.net is not None:
            with paddle.no_grad():
                return self.net(lq).detach()
        out = self.runner.forward(np.ascontiguousarray(lq.numpy(), dtype=np.float32))
        return paddle.to_tensor(out, place=lq.place)
