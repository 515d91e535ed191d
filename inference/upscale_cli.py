"""The command line shared by tools/predict.py (dynamic graph) and tools/infer.py (Paddle Inference).

``parse_args`` needs no paddle, so the tools can set the CPU environment
(``utils.runtime_env.setup``) from ``--threads`` before paddle is imported;
``run(args, backend)`` does the work and returns the exit status.
"""
import argparse
import glob
import logging
import os
import sys
import time
from importlib.util import find_spec
from pathlib import Path

from tqdm import tqdm

from realesrgan_paddle.inference import Upscaler
from realesrgan_paddle.inference.backends import OutputMismatch
from realesrgan_paddle.inference.done_log import DoneLog, StopAfterCurrent, run_fingerprint
from realesrgan_paddle.inference.memory import format_bytes, parse_memory
from realesrgan_paddle.inference.upscaler import check_outscale
from realesrgan_paddle.media.ffmpeg import probe_video
from realesrgan_paddle.media.image_io import ImageReadError, ImageWriteError, declared_size_of, imread, imwrite
from realesrgan_paddle.utils import runtime_env
from realesrgan_paddle.utils.cli_parser import (ArgumentParser, Unsupported, add_quiet, check_dni_weight, fail,
                                                int_in, returns_status)
from realesrgan_paddle.utils.fileio import NAME_MAX, remove_stale_temps
from realesrgan_paddle.utils.outputs import OutputClash, check_no_clobber, check_writable, write_error
from realesrgan_paddle.utils.progress import log_lines, write_line
from realesrgan_paddle.media.kinds import IMAGE_EXTS, NO_ALPHA_EXTS, SIXTEEN_BIT_EXTS, X264_PRESETS, is_image, is_video
from realesrgan_paddle.utils.runtime_env import import_paddle_quietly

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(ArgumentParser):
    """Resolves the official Real-ESRGAN spellings after parsing (``-g``, ``--fp32``, alpha names)."""

    def parse_known_args(self, args=None, namespace=None):
        ns, rest = super().parse_known_args(args, namespace)
        ns.alpha_upsampler = ALPHA_NAMES.get(ns.alpha_upsampler, ns.alpha_upsampler)
        if ns.gpu_id is not None:
            if ns.device not in (None, 'gpu') and ns.device != f'gpu:{ns.gpu_id}':
                self.error(f'-g/--gpu-id {ns.gpu_id} contradicts --device {ns.device}')
            ns.device = f'gpu:{ns.gpu_id}'
        elif ns.device is None:
            ns.device = 'cpu'
        if ns.fp16 and ns.fp32:
            self.error('--fp16 and --fp32 contradict each other')
        if not ns.fp16:  # official default: half precision on a GPU unless --fp32
            ns.fp16 = not ns.fp32 and ns.device.startswith('gpu')
        return ns, rest


# official Real-ESRGAN value -> ours
ALPHA_NAMES = {'realesrgan': 'model', 'bicubic': 'resize'}


def tile_arg(text):
    """``--tile``: 'auto' or a whole number >= 0."""
    text = text.strip().lower()
    if text == 'auto':
        return 'auto'
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f'expected auto or a whole number >= 0 (0 = no tiling), got {text!r}')
    return int(text)


