"""The inference core: tiling, padding, image modes, backends and the ``Upscaler`` API.

``import inference`` pulls in numpy and OpenCV only; paddle loads when an
``Upscaler`` is built, video code (inference.video.one_pass) only when a video is given.
"""
from .upscaler import Upscaler, UpscaleOptions, resolve_model

__all__ = ['Upscaler', 'UpscaleOptions', 'resolve_model']
