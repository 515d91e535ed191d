"""Which files are images and which are videos, by extension: the one list every tool uses
(stdlib only, so it is cheap to import before paddle, numpy or OpenCV).

Images: what ``media.image_io.imread`` decodes (OpenCV). Videos: what ffmpeg commonly demuxes.
"""
from pathlib import Path

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.ppm', '.pgm', '.jp2')
VIDEO_EXTS = ('.mp4', '.mkv', '.avi', '.mov', '.webm', '.ts', '.m2ts', '.mts', '.flv', '.wmv', '.mpg',
              '.mpeg', '.m4v', '.3gp', '.ogv', '.mxf', '.vob', '.y4m', '.dv', '.asf', '.rm', '.rmvb')

# the containers a video upscale writes as they are named (inference.video.output_container); others become .mp4
OUTPUT_CONTAINERS = ('.mp4', '.mkv', '.mov')


def is_image(path):
    """True when ``path`` has an image extension (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTS


def is_video(path):
    """True when ``path`` has a video extension (any case)."""
    return Path(path).suffix.lower() in VIDEO_EXTS

# x264's speed/size presets, fastest first (tools/infer.py --preset)
X264_PRESETS = ('ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow')