def memory_arg(text):
    """``--max_memory``: a size such as 2G or 1500M, or 'free'."""
    try:
        return parse_memory(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser(prog, description, default_model_help):
    p = _Parser(prog=prog, description=description)
    p.add_argument('-i', '--input', required=True, help='image, folder, glob pattern or video file')
    p.add_argument('-o', '--output', default='results', help='output folder, or a file name for one input')
    p.add_argument('-m', '--model_path', '--model-dir', dest='model_path',
                   default=None, help=default_model_help)
    p.add_argument('-n', '--model_name', default=None, help='zoo model name (same as --model_path NAME)')
    p.add_argument('-s', '--outscale', type=float, default=None,
                   help='final upsampling scale of the image, 0.01 to 16; default: the model scale')
    p.add_argument('-t', '--tile', type=tile_arg, default='auto',
                   help='LR tile size: auto (default) = tiles sized by --max-memory, none when the image fits; '
                        '0 = no tiling (the whole image in one forward); N = N x N tiles (at least 8)')
    p.add_argument('--max_memory', type=memory_arg, default=None, metavar='SIZE',
                   help='peak memory that --tile auto plans for: 2G (default), 1500M, ...; free = square tiles '
                        'from half of the free memory (the rule before this flag)')
    p.add_argument('--tile_pad', type=int, default=10, help='tile overlap/context per side (LR px)')
    p.add_argument('--pre_pad', type=int, default=0, help='reflect padding at bottom/right (LR px)')
    p.add_argument('--suffix', default='out', help='suffix of output names ("" for none)')
    p.add_argument('--ext', default='auto', choices=['auto', 'png', 'jpg', 'webp'],
                   help='output image format; auto keeps the input\'s (RGBA and 16-bit keep a format that holds them)')
    p.add_argument('--alpha_upsampler', default='model', choices=['model', 'resize', 'realesrgan', 'bicubic'],
                   help='alpha channel through the network (model, or realesrgan as in Real-ESRGAN) or by '
                        'resizing (resize, or bicubic)')
    p.add_argument('--fp32', action='store_true',
                   help='full precision: on a GPU the default is half; on a CPU with native bf16 the default is '
                        'bf16 when a one-off check on real photo crops keeps it within a tolerance a viewer '
                        'cannot see (docs/export_infer.md)')
    p.add_argument('--fp16', action='store_true', help='half precision (GPU only; ignored with a warning on CPU)')
    p.add_argument('--device', default=None, help='cpu, gpu or gpu:N (default cpu)')
    p.add_argument('-g', '--gpu-id', type=int, default=None, help='GPU number, the same as --device gpu:N')
    p.add_argument('--threads', type=int, default=None, help='CPU math threads (default: all usable cores)')
    p.add_argument('--bf16', action='store_true',
                   help='force CPU bfloat16 on the OpenVINO engine, even when the model failed the bf16 check')
    p.add_argument('--engine', default='auto', choices=['auto', 'openvino', 'onednn'],
                   help='Paddle Inference engine on the CPU (infer.py): auto = OpenVINO for RRDBNet and '
                        'SRVGGNetCompact, else oneDNN')
    p.add_argument('-dn', '--denoise_strength', type=float, default=None,
                   help='0..1 denoise strength for realesr-general-x4v3 (zoo)')
    p.add_argument('--dni', nargs=2, default=None, metavar=('OTHER', 'W'),
                   help='network interpolation (DNI): run W x the model + (1 - W) x OTHER (weights file or zoo '
                        'name of the same architecture); W 1 = the model, 0 = OTHER. E.g. -m finetuned.pdparams '
                        '--dni realesrgan-x4plus 0.7. -dn S is --dni realesr-general-wdn-x4v3 S')
    p.add_argument('--block', '--num_block', dest='num_block', type=int, default=None,
                   help='RRDBNet blocks, for bare weights whose architecture is not stored')
    p.add_argument('--num_feat', type=int, default=None, help='num_feat override for bare weights')
    p.add_argument('--scale', type=int, default=None, help='network scale override for bare weights')
    p.add_argument('--crf', type=int_in(0, 51), default=18, help='x264 quality for video outputs (0-51, lower is better)')
    p.add_argument('--preset', default=None, choices=X264_PRESETS,
                   help='x264 preset for video outputs (default: veryfast with me=dia when the model runs on the CPU, '
                        'which leaves the cores to the model; medium on a GPU)')
    p.add_argument('--temporal', nargs='?', const='flow', default='flow', choices=('flow', 'static', 'off'),
                   help='video only, ON by default (flow): every output frame is blended with the previous one '
                        'where the input frames agree, so the texture a model invents holds still instead of '
                        'boiling (docs/temporal.md; no video network, no weights, any model). The model sees no '
                        'change; where the input changed (motion the flow cannot follow, new objects) the frame '
                        'is the model\'s own. flow follows motion found on the input frames; static blends only '
                        'where the input is still (cheaper). A scene cut (mean input change over 30 grey levels that '
                        'the flow does not explain), a fade of over 1.25x a frame and a change from a black frame '
                        'start afresh; a slower fade is followed by its brightness, a fast pan by the flow. Measured on cuts, pans, a zoom, fades, static and hand-held cameras with x4plus '
                        'and the compact model (docs/benchmarks.md): flicker lower, PSNR at most 0.05 dB under '
                        'plain on a whole clip (mostly above), 0.75-1.0x the detail, about 10 %% of the compact '
                        'model\'s time. off: each frame as the model draws it. --temporal alone is flow')
    add_segment_args(p)
    p.add_argument('--face_enhance', action=Unsupported,
                   reason='face restoration (GFPGAN) is not part of this project; upscale without it')
    add_quiet(p)
    return p


def add_segment_args(p):
    """Resumable segments and Ray (inference/video/segments/plan.py, docs/scale.md)."""
    p.add_argument('--segment_seconds', type=float, default=10.0, metavar='S',
                   help='videos: upscale in segments of about S seconds (cut at keyframes; a clip shorter than 3 S: '
                        'three shorter ones), each kept in OUTPUT.parts/ beside the output until the join, so that the '
                        'same command run again after a stop goes on from the first unfinished segment; 0: one pass, '
                        'nothing kept (default 10)')
    p.add_argument('--ray', default=None, metavar='auto|local|ADDRESS',
                   help='videos: run the segments as Ray tasks: local (a cluster on this machine), auto or the '
                        'address of a cluster started with `ray start --head` (pip install -r requirements-ray.txt)')
    p.add_argument('--workers', type=int, default=None, help='Ray workers (each loads the model once); default: '
                                                              'one per GPU, else one per CPU of the cluster')


def dni_kwargs(args):
    """``--dni OTHER W`` as the ``Upscaler`` arguments ``model=[m, OTHER], dni_weight=[W, 1 - W]``."""
    if not getattr(args, 'dni', None):
        return {}
    other, w = args.dni
    w = check_dni_weight(w, '--dni W')
    return {'model': [args.model_path or args.model_name, other], 'dni_weight': [w, 1.0 - w]}


def arch_overrides(args):
    """--block/--num_feat/--scale by their flag names: ``models.load_network`` maps each to the network's own
    key through its ArchSpec (``--scale`` is ``scale`` for RRDBNet, ``upscale`` for SRVGGNetCompact)."""
    over = {}
    if args.num_block is not None:
        over['num_block'] = args.num_block
    if args.num_feat is not None:
        over['num_feat'] = args.num_feat
    if args.scale is not None:
        over['scale'] = args.scale
    return over or None


def expand_inputs(spec):
    """IN -> list of files: a file, a folder (images and videos in it, sorted) or a glob pattern."""
    p = Path(spec)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and (is_image(f) or is_video(f)))
    if p.is_file():
        return [p]
    if any(ch in spec for ch in '*?['):
        return sorted(Path(f) for f in glob.glob(spec, recursive=True) if Path(f).is_file())
    return []


