"""Fit the training degradation to the low-resolution footage you want to upscale.

    python tools/fit_degradation.py --hr HR_VIDEOS_OR_FRAMES --lq LQ_VIDEOS_OR_FRAMES --out fitted.yml
        [--scale 4] [--frames 8] [--crop 256] [--comps libx264 jpeg none] [--seed 0]

Measures the LQ footage (scale against the HR, sharpness, chroma, noise colour and level, blockiness,
ringing, colour range; codec, pixel format and bits per pixel from the streams; JPEG quality from the
files), searches the degradation family (blur, downscale, noise, JPEG or x264/x265 at a CRF) whose
synthetic LQ made from the HR frames matches those statistics, and writes:

  OUT            an options fragment (``scale:`` and ``degradation:``) for train.py:
                 ``python train.py --yml_path BASE.yml --yml_path OUT`` or copy the keys
  OUT.json       the measurements, the fit and real-vs-synthetic statistics (fitted and generic)
  OUT.png        the same as a plot: each statistic, real against fitted and generic synthetic LQ

By default the compression kinds tried follow the LQ streams' codec (h264 -> libx264, hevc -> libx265;
JPEG files -> jpeg); image folders of lossless frames try none, jpeg and libx264.
"""
import sys
from pathlib import Path

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.data.degrade.codec import CodecError  # noqa: E402
from realesrgan_paddle.data.fit.footage_fit import COMPS, FIT_FRAMES, run  # noqa: E402
from realesrgan_paddle.data.fit.lq_source import FootageError  # noqa: E402
from realesrgan_paddle.media.ffmpeg import FFmpegNotFound  # noqa: E402
from realesrgan_paddle.utils.cli_parser import ArgumentParser, DefaultsHelpFormatter, add_quiet, fail  # noqa: E402
from realesrgan_paddle.utils.cli_parser import add_output  # noqa: E402
from realesrgan_paddle.utils.outputs import OutputClash, check_no_clobber, check_writable  # noqa: E402


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=DefaultsHelpFormatter)
    p.add_argument('--hr', nargs='+', required=True, help='HR footage: videos, images or folders of them')
    p.add_argument('--lq', nargs='+', required=True, help='the low-resolution footage to upscale (same kinds)')
    add_output(p, aliases=('--out',), dest='out', required=True, help='the options fragment to write (.yml)')
    p.add_argument('--scale', type=int, default=None, help='HR/LQ scale (default: from the frame sizes)')
    p.add_argument('--frames', type=int, default=FIT_FRAMES, help='frames sampled from each side')
    p.add_argument('--crop', type=int, default=256, help='HR centre crop (px) the synthetic LQ is made from')
    p.add_argument('--comps', nargs='+', choices=COMPS, default=None,
                   help='compression kinds to try (default: from the LQ streams)')
    p.add_argument('--seed', type=int, default=0, help='seed of the synthetic LQ (the same seed, the same fit)')
    add_quiet(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.frames < 1 or args.crop < 16:
        fail('fit_degradation.py', '--frames must be >= 1 and --crop >= 16')
    out = Path(args.out)
    try:  # OUT, OUT.json and OUT.png: never over the footage, and a path it cannot write before the fit
        check_no_clobber([*args.hr, *args.lq], [out, *(out.with_suffix(out.suffix + s) for s in ('.json', '.png'))])
        check_writable(out.parent)
    except OutputClash as exc:
        fail('fit_degradation.py', exc)
    try:
        run(args)
    except (FootageError, ValueError) as exc:  # the footage: bad input (docs/cli.md, "Errors")
        fail('fit_degradation.py', exc)
    except (CodecError, FFmpegNotFound) as exc:  # this machine's ffmpeg: a step that failed
        fail('fit_degradation.py', exc, 1)
    except OSError as exc:  # a full disk, a quota: one line, and what was written stays
        kept = [str(p) for p in (out, out.with_suffix(out.suffix + '.json')) if p.is_file()]
        fail('fit_degradation.py', f'{exc.filename or out}: cannot write ({exc.strerror or exc})'
             + (f'; kept {", ".join(kept)}' if kept else ''), 1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
