"""Checkpoints of a run: ``models/net_g_<iter>.pdparams``, ``net_d_<iter>.pdparams`` and
``training_states/<iter>.pdstates``; keep-last-K pruning and finding the newest complete state.

Optimiser accumulators are keyed by Paddle's global parameter names
(``conv2d_3.w_0``), which depend on construction order; they are stored under
the structured names (``conv_first.weight``) so a resumed run maps them back.
"""
import re
from pathlib import Path

import numpy as np

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.utils.fileio import remove_stale_temps

from .state_io import load_state, save_state

_STATE_RE = re.compile(r'^(\d+)\.pdstates$')
_NET_RE = re.compile(r'^net_([a-z]+)_(\d+)\.pdparams$')  # net_path's names of an iteration (not 'best')


def to_numpy_state(layer):
    return {k: np.asarray(v.numpy()) for k, v in layer.state_dict().items()}


def _split_key(key, names):
    i = len(key)
    while True:
        i = key.rfind('_', 0, i)
        if i <= 0:
            return None, None
        if key[:i] in names:
            return key[:i], key[i + 1:]


def optimizer_state(optimizer, net):
    """Optimizer state with parameter names replaced by the net's structured names."""
    names = {p.name: n for n, p in net.named_parameters()}
    out = {}
    for k, v in optimizer.state_dict().items():
        if isinstance(v, dict):
            if k == 'LR_Scheduler':
                out[k] = dict(v)
            else:  # e.g. master_weights {param name: tensor}
                out[k] = {names.get(kk, kk): np.asarray(vv.numpy()) for kk, vv in v.items()}
            continue
        pname, suffix = _split_key(k, names)
        if pname is None:
            out[k] = np.asarray(v.numpy()) if hasattr(v, 'numpy') else v
        else:
            out[f'{names[pname]}::{suffix}'] = np.asarray(v.numpy())
    return out


def load_optimizer_state(optimizer, state, net):
    import paddle
    names = {n: p.name for n, p in net.named_parameters()}
    sd = {}
    for k, v in state.items():
        if isinstance(v, dict):
            sd[k] = v if k == 'LR_Scheduler' else {names.get(kk, kk): paddle.to_tensor(vv) for kk, vv in v.items()}
        elif '::' in k:
            struct, suffix = k.split('::', 1)
            if struct not in names:
                raise ValueError(f'optimizer state names a parameter the network lacks: {struct}')
            sd[f'{names[struct]}_{suffix}'] = paddle.to_tensor(v)
        else:
            sd[k] = paddle.to_tensor(v) if isinstance(v, np.ndarray) else v
    optimizer.set_state_dict(sd)


class CheckpointManager:
    """Saves and prunes the checkpoints of one experiment directory."""

    def __init__(self, exp_dir, keep_last=3, logger=None):
        self.exp_dir = Path(exp_dir)
        self.models_dir = self.exp_dir / 'models'
        self.states_dir = self.exp_dir / 'training_states'
        self.keep_last = int(keep_last)
        self.logger = logger

    def net_path(self, which, it):
        """``models/net_<which>_<it>.pdparams``; ``it='best'`` names the best validated one (``net_g_best``)."""
        return self.models_dir / f'net_{which}_{it}.pdparams'

    def state_path(self, it):
        return self.states_dir / f'{it}.pdstates'

    def save(self, it, nets, state):
        """``nets``: {'g': dict(params=, params_ema=, arch=), 'd': {...}}; the state file goes last."""
        for which, payload in nets.items():
            save_checkpoint(self.net_path(which, it), params=payload['params'],
                            params_ema=payload.get('params_ema'), arch=payload.get('arch'),
                            meta={'iter': int(it), **payload.get('meta', {})})
        state = dict(state, iter=int(it), nets=sorted(nets))
        save_state(self.state_path(it), state)
        self.prune()

    def net_files(self, which='g'):
        """``{iteration: path}`` of the saved ``net_<which>_<iter>.pdparams`` files, in iteration order
        (the generators hold the EMA weights too)."""
        if not self.models_dir.is_dir():
            return {}
        found = {int(m.group(2)): p for p in self.models_dir.iterdir()
                 if (m := _NET_RE.match(p.name)) and m.group(1) == which}
        return dict(sorted(found.items()))

    def saved_iters(self):
        if not self.states_dir.is_dir():
            return []
        its = [int(m.group(1)) for p in self.states_dir.iterdir() if (m := _STATE_RE.match(p.name))]
        return sorted(its)

    def prune(self):
        if self.keep_last <= 0:
            return
        its = self.saved_iters()
        for it in its[:-self.keep_last]:
            for p in [self.state_path(it), self.net_path('g', it), self.net_path('d', it)]:
                p.unlink(missing_ok=True)

    def remove_stale_temps(self):
        """Delete temp files left in the experiment folder by a killed run (their writer is gone)."""
        return remove_stale_temps(self.exp_dir)

    def latest(self):
        """(iter, state) of the newest state whose net files exist and that reads back, else (None, None)."""
        for it in reversed(self.saved_iters()):
            try:
                state = load_state(self.state_path(it))
            except ValueError as exc:
                if self.logger:
                    self.logger.warning(f'skipping unreadable state: {exc}')
                continue
            if all(self.net_path(w, it).is_file() for w in state.get('nets', ['g'])):
                return it, state
            if self.logger:
                self.logger.warning(f'skipping state {it}: its network files are missing')
        return None, None
