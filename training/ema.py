"""Exponential moving average of the generator's weights."""
import paddle


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