def output_path(src, args, single, video, img=None):
    out = Path(args.output)
    if single and out.suffix and not out.is_dir():
        return out
    suffix = f'_{args.suffix}' if args.suffix else ''
    if video:
        from realesrgan_paddle.inference.video.one_pass import output_container
        return out / f'{src.stem}{suffix}{output_container(src)}'
    ext = src.suffix.lower() if args.ext == 'auto' else '.' + args.ext
    if img is not None:
        if img.ndim == 3 and img.shape[2] == 4 and ext in NO_ALPHA_EXTS:
            ext = '.png'  # keep the alpha channel
        if img.dtype.itemsize == 2 and ext not in SIXTEEN_BIT_EXTS:
            ext = '.png'  # keep 16 bits
    if ext not in IMAGE_EXTS:
        ext = '.png'
    return out / f'{src.stem}{suffix}{ext}'


def plan_outputs(files, args):
    """Every input's planned output, checked before anything is written; raises OutputClash.

    Images whose alpha channel or 16 bits force a PNG get their final name only once read;
    ``run`` adds that name to the returned plan before writing it."""
    single = len(files) == 1
    out = Path(args.output)
    _check_name_length(out)
    if not single and out.exists() and not out.is_dir():
        raise OutputClash(f'refusing to write into {out}: it is a file, and {len(files)} inputs need a folder')
    check_file_name_output(out, files)
    planned = {src: output_path(src, args, single, is_video(src)) for src in files}
    for dst in planned.values():
        _check_name_length(dst)
    plan = check_no_clobber(files, [(dst, src) for src, dst in planned.items()])
    for folder in sorted({dst.parent for dst in planned.values()}):
        check_writable(folder)
        for tmp in remove_stale_temps(folder, recursive=False):  # left by a run killed while writing
            logging.getLogger('inference').info('removed %s, left by a run that was killed while writing', tmp)
    return planned, plan


