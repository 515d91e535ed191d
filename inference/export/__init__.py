"""Exports: Paddle Inference's static graph (``paddle_export``: trace, save, the export cache as a kind of the store),
the check that an export is worth shipping (``export_check``), and ONNX beside it (``onnx_export``, ``onnx_fp16``,
``onnx_ops``; ``onnx_check`` reads an ``.onnx`` before onnxruntime does, ``onnx_backend`` runs it). Import the
module you need: this package imports nothing.
"""
