"""How the evaluate stage runs its models: ``evaluation.evaluator`` with the cheapest backend per model.

The metrics, the summary and the verdict lines are ``evaluation.evaluator``'s (``evaluate``,
``summarize``, ``verdict``): PSNR, SSIM, NIQE, detail ratio, artefact, and LPIPS/DISTS when their
weights are on disk. Here only the upscalers are built, once, and shared by the selection pass
(the base and every checkpoint) and the final comparison:

- the base and its checkpoints share one architecture. RRDBNet (x4plus) is 12-20x faster on the
  predictor (Paddle Inference): each checkpoint is exported once into the stage's own ``exports/``
  folder, removed when the stage is done. SRVGGNetCompact runs on the predictor too when each model
  scores at least ``PREDICTOR_MIN_PIXELS`` LQ pixels: on a 2-core AMD EPYC, at 192x144, 0.18 s a frame
  against 1.0 s in the dynamic graph, for about 0.6 s of export and predictor creation per model; below
  that (a few small frames) each checkpoint loads straight from its file into the dynamic graph;
- ``--compare`` models and an RRDBNet base run on the predictor through the shared export cache
  (``~/.cache/realesrgan-paddle/infer``), so a model compared in many runs is exported once;
- models on the predictor that hold one RRDBNet (the x4plus recipe's LowBandRRDBNet checkpoints, their blends,
  the base, a --compare x4plus) run that trunk once per frame (``evaluation.shared_trunk``);
- bicubic, the base and the --compare models keep their outputs (``Remembered``, up to ``MEMO_BYTES``): the
  selection pass and the final comparison score them on the same frames, and each frame runs once per model.
"""
import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np

from realesrgan_paddle.evaluation import evaluator as E
from realesrgan_paddle.evaluation.shared_trunk import CorrectedTrunk, TrunkPool
from realesrgan_paddle.inference import Upscaler

SCALE = 4
CROP_BORDER = 4


# LQ pixels each model scores from which the compact network is exported to the predictor: with the export and
# its creation counted, the predictor was ahead after 16,000 (96x96 frames) to 36,000 (48x48) LQ pixels, and from
# the first frame at 192x144, where it ran 5.5x faster (benchmarks/eval_backend.py, docs/experiments/evaluate_speed.md)
PREDICTOR_MIN_PIXELS = 64 * 1024
MEMO_BYTES = 1 << 30  # the outputs Models keeps for its models that run twice (1 GiB: about 340 outputs of 1024 px)
BACKEND_RULE = {'compact': f'predictor from {PREDICTOR_MIN_PIXELS} LQ pixels a model, else dynamic',
                'x4plus': 'predictor; models on one RRDBNet run it once a frame (evaluation.shared_trunk)'}


def own_backend(kind, lq_pixels=None):
    """Backend of the base and its checkpoints: 'predictor', except for the compact network when each model
    scores fewer than ``PREDICTOR_MIN_PIXELS`` LQ pixels (``lq_pixels``; None: unknown, taken as few): 'dynamic'."""
    if kind == 'compact' and (lq_pixels is None or lq_pixels < PREDICTOR_MIN_PIXELS):
        return 'dynamic'
    return 'predictor'


def lq_pixels(*folders):
    """The LQ pixels of the images in ``folders`` (None entries skipped): what each model of the stage scores."""
    total = 0
    for folder in folders:
        for path in E.list_images(folder) if folder else ():
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            total += 0 if img is None else img.shape[0] * img.shape[1]
    return total