def _check_name_length(path):
    """One line for a path with a part longer than a file name may be (``[Errno 36] File name too long`` and a
    traceback before)."""
    for part in Path(path).parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise OutputClash(f'cannot write {path}: the name {part[:40]}... is {len(os.fsencode(part))} bytes, more '
                              f'than the {NAME_MAX} a file name may have; give a shorter name')


# a job under this many LR megapixels (and no video) runs fp32 when no bf16 verdict is kept for the model: bf16
# would save about half of x4plus's fp32 time (500-650 s/MP on two busy cores), its one-time check costs 20-40 s
BF16_CHECK_MPIX = 0.25


def worth_a_bf16_check(files):
    """True when the job is large enough for bf16 to pay back its one-time check: a video, or images declaring
    ``BF16_CHECK_MPIX`` LR megapixels or more in all (read from their headers, stopping once there)."""
    total = 0.0
    for f in files:
        if is_video(f):
            return True
        try:
            size = declared_size_of(f, head=1 << 16)
        except ImageReadError:
            size = None  # it fails with its own line later
        total += size[0] * size[1] / 1e6 if size else 0.0
        if total >= BF16_CHECK_MPIX:
            return True
    return False


def check_file_name_output(out, files):
    """``-o single.png`` with several inputs would make a folder named ``single.png``: refused (one input, as
    a folder holding exactly one image, writes that file)."""
    if len(files) > 1 and not out.is_dir() and out.suffix.lower() in IMAGE_EXTS:
        raise OutputClash(f'refusing to write {len(files)} outputs into {out}: it names an image file, and '
                          f'{len(files)} inputs need a folder (-o a folder name, or one input)')


def _one_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@returns_status
def run(args, backend):
    """Run the tool; the ``inference`` logger (and ``models``: the zoo's warnings) writes to stderr meanwhile,
    between progress bars, never into them, and is left as it was found."""
    with log_lines(('inference', 'models', 'store')):
        return _run(args, backend)


