"""Which files are images and which are videos, by extension: the one list every tool uses
(stdlib only, so it is cheap to import before paddle, numpy or OpenCV).

Images: what ``media.image_io.imread`` decodes (OpenCV). Videos: what ffmpeg commonly demuxes.
"""
from pathlib import Path

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.ppm', '.pgm', '.jp2')
VIDEO_EXTS = ('.mp4', '.mkv', '.avi', '.mov', '.webm', '.ts', '.m2ts', '.mts', '.flv', '.wmv', '.mpg',
              '.mpeg', '.m4v', '.3gp', '.ogv', '.mxf', '.vob', '.y4m', '.dv', '.asf', '.rm', '.rmvb')

# what the image writer (media.image_io.imwrite) can keep: JPEG's two spellings (quality applies), the formats
# that hold no alpha channel (an RGBA image loses it), and those that hold 16 bits per channel (others get 8)
JPEG_EXTS = ('.jpg', '.jpeg')
NO_ALPHA_EXTS = ('.jpg', '.jpeg', '.bmp')
SIXTEEN_BIT_EXTS = ('.png', '.tif', '.tiff')

# the containers a video upscale writes as they are named (inference.video.one_pass.output_container); others become .mp4
OUTPUT_CONTAINERS = ('.mp4', '.mkv', '.mov')


def is_image(path):
    """True when ``path`` has an image extension (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTS


def is_video(path):
    """True when ``path`` has a video extension (any case)."""
    return Path(path).suffix.lower() in VIDEO_EXTS

# x264's speed/size presets, fastest first (tools/infer.py --preset)
X264_PRESETS = ('ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow')
