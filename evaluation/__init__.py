"""Evaluation: what a model's output is worth, on both axes.

``metrics`` (PSNR/SSIM on BT.601 Y, detail ratio, artefact), ``niqe`` (no-reference naturalness), ``iqa``
(LPIPS/DISTS when their weights are on disk), ``evaluator`` (models over paired or real folders: rows,
means, verdicts), ``sheet`` (contact sheets), ``model_cache`` (upscalers built once per model for
repeated evaluations) and ``cli`` (the command line of ``tools/evaluate.py``). Nothing here is imported by
``models`` or ``inference``.
"""