def _run(args, backend):
    log = logging.getLogger('inference')
    files = expand_inputs(args.input)
    if not files:
        fail(None, f'{args.input}: no such file, or no images/videos in it')
    if not args.segment_seconds >= 0 or (args.workers is not None and args.workers < 1):
        fail(None, '--segment_seconds must be >= 0 and --workers >= 1')
    if args.ray:
        if find_spec('ray') is None:
            fail(None, '--ray needs the ray package, which is not installed: pip install -r requirements-ray.txt')
    if args.tile_pad < 0 or args.pre_pad < 0:
        fail(None, '--tile_pad and --pre_pad must be >= 0')
    if args.denoise_strength is not None:  # the zoo's check, as for --dni W
        try:
            check_dni_weight(args.denoise_strength, '-dn')
        except ValueError as e:
            fail(None, e)
    if any(c in args.suffix for c in '/\\') or any(ord(c) < 32 for c in args.suffix):
        fail(None, f'--suffix {args.suffix[:40]!r}: a suffix may not hold / or \\ or control characters '
                   '(outputs stay in the output folder)')
    try:
        check_outscale(args.outscale)
    except ValueError as e:
        fail(None, f'--{e}')
    try:
        planned, plan = plan_outputs(files, args)
    except OutputClash as e:
        fail(None, e)
    import_paddle_quietly()  # a no-op after main()'s setup(); needed when run() is called directly
    t0 = time.perf_counter()
    try:
        dni = dni_kwargs(args)  # model=[m, other], dni_weight=[w, 1 - w] with --dni
        up = Upscaler(dni.pop('model', args.model_path or args.model_name), device=args.device, tile=args.tile,
                      tile_pad=args.tile_pad, pre_pad=args.pre_pad, backend=backend, fp16=args.fp16, threads=args.threads,
                      alpha_upsampler=args.alpha_upsampler, outscale=args.outscale,
                      denoise_strength=args.denoise_strength, arch=arch_overrides(args), progress=not args.quiet,
                      engine=args.engine, precision='fp32' if args.fp32 else ('bf16' if args.bf16 else None),
                      max_memory=args.max_memory, bf16_check=worth_a_bf16_check(files), **dni)
    except Exception as e:  # bad model path/file/device: one line, no traceback
        fail(None, f'cannot set up the model: {_one_line(e)}')
    log.info('model %s (%s, x%d) on %s via %s%s, ready in %.1f s', up.model_path, up.arch.get('type'), up.scale,
             up.backend.kind, up.backend.name, f' ({up.backend.engine})' if hasattr(up.backend, 'engine') else '',
             time.perf_counter() - t0)
    single = len(files) == 1
    done, failed, mpix, busy = 0, 0, 0.0, 0.0
    done_log, todo = _resume_plan(args, up, files, single)
    bar = tqdm(todo, desc='files', unit='file', disable=(args.quiet or single) or None)
    stop = StopAfterCurrent(active=not single)
    with stop:
        for src in bar:
            runtime_env.raise_if_terminated()
            if stop.requested:
                break
            ok, mp, dt = _upscale_one(up, src, args, single, plan, planned, done_log)
            done, failed, mpix, busy = done + ok, failed + (not ok), mpix + mp, busy + dt
    spm = f'{busy / mpix:.2f} s/MP' if mpix else 'n/a s/MP'
    skipped = len(files) - len(todo)
    skip_note = f', {skipped} skipped (complete from an earlier run, same model and options)' if skipped else ''
    print(f'{done} done{skip_note}, {failed} failed, {spm} (input megapixels), {busy:.1f} s total', file=sys.stderr)
    if stop.requested:
        left = len(todo) - done - failed
        print(f'interrupted: {left} of {len(files)} files not started; the same command continues with them',
              file=sys.stderr)
        return 130
    return EXIT_FAILED if failed else EXIT_OK


def _resume_plan(args, up, files, single):
    """``(DoneLog or None, the files to upscale)``: a batch skips the outputs an earlier run of the same model and
    options finished (inference/done_log.py); one file is always upscaled."""
    if single:
        return None, files
    done_log = DoneLog(args.output, run_fingerprint(args, up))
    todo = [src for src in files if not done_log.complete(src)]
    if len(todo) < len(files):
        logging.getLogger('inference').info(
            'skipping %d of %d inputs: their outputs are complete from an earlier run with the same model and '
            'options (%s)', len(files) - len(todo), len(files), done_log.path)
    return done_log, todo


