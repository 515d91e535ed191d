"""Turn videos into a filtered, de-duplicated set of lossless PNG frames.

    python tools/extract_keyframes.py --input VIDEO_OR_DIR --output DIR
        [--mode key|scene|interval] [--threshold T] [--every SECONDS]
        [--min-size PX] [--blur VAR] [--black LUMA] [--flat STD]
        [--no-bars] [--crop x,y,w,h ...] [--dedupe HAMMING] [--no-filter]

Frames are saved at the source resolution as ``<video-stem>_<seconds>.png``
(after cropping away letterbox bars and ``--crop`` overlay boxes) with
``manifest.jsonl`` beside them. Re-running the same command resumes.
"""
import math
import sys
from pathlib import Path

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.data.builder.sources import find_videos  # noqa: E402
from realesrgan_paddle.media.ffmpeg import FFmpegNotFound, ffmpeg_exe  # noqa: E402
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, DefaultsHelpFormatter, add_input, add_output, add_quiet, add_workers, fail, returns_status)
from realesrgan_paddle.data.builder.config import (  # noqa: E402  (light: no numpy/OpenCV yet)
    FilterConfig, SettingsMismatch, parse_box)
from realesrgan_paddle.utils.outputs import OutputClash, OutputPlan, os_error_line, real_path  # noqa: E402

DEF = FilterConfig()


def off_or(value, cast):
    """A threshold option: a number, or 'off'/'none'/'0'-style disabling via the 'off' word."""
    if str(value).lower() in ('off', 'none'):
        return None
    return cast(value)


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=DefaultsHelpFormatter)
    add_input(p, nargs='+', required=True, help='video files and/or folders of videos')
    add_output(p, required=True, help='folder for the PNGs and manifest.jsonl')
    p.add_argument('--mode', choices=('key', 'scene', 'interval'), default='key',
                   help='key: exactly the coded keyframes; scene: frames starting a new shot; '
                        'interval: one frame every --every seconds')
    p.add_argument('--threshold', type=float, default=0.3, help='scene change score (0..1) for --mode scene')
    p.add_argument('--every', type=float, default=1.0, help='seconds between frames for --mode interval')
    p.add_argument('--min-size', default=DEF.min_size, type=lambda v: off_or(v, int),
                   help="drop frames whose short side (after cropping) is below this; 'off' disables")
    p.add_argument('--blur', default=DEF.blur, type=lambda v: off_or(v, float),
                   help="drop frames whose Laplacian variance is below this; 'off' disables")
    p.add_argument('--black', default=DEF.black, type=lambda v: off_or(v, float),
                   help="drop frames whose mean luma is below this; 'off' disables")
    p.add_argument('--flat', default=DEF.flat, type=lambda v: off_or(v, float),
                   help="drop frames whose luma std is below this; 'off' disables")
    p.add_argument('--no-bars', action='store_true', help='keep letterbox / pillarbox bars')
    p.add_argument('--bar-limit', type=int, default=DEF.bar_limit, help='max mean luma of a bar line')
    p.add_argument('--crop', action='append', default=[], metavar='x,y,w,h',
                   help='burnt-in overlay box (e.g. a scoreboard) in source pixels; the frame is cropped to '
                        'the largest rectangle that avoids it; repeat for several boxes')
    p.add_argument('--dedupe', default=DEF.dedupe, type=lambda v: off_or(v, int),
                   help="drop frames whose perceptual hash is within this Hamming distance (of 64 bits) of a "
                        "kept frame from any video; 'off' disables")
    p.add_argument('--no-filter', action='store_true',
                   help='no filter, crop or dedupe: exactly the frames of the mode')
    p.add_argument('--png-level', type=int, default=1, choices=range(10), metavar='0-9',
                   help='PNG zlib level (lossless at every level; higher is smaller and slower)')
    add_workers(p, 2, 'PNG encoding threads')
    add_quiet(p)
    return p.parse_args(argv)


def output_problem(inputs, out_dir):
    """Why ``out_dir`` could overwrite an input (None when it cannot): it is an input file, or an input
    file inside it has a name this tool writes (``*.png``, ``manifest.jsonl``)."""
    out = Path(out_dir)
    files = [Path(i) for i in inputs if Path(i).is_file()]
    plan = OutputPlan(files)
    try:
        plan.add(out / 'manifest.jsonl')
    except OutputClash as e:
        return str(e)
    ro = real_path(out)
    for f in files:
        if ro in real_path(f).parents and f.suffix.lower() == '.png':
            return f'refusing to write into {out}: it holds the input {f}, and frames are written as PNG there'
    return None


@returns_status
def main(argv=None):
    args = parse_args(argv)
    try:
        boxes = [parse_box(b) for b in args.crop]
    except ValueError as e:
        fail(None, e)
    if args.no_filter:
        cfg = FilterConfig.off()
    else:
        cfg = FilterConfig(min_size=args.min_size, blur=args.blur, black=args.black, flat=args.flat,
                           bars=not args.no_bars, bar_limit=args.bar_limit, crops=boxes, dedupe=args.dedupe)
    if not (math.isfinite(args.every) and args.every > 0):
        fail(None, f'--every must be a number of seconds > 0, got {args.every}')
    if not (math.isfinite(args.threshold) and 0 <= args.threshold <= 1):
        fail(None, f'--threshold must be between 0 and 1, got {args.threshold}')
    if args.workers < 1:
        fail(None, f'--workers must be >= 1, got {args.workers}')
    problem = output_problem(args.input, args.output)
    if problem:
        fail(None, problem)
    early = None
    try:
        ffmpeg_exe()
        videos = find_videos(args.input, args.output)
        if videos:
            # start ffmpeg on the first video now: it decodes while OpenCV and the filters load
            from realesrgan_paddle.data.builder.decode import FrameReader
            early = FrameReader(videos[0], mode=args.mode, threshold=args.threshold, every=args.every,
                                prefetch=4).start()
        from realesrgan_paddle.data.builder.extract import extract, format_summary
        summary = extract(args.input, args.output, mode=args.mode, threshold=args.threshold, every=args.every,
                          cfg=cfg, png_level=args.png_level, workers=args.workers, progress=not args.quiet,
                          log=lambda line: print(line, file=sys.stderr), early=early)
    except FFmpegNotFound as e:
        fail(None, e)
    except (FileNotFoundError, SettingsMismatch) as e:
        fail(None, e)
    except OSError as e:  # e.g. the output disk is full or read-only
        fail(None, os_error_line(e, args.output), 1)
    except KeyboardInterrupt:
        print('interrupted: re-run the same command to resume', file=sys.stderr)
        return 130
    finally:
        if early is not None:
            early.close()
    print(format_summary(summary, args.output))
    if summary['videos_failed']:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
