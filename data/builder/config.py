"""Settings of the keyframe builder that the command line needs before any heavy import.

Pure Python (no numpy / OpenCV), so ``tools/extract_keyframes.py`` can parse
its options and start ffmpeg on the first video while OpenCV still loads.
"""
from dataclasses import dataclass, field

REASONS = ('small', 'black', 'flat', 'blurry', 'duplicate')


class SettingsMismatch(ValueError):
    """An output folder built with other mode / filter settings."""


def parse_box(text):
    """``'x,y,w,h'`` -> tuple of 4 ints (raises ValueError with a clear message)."""
    parts = [p.strip() for p in str(text).split(',')]
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f'--crop expects x,y,w,h as 4 integers, got {text!r}') from None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise ValueError(f'--crop needs x,y >= 0 and w,h > 0, got {text!r}')
    return (x, y, w, h)


@dataclass
class FilterConfig:
    """Thresholds of the frame filters; ``None`` switches one off."""
    min_size: int = 256          # short side after cropping, pixels
    blur: float = 30.0           # minimum Laplacian variance
    black: float = 16.0          # frames with a mean luma below this are black
    flat: float = 8.0            # frames with a luma std below this are flat
    bars: bool = True            # crop letterbox / pillarbox bars
    bar_limit: int = 24          # luma of a bar line (ffmpeg cropdetect's default)
    crops: list = field(default_factory=list)  # overlay boxes (x, y, w, h) to crop away
    dedupe: int = 6              # maximum Hamming distance of a near-duplicate

    @classmethod
    def off(cls):
        return cls(min_size=None, blur=None, black=None, flat=None, bars=False, crops=[], dedupe=None)

    def as_dict(self):
        return dict(min_size=self.min_size, blur=self.blur, black=self.black, flat=self.flat,
                    bars=self.bars, bar_limit=self.bar_limit, crops=[list(c) for c in self.crops],
                    dedupe=self.dedupe)