def _upscale_one(up, src, args, single, plan, planned, done_log):
    """One input of the batch: ``(ok, input megapixels, seconds)``; a failure is one line and the batch goes on."""
    t = time.perf_counter()
    try:
        if is_video(src):
            mp = _upscale_video_file(up, src, planned[src], args)
        else:
            mp = _upscale_image_file(up, src, args, single, plan, planned)
        if done_log is not None:
            done_log.add(src, planned[src])
        return True, mp, time.perf_counter() - t
    except MemoryError:
        write_line(f'failed: {src}: out of memory; use a smaller --max_memory or --tile', sys.stderr)
    except OutputMismatch as e:  # the model itself lies about its scale: every file would fail, so the run stops
        fail(None, f'cannot use the model: {_one_line(e)}')
    except Exception as e:  # unreadable, unwritable, a decoder, encoder or engine error: one line, the batch goes on
        msg = _one_line(e)  # most messages name the file already ("failed: X: X: ..." before)
        write_line(f'failed: {msg if str(src) in msg or str(planned[src]) in msg else f"{src}: {msg}"}', sys.stderr)
    return False, 0.0, 0.0


def _upscale_video_file(up, src, dst, args):
    """One video; returns the input megapixels that went through the model (repeated frames not counted)."""
    from realesrgan_paddle.inference.video.one_pass import VideoError
    try:
        res = up.upscale_video(src, dst, args.outscale, progress=not args.quiet, crf=args.crf, preset=args.preset,
                               segment_seconds=args.segment_seconds, ray=args.ray, workers=args.workers,
                               temporal=args.temporal)
    except VideoError as e:
        raise ValueError(str(e)) from None
    segs = f', {res["segments"]} segments, {res["reused"]} reused' if 'segments' in res else ''
    stab = (f', temporal {res["temporal_seconds"]:.1f} s against the model\'s {res["model_seconds"]:.1f} s'
            if res.get('temporal_seconds') and res.get('model_seconds') else '')
    tqdm.write(f'{src} -> {dst} ({res["frames"]} frames at {res["fps"]} fps, '
               f'{res.get("upscaled", res["frames"])} through the model{segs}{stab})', file=sys.stderr)
    return res.get('upscaled', res['frames']) * _src_mpix(probe_video(src))


def _upscale_image_file(up, src, args, single, plan, planned):
    """One image into ``planned[src]``; returns its megapixels. An alpha or 16-bit result becomes a PNG: its
    name is claimed in ``plan`` and put in ``planned``."""
    img = imread(src)
    dst = final = output_path(src, args, single, False, img)
    if final != planned[src]:
        planned[src] = dst = plan.add(final, src)
    out = up.upscale(img)
    try:
        imwrite(dst, out)
    except OSError as e:
        raise ImageWriteError(write_error(dst, e)) from None
    if args.tile == 'auto' and up.last_tile:
        tqdm.write(f'{src}: {_tile_note(up)}', file=sys.stderr)
    return img.shape[0] * img.shape[1] / 1e6


def _tile_note(up):
    """How ``--tile auto`` cut the last image, for one log line."""
    plan = up.last_plan
    if plan is None:
        return f'auto tile {up.last_tile} (from free memory)'
    return (f'auto tiles {plan.describe()}, about {format_bytes(plan.peak)} at the peak '
            f'(--max_memory {format_bytes(getattr(up, "last_budget", up.max_memory))})')


def _src_mpix(info):
    return info['width'] * info['height'] / 1e6


def main(argv, backend, prog, description, default_model_help):
    args = build_parser(prog, description, default_model_help).parse_args(argv)
    runtime_env.setup(threads=args.threads, reexec=True)
    try:
        runtime_env.interrupt_on_sigterm()
        return run(args, backend)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
