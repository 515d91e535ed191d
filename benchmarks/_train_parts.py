"""The parts of one GAN training step, each timed alone, in Paddle (dynamic graph) and in PyTorch eager.

Used by ``benchmarks/train_speed.py --parts``. A part is a closure that runs once per call:

* ``G``: generator forward on the LQ batch, L1 to the GT, backward, Adam step;
* ``D``: what a discriminator adds to an iteration: the generator's adversarial term (D forward on the
  fake batch, backward to the fake image) and the discriminator's own step (forward on real and fake,
  backward, Adam step);
* ``teacher``: a frozen copy of the generator on the LQ batch (the anchor of self-anchoring), on Paddle
  Inference (``predictor``) or in the dynamic graph / eager under no_grad;
* ``degradation``: the on-the-fly pair maker of the training recipe (USM, second-order degradation, crop,
  pool), Paddle only (the project's own pipeline).

The torch networks come from ``reference/torch_networks.py`` with the same weights, so both frameworks run the
same step on the same tensors.
"""
import numpy as np


def _stepper(opt, loss, before=None):
    """One optimiser step a call: ``before()`` (its own backward, if any), then ``loss()`` backward, the step and
    the gradients cleared (Paddle's ``clear_grad``, torch's ``zero_grad``)."""
    clear = getattr(opt, 'clear_grad', None) or opt.zero_grad

    def step():
        if before is not None:
            before()
        loss().backward()
        opt.step()
        clear()
    return step


def _paddle_adam(net):
    import paddle
    return paddle.optimizer.Adam(1e-4, parameters=net.parameters(), beta1=0.9, beta2=0.99)


def _torch_adam(net):
    import torch
    return torch.optim.Adam(net.parameters(), 1e-4, betas=(0.9, 0.99))


def _paddle_g(g, lq, gt):
    import paddle
    x, y = paddle.to_tensor(lq), paddle.to_tensor(gt)
    return _stepper(_paddle_adam(g), lambda: paddle.abs(g(x) - y).mean())


def _torch_g(g, lq, gt):
    import torch
    x, y = torch.from_numpy(lq), torch.from_numpy(gt)
    return _stepper(_torch_adam(g), lambda: (g(x) - y).abs().mean())


def _d_loss(d, real, fake, concat, softplus):
    """The discriminator's own loss on real and fake (non-saturating, logits)."""
    pred = d(concat([real, fake]))
    n = real.shape[0]
    return softplus(-pred[:n]).mean() + softplus(pred[n:]).mean()


def _paddle_d(d, fake, gt):
    import paddle
    import paddle.nn.functional as F
    real, f0 = paddle.to_tensor(gt), paddle.to_tensor(fake)

    def adversarial():  # the generator's adversarial term, down to the fake image, D frozen
        for p in d.parameters():
            p.stop_gradient = True
        f = f0.clone()
        f.stop_gradient = False
        F.softplus(-d(f)).mean().backward()
        for p in d.parameters():
            p.stop_gradient = False
    return _stepper(_paddle_adam(d), lambda: _d_loss(d, real, f0, lambda ts: paddle.concat(ts, axis=0), F.softplus),
                    adversarial)


def _torch_d(d, fake, gt):
    import torch
    import torch.nn.functional as F
    real, f0 = torch.from_numpy(gt), torch.from_numpy(fake)

    def adversarial():
        for p in d.parameters():
            p.requires_grad_(False)
        F.softplus(-d(f0.clone().requires_grad_(True))).mean().backward()
        for p in d.parameters():
            p.requires_grad_(True)
    return _stepper(_torch_adam(d), lambda: _d_loss(d, real, f0, lambda ts: torch.cat(ts, 0), F.softplus), adversarial)


def _teachers(weights, arch, lq, cache_root):
    """{'teacher predictor': fn, 'teacher dynamic': fn} for the generator in ``weights``."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.upscaler import cached_export
    pred = PredictorBackend(cached_export(weights, cache_root=cache_root), 'cpu', precision='fp32')
    net, _ = models.load_network(weights)
    x = paddle.to_tensor(lq)

    def dyn():
        with paddle.no_grad():
            net(x)
    return {'teacher predictor': lambda: pred.forward(lq), 'teacher dynamic': dyn}


def build_parts(g_weights, d_arch, batch, gt_size, cache_root, feeder_step=None, torch_too=True):
    """``{(part, framework): closure}`` for the generator in ``g_weights`` and a discriminator ``d_arch``."""
    from realesrgan_paddle import models
    rng = np.random.default_rng(0)
    lq = rng.random((batch, 3, gt_size // 4, gt_size // 4), dtype=np.float32)
    gt = rng.random((batch, 3, gt_size, gt_size), dtype=np.float32)
    g, arch = models.load_network(g_weights)
    g.train()
    parts = {('G', 'paddle'): _paddle_g(g, lq, gt)}
    if d_arch is not None:
        parts[('D', 'paddle')] = _paddle_d(models.build_network(d_arch), gt.copy(), gt)
    for name, fn in _teachers(g_weights, arch, lq, cache_root).items():
        parts[(name, 'paddle')] = fn
    if feeder_step is not None:
        parts[('degradation', 'paddle')] = feeder_step
    if torch_too:
        parts.update(_torch_parts(g, arch, d_arch, lq, gt))
    return parts


def _torch_parts(g, arch, d_arch, lq, gt):
    import torch

    from realesrgan_paddle.reference.torch_networks import build_torch_network, load_reference
    torch.manual_seed(0)
    tg = load_reference(arch, {k: torch.from_numpy(v.numpy()) for k, v in g.state_dict().items()}).train()
    parts = {('G', 'torch'): _torch_g(tg, lq, gt)}
    if d_arch is not None and d_arch['type'] == 'UNetDiscriminatorSN':
        parts[('D', 'torch')] = _torch_d(build_torch_network(d_arch), gt.copy(), gt)

    def teacher():
        with torch.no_grad():
            tg(torch.from_numpy(lq))
    parts[('teacher dynamic', 'torch')] = teacher
    return parts
