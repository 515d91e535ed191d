"""How the evaluate stage runs its models: ``evaluation.evaluator`` with the cheapest backend per model.

The metrics, the summary and the verdict lines are ``evaluation.evaluator``'s (``evaluate``,
``summarize``, ``verdict``): PSNR, SSIM, NIQE, detail ratio, artefact, and LPIPS/DISTS when their
weights are on disk. Here only the upscalers are built, once, and shared by the selection pass
(the base and every checkpoint) and the final comparison:

- the base and its checkpoints share one architecture. SRVGGNetCompact is cheap in the dynamic
  graph: each checkpoint loads straight from its file (no export per checkpoint). RRDBNet
  (x4plus) is 12-20x faster on the predictor (Paddle Inference): each checkpoint is exported once
  into the stage's own ``exports/`` folder, removed when the stage is done;
- ``--compare`` models and an RRDBNet base run on the predictor through the shared export cache
  (``~/.cache/realesrgan-paddle/infer``), so a model compared in many runs is exported once.
"""
import shutil
from pathlib import Path

from evaluation import evaluator as E

SCALE = 4
CROP_BORDER = 4


def own_backend(kind):
    """Backend of the base and its checkpoints: 'dynamic' for the compact network, else 'predictor'."""
    return 'dynamic' if kind == 'compact' else 'predictor'


class Models:
    """Builds each model's upscaler on first use and keeps it: ``get({name: spec})`` -> ``{name: upscaler}``.

    ``own``: the names of the base and the checkpoints (they get ``own_backend(kind)``; checkpoints
    other than the base export into ``export_root`` on the predictor). Every other spec is
    'bicubic' or a --compare model (predictor, shared cache).
    """

    def __init__(self, kind, export_root, device='cpu'):
        self.kind, self.export_root, self.device = kind, Path(export_root), device
        self.built = {}
        self.backends = {}

    def _build(self, name, spec, own):
        from inference import Upscaler
        from models.zoo import parse_model_ref
        if parse_model_ref(spec).kind == 'bicubic':
            self.backends[name] = 'bicubic'
            return E.Bicubic(SCALE)
        backend = own_backend(self.kind) if own else 'predictor'
        cache = self.export_root if own and name != 'base' and backend == 'predictor' else None
        self.backends[name] = backend
        return Upscaler(model=spec, backend=backend, device=self.device, cache_root=cache,
                        precision='fp32')  # scores measure the model itself, not bf16 rounding

    def get(self, models, own=()):
        out = {}
        for name, spec in models.items():
            key = (name, str(spec))
            if key not in self.built:
                self.built[key] = self._build(name, spec, name in own)
            out[name] = self.built[key]
        return out

    def cleanup(self):
        self.built.clear()
        if self.export_root.is_dir():
            shutil.rmtree(self.export_root)


def evaluate(upscalers, gt_dir, lq_dir, iqa=None, notes=None, progress=True, **sheet):
    """Rows of ``evaluation.evaluator.evaluate`` for prebuilt upscalers (x4, 4 px border)."""
    return E.evaluate(upscalers, gt_dir, lq_dir, scale=SCALE, crop_border=CROP_BORDER, iqa=iqa, notes=notes,
                      progress=progress, **sheet)


summarize = E.summarize
verdict = E.verdict
best = E.best
