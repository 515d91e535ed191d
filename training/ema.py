"""Exponential moving average of the generator's weights: the network validation runs and the ``params_ema`` a
checkpoint keeps (rank 0 only; ``train.ema_decay: 0`` turns it off)."""
import paddle

from realesrgan_paddle.models import build_network, load_state_into, read_checkpoint

from .checkpoints import to_numpy_state


def ema_update(ema_net, net, decay):
    """``ema = decay * ema + (1 - decay) * net`` for parameters; buffers are copied."""
    src = dict(net.named_parameters())
    with paddle.no_grad():
        for name, p in ema_net.named_parameters():
            q = src[name]
            if q.stop_gradient:  # a frozen part (LowBandRRDBNet's trunk) is equal in both
                continue
            p.set_value(p * decay + q.detach() * (1.0 - decay))
        src_buf = dict(net.named_buffers())
        for name, b in ema_net.named_buffers():
            if name in src_buf:
                b.set_value(src_buf[name])


class EMA:
    """Holds a frozen copy of ``net`` and moves it towards ``net`` on each ``update``."""

    def __init__(self, net, ema_net, decay=0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f'ema_decay must be in [0, 1), got {decay}')
        self.decay = float(decay)
        self.net_ema = ema_net
        self.net_ema.set_state_dict(net.state_dict())
        for p in self.net_ema.parameters():
            p.stop_gradient = True
        self.net_ema.eval()

    def update(self, net, decay=None):
        ema_update(self.net_ema, net, self.decay if decay is None else decay)

    def output(self, lq):
        """The EMA network's output on ``lq``, without gradient."""
        with paddle.no_grad():
            return self.net_ema(lq)

    def payload(self):
        """``params_ema`` of a checkpoint: the EMA network's state as numpy arrays."""
        return to_numpy_state(self.net_ema)

    def load(self, path, raw):
        """The EMA weights of checkpoint ``path`` (``raw``: its state file, read once): ``params_ema``, else
        ``params``."""
        state, _ = read_checkpoint(path, 'params_ema', detect=False, raw=raw)
        load_state_into(self.net_ema, state, where=str(path))


def make_ema(net, arch, decay, rank):
    """The generator's EMA on rank 0 when ``decay`` (``train.ema_decay``) is above 0, else None (a rank without EMA
    validates and reads ``ema_output`` from the current network)."""
    return EMA(net, build_network(arch), decay) if decay > 0 and rank == 0 else None
