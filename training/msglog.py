"""Training log lines (console + file), VisualDL scalars and ``metrics.jsonl`` records, with iter/s and ETA."""
import datetime
import time


class MessageLogger:
    def __init__(self, logger, total_iter, start_iter=0, print_freq=100, vdl_dir=None, debug=False, metrics=None):
        self.logger = logger
        self.metrics = metrics  # a training.metrics_log.MetricsLog, or None
        self.total_iter = int(total_iter)
        self.start_iter = int(start_iter)
        self.print_freq = 1 if debug else max(1, int(print_freq))
        self.t0 = time.time()
        self.last_t = self.t0
        self.last_iter = self.start_iter
        self.writer = None
        if vdl_dir is not None:
            try:
                from visualdl import LogWriter
                self.writer = LogWriter(logdir=str(vdl_dir))
            except Exception as exc:  # visualdl missing or broken: keep training, say so once
                logger.warning(f'VisualDL logging disabled: {exc}')
        self.sums = {}
        self.count = 0

    def accumulate(self, losses):
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1

    def rates(self, it):
        now = time.time()
        done = it - self.start_iter
        ips = done / max(now - self.t0, 1e-9)
        eta = (self.total_iter - it) / ips if ips > 0 else float('inf')
        return ips, eta

    def __call__(self, it, epoch, lrs, force=False):
        """Log averaged losses every ``print_freq`` iterations; returns the message or None."""
        if not force and it % self.print_freq != 0:
            return None
        ips, eta = self.rates(it)
        avg = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        eta_s = str(datetime.timedelta(seconds=int(eta))) if eta != float('inf') else '?'
        lr_s = ','.join(f'{lr:.3e}' for lr in lrs)
        msg = (f'[epoch {epoch:3d} iter {it:7d}/{self.total_iter}] lr:({lr_s}) {ips:.3f} it/s eta {eta_s} ' +
               ' '.join(f'{k}: {v:.4e}' for k, v in avg.items()))
        self.logger.info(msg)
        if self.metrics is not None:
            self.metrics.write('train', it, epoch, lr=list(lrs), losses=avg, it_per_s=ips)
        if self.writer is not None:
            for k, v in avg.items():
                self.writer.add_scalar(tag=f'losses/{k}', step=it, value=v)
            for i, lr in enumerate(lrs):
                self.writer.add_scalar(tag=f'lr/{i}', step=it, value=lr)
            self.writer.add_scalar(tag='speed/it_per_s', step=it, value=ips)
        self.sums, self.count = {}, 0
        return msg

    def add_scalar(self, tag, value, it):
        if self.writer is not None:
            self.writer.add_scalar(tag=tag, step=it, value=float(value))

    def close(self):
        if self.writer is not None:
            self.writer.close()
