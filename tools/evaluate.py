"""Compare super-resolution models on what users see: distortion and perception, per image and on average.

With ground truth (a GT folder and an LQ folder with the same file names):
    python tools/evaluate.py --gt HR_DIR --lq LQ_DIR --models bicubic=bicubic base=realesr-animevideov3 \\
        x4plus=realesrgan-x4plus mine=experiments/NAME/models/net_g_600.pdparams --sheet sheet.png

Real footage without ground truth (NIQE and the detail statistics only):
    python tools/evaluate.py --input FRAMES_DIR --models base=realesr-animevideov3 mine=export_dir/

A model is a zoo name, a weights file (.pdparams/.pth/.safetensors), a folder written by
tools/export_model.py, or ``bicubic``.

Metrics (Y channel, border cropped):
  PSNR, SSIM   distortion: fidelity to the GT (higher is better; they favour blur)
  NIQE         naturalness without a reference (lower is better)
  DETAIL       Laplacian energy, output over GT, geometric mean over images: 1.0 = as detailed
               as the GT, below = blur, above = overshoot or noise (best: closest to 1)
  ARTEFACT     high-frequency error where the GT is smooth, in grey levels (lower is better)
  LPIPS, DISTS learnt perceptual distances (lower is better), when their weights are on disk
  INPUT DETAIL per image, of the LQ input: its Laplacian energy over the GT's shrunk to the LQ's
               size; near 0 the degradation blurred the fine detail away, so any detail at the
               GT's level there is invented
  LAPL         (no GT) Laplacian energy; DETAIL_VS_BICUBIC: the same over bicubic's
  PSNR AT DETAIL 0.7 (the line under the tables; psnr_at_detail in --csv/--json): each model's PSNR
               estimated once invented texture (the GT's own fine band, displaced so that its phase
               is unknown) has raised its detail to 0.7; what drawing detail the input does not
               carry costs in PSNR on these images
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils import runtime_env  # noqa: E402

runtime_env.setup()

from evaluation.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