class Models:
    """Builds each model's upscaler on first use and keeps it: ``get({name: spec})`` -> ``{name: upscaler}``.

    ``own``: the names of the base and the checkpoints (they get ``own_backend(kind, lq_pixels)``;
    checkpoints other than the base export into ``export_root`` on the predictor). Every other spec is
    'bicubic' or a --compare model (predictor, shared cache). ``lq_pixels``: how many LQ pixels each
    model will score (``lq_pixels()``), which decides the compact network's backend.
    """

    def __init__(self, kind, export_root, device='cpu', lq_pixels=None):
        self.kind, self.export_root, self.device = kind, Path(export_root), device
        self.own_backend = own_backend(kind, lq_pixels)
        self.built = {}
        self.backends = {}
        self.memo = OutputMemo()
        self.trunks = TrunkPool(self.export_root / 'trunks')

    def _build(self, name, spec, own):
        from realesrgan_paddle.models.zoo import parse_model_ref
        if parse_model_ref(spec).kind == 'bicubic':
            self.backends[name] = 'bicubic'
            return E.Bicubic(SCALE)
        backend = self.own_backend if own else 'predictor'
        cache = self.export_root if own and name != 'base' and backend == 'predictor' else None
        self.backends[name] = backend

        def make(model):  # fp32: scores measure the model itself, not bf16 rounding
            return Upscaler(model=model, backend=backend, device=self.device, cache_root=cache, precision='fp32')
        shared = self.trunks.upscaler(spec, make) if backend == 'predictor' else None
        if shared is not None and isinstance(shared.backend, CorrectedTrunk):
            self.backends[name] = 'predictor trunk + dynamic corrector'
        return shared if shared is not None else make(spec)

    def get(self, models, own=()):
        """``{name: upscaler}``; bicubic, the base and every other model that is not one of ``own``'s checkpoints
        keep their outputs (``Remembered``): the selection pass, the final comparison and the real frames' sheet
        run them on the same frames, and each frame then runs once per model (a --compare x4plus is most of
        the stage's model time)."""
        out = {}
        for name, spec in models.items():
            key = (name, str(spec))
            if key not in self.built:
                net = self._build(name, spec, name in own)
                keep = name == 'base' or name not in own
                self.built[key] = Remembered(net, self.memo) if keep else net
            out[name] = self.built[key]
        return out

    def cleanup(self):
        self.built.clear()
        self.memo = OutputMemo()
        self.trunks = TrunkPool(self.export_root / 'trunks')
        if self.export_root.is_dir():
            shutil.rmtree(self.export_root)


class OutputMemo:
    """The outputs ``Remembered`` upscalers keep, up to ``limit`` bytes in all (past it they run again)."""

    def __init__(self, limit=MEMO_BYTES):
        self.limit, self.used, self.kept = limit, 0, {}

    def get(self, key):
        out = self.kept.get(key)
        return None if out is None else out.copy()  # a caller may write into its output

    def put(self, key, out):
        if self.used + out.nbytes <= self.limit:
            self.kept[key] = out.copy()
            self.used += out.nbytes


class Remembered:
    """An upscaler that runs each LQ frame once: ``upscale(lq)`` of a frame seen before (the same pixels, shape and
    dtype; sha1 of its bytes) is the kept output. Everything else is the upscaler's own."""

    def __init__(self, net, memo):
        self.net, self.memo = net, memo

    def upscale(self, lq, outscale=None):
        arr = np.ascontiguousarray(lq)
        key = (id(self.net), arr.shape, arr.dtype.str, outscale, hashlib.sha1(arr.tobytes()).digest())
        out = self.memo.get(key)
        if out is None:
            out = self.net.upscale(lq) if outscale is None else self.net.upscale(lq, outscale)
            self.memo.put(key, np.asarray(out))
        return out

    def __getattr__(self, name):
        return getattr(self.net, name)


def evaluate(upscalers, gt_dir, lq_dir, iqa=None, notes=None, progress=True, **sheet):
    """Rows of ``evaluation.evaluator.evaluate`` for prebuilt upscalers (x4, 4 px border)."""
    return E.evaluate(upscalers, gt_dir, lq_dir, scale=SCALE, crop_border=CROP_BORDER, iqa=iqa, notes=notes,
                      progress=progress, **sheet)


iqa_metrics = E.iqa_metrics
summarize = E.summarize
verdict = E.verdict
best = E.best
