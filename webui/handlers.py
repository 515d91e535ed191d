"""What the web page does, without gradio: the page (``webui/app.py``) calls these, and so do the tests.

Every handler returns a one-line message on bad input instead of raising. Outputs go
only to the app's output folder, written atomically (``utils.img_io.imwrite``) under
fresh names, so an upload is never overwritten. At most ``MAX_LOADED`` upscalers
stay loaded (least recently used first out).
"""
import time
from collections import OrderedDict
from pathlib import Path

MAX_LOADED = 2
VIDEO_EXT = ('.mp4', '.mkv', '.mov', '.avi', '.webm')


def find_models(models_dir=None):
    """{label: model}: the zoo names, then .pdparams files, export folders and .onnx files under ``models_dir``."""
    from models import zoo
    from models.zoo import is_export_dir
    found = OrderedDict((n, n) for n in zoo.list_models())
    if models_dir and Path(models_dir).is_dir():
        root = Path(models_dir)
        for p in sorted(root.rglob('*')):
            if (p.is_file() and p.suffix in ('.pdparams', '.onnx')) or is_export_dir(p):
                found[str(p.relative_to(root))] = str(p)
    return found


class Session:
    """The app's state: its output folder and a small cache of loaded upscalers."""

    def __init__(self, out_dir, models_dir=None, max_loaded=MAX_LOADED):
        self.out_dir = Path(out_dir)
        self.models = find_models(models_dir)
        self.max_loaded = max_loaded
        self._loaded = OrderedDict()

    def upscaler(self, label, tile=0, precision='fp32', denoise_strength=None):
        from inference import Upscaler
        if label not in self.models:
            raise ValueError(f'unknown model {label!r}')
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

    def upscale(self, files, label, outscale=None, tile=0, precision='fp32', denoise_strength=None, progress=None):
        """files -> (outputs, (first input, first output) for the slider, message)."""
        from utils.img_io import imread, imwrite
        files = [str(f) for f in (files or [])]
        if not files:
            return [], None, 'error: no file uploaded'
        try:
            up = self.upscaler(label, tile, precision, denoise_strength)
        except Exception as e:  # noqa: BLE001  shown in the page, one line
            return [], None, f'error: cannot load the model {label}: {_line(e)}'
        outs, msgs = [], []
        for i, src in enumerate(files):
            if progress:
                progress(i / len(files), desc=f'{Path(src).name} ({i + 1}/{len(files)})')
            try:
                if Path(src).suffix.lower() in VIDEO_EXT:
                    from inference.video import upscale_video
                    dst = self._out_name(src, '.mp4')
                    upscale_video(up, src, dst, outscale=outscale or None, progress=False)
                else:
                    img = imread(src)
                    dst = self._out_name(src, '.png')  # PNG keeps alpha
                    imwrite(dst, up.upscale(img, outscale or None))
                outs.append(str(dst))
            except Exception as e:  # noqa: BLE001
                msgs.append(f'error: {Path(src).name}: {_line(e)}')
        pair = next(((s, o) for s, o in zip(files, outs) if o.endswith('.png')), None)
        msgs.insert(0, f'{len(outs)} of {len(files)} file(s) upscaled with {label}')
        return outs, pair, '\n'.join(msgs)

    def compare(self, image, labels, outscale=None):
        """One image through several models: [(output path, caption)], rows of [model, NIQE, Laplacian energy]."""
        import numpy as np
        from utils.img_io import imread, imwrite
        from evaluation.metrics import laplacian_energy
        from evaluation.niqe import niqe
        if not image or not labels:
            return [], [], 'error: give an image and at least one model'
        try:
            img = imread(str(image))
        except Exception as e:  # noqa: BLE001
            return [], [], f'error: {_line(e)}'
        gallery, rows, failed = [], [], []
        for label in labels:
            try:
                out = self.upscaler(label).upscale(img, outscale or None)
            except Exception as e:  # noqa: BLE001
                rows.append([label, None, None])
                failed.append(f'{label}: {_line(e)}')
                continue
            dst = self._out_name(image, f'_{Path(label).stem}.png')
            imwrite(dst, out)
            o8 = out if out.dtype == np.uint8 else np.clip(out * 255 if out.dtype.kind == 'f' else out / 257, 0, 255).astype(np.uint8)
            rgb = o8[:, :, :3] if o8.ndim == 3 else o8
            rows.append([label, round(float(niqe(rgb)), 3), round(laplacian_energy(rgb), 1)])
            gallery.append((str(dst), label))
        return gallery, rows, '; '.join([f'{len(gallery)} of {len(labels)} model(s) ran'] + failed)

    def compare_flicker(self, video, labels, frames=8, window=160):
        """A video's first ``frames`` frames (their centre ``window`` px) through each model: rows of [model, static,
        warp], FLICKER against bicubic (``evaluation.flicker``: 1 = as steady as bicubic), and a verdict per model."""
        from evaluation.flicker import BicubicFlickerMeter, verdict
        from utils.video_reader import FrameReader
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


def list_reports(runs_dir):
    """The report.html files under ``runs_dir``, newest first."""
    root = Path(runs_dir) if runs_dir else None
    if root is None or not root.is_dir():
        return []
    return [str(p) for p in sorted(root.rglob('report.html'), key=lambda p: p.stat().st_mtime, reverse=True)]


def _line(e):
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__
