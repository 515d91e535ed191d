"""Make reproducible low-quality copies of an HR folder (validation / paired finetune data).

    python make_lq_data.py --input HR_DIR --output LQ_DIR --scale 4 --seed S [--mode realesrgan|bicubic]

* ``realesrgan``: the training second-order degradation (``data.degrade.second_order``) with
  a per-image seed derived from ``--seed`` and the file's relative path, so a
  re-run, a resumed run or a run on a subset gives identical bytes.
* ``bicubic``: MATLAB-style antialiased bicubic downscaling.

Writes ``LQ_DIR/<rel>.png`` and ``LQ_DIR/<rel>.json`` (the sampled parameters),
both atomically; images whose JSON already exists are skipped (resumable). The JSON records the run's
settings (mode, scale, seed, the degradation options' hash): an output folder made with other settings is
refused with one line naming a file, instead of being silently kept as this run's output.
Unreadable inputs get one line each and a non-zero exit at the end.
"""
import hashlib
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from realesrgan_paddle.media.image_io import ImageReadError, imread
from realesrgan_paddle.utils import runtime_env  # noqa: E402  (standard library only, as the next two)
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    add_quiet, fail, folders_parser, returns_status)
from realesrgan_paddle.media.kinds import IMAGE_EXTS  # noqa: E402
from realesrgan_paddle.utils.fileio import atomic_write_bytes, atomic_write_text, require_regular_file
from realesrgan_paddle.utils.outputs import (OutputClash, check_folder_pair, check_no_clobber, check_writable,
                                             write_error)
from realesrgan_paddle.utils.yaml_bounded import safe_load_bounded


def image_seed(seed, rel):
    """64-bit seed from the run seed and the image's relative path."""
    h = hashlib.sha256(f'{int(seed)}:{rel}'.encode('utf-8')).digest()
    return int.from_bytes(h[:8], 'little') >> 1


def load_options(path):
    if not path:
        return None
    require_regular_file(path, ValueError)  # a FIFO or a device: one line, never opened
    try:
        with open(path, encoding='utf-8') as f:
            cfg = safe_load_bounded(f.read()) or {}
    except UnicodeDecodeError:
        raise ValueError(f'{path}: not a YAML text file (binary content)') from None
    except yaml.YAMLError as e:
        raise ValueError(f'{path}: not valid YAML ({str(e).splitlines()[0]})') from None
    if not isinstance(cfg, dict):
        raise ValueError(f'{path}: expected a mapping of options, got a {type(cfg).__name__}')
    return cfg.get('degradation', cfg)


def parse_args(argv=None):
    p = folders_parser(__doc__, 'folder of HR images (searched recursively)', 'folder for the LQ images and their JSON')
    p.add_argument('--scale', type=int, default=4, help='downscale factor (default 4)')
    p.add_argument('--seed', type=int, default=0, help='run seed (default 0)')
    p.add_argument('--mode', choices=('realesrgan', 'bicubic'), default='realesrgan',
                   help='realesrgan: the second-order degradation (default); bicubic: plain bicubic downscaling')
    p.add_argument('--opt', help='YAML with degradation options (a `degradation:` section or a flat mapping)')
    add_quiet(p)
    return p.parse_args(argv)


@returns_status
def main(argv=None):
    args = parse_args(argv)
    inp, out = Path(args.input), Path(args.output)
    if not inp.is_dir():
        fail(None, f'input folder not found: {inp}')
    if args.scale < 1:
        fail(None, f'--scale must be >= 1, got {args.scale}')
    try:
        check_folder_pair(inp, out, '--input', '--output')
    except OutputClash as e:
        fail(None, e)
    runtime_env.setup()  # the CPU settings, before paddle loads

    from realesrgan_paddle.data.degrade.second_order import resolve_options

    try:
        opt = resolve_options(load_options(args.opt))
    except (OSError, ValueError) as e:
        fail(None, f'bad --opt: {e}')
    files = sorted(p for p in inp.rglob('*') if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        fail(None, f'no images ({", ".join(IMAGE_EXTS)}) in {inp}')
    stems = [p.relative_to(inp).with_suffix('').as_posix() for p in files]
    clash = {s for s in stems if stems.count(s) > 1}
    targets = {}
    for path in files:
        rel = path.relative_to(inp).as_posix()
        # a.png and a.jpg side by side would write the same a.png: keep the extension then
        dst = out / (rel + '.png' if Path(rel).with_suffix('').as_posix() in clash else Path(rel).with_suffix('.png'))
        targets[path] = (rel, dst, dst.with_suffix('.json'))
    try:
        check_no_clobber(files, [(o, p) for p, (_, dst, meta) in targets.items() for o in (dst, meta)])
        check_writable(out)
    except OutputClash as e:
        fail(None, e)
    settings = run_settings(args, opt)
    stale = next((r for r in (_stale(meta, settings) for _, dst, meta in targets.values() if dst.is_file())
                  if r), None)
    if stale:
        fail(None, f'{stale}; use a new --output folder, or delete the old LQ files')
    done = skipped = 0
    failed = []
    for path in tqdm(files, desc=f'LQ x{args.scale} ({args.mode})', unit='img', disable=True if args.quiet else None):
        rel, dst, meta = targets[path]
        if meta.is_file() and dst.is_file():
            skipped += 1
            continue
        try:
            lq, params = _make_lq(path, rel, args, opt)
            params['settings'] = settings
        except (ImageReadError, ValueError) as e:
            tqdm.write(f'failed: {e}, skipped', file=sys.stderr)
            failed.append(rel)
            continue
        except MemoryError:
            tqdm.write(f'failed: {path}: out of memory, skipped', file=sys.stderr)
            failed.append(rel)
            continue
        except Exception as e:  # a decoder or degradation error on this file: one line, the others go on
            tqdm.write(f'failed: {path}: {_first_line(e)}, skipped', file=sys.stderr)
            failed.append(rel)
            continue
        try:
            atomic_write_bytes(dst, _encode_png(lq, path))
            atomic_write_text(meta, json.dumps(params, indent=1, sort_keys=True) + '\n')
        except OSError as e:  # the output folder is read-only, full...: nothing else will succeed either
            fail(None, write_error(dst, e), 1)
        done += 1
    print(f'{done} written, {skipped} already done, {len(failed)} failed -> {out}')
    return 1 if failed else 0


def run_settings(args, opt):
    """What decides an LQ file's bytes besides its HR image: mode, scale, seed and (second-order) the options."""
    s = {'mode': args.mode, 'scale': int(args.scale), 'seed': int(args.seed)}
    if args.mode == 'realesrgan':
        text = json.dumps(opt, sort_keys=True, default=str)
        s['options_sha256'] = hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]
    return s


def _stale(meta, settings):
    """Why the LQ file beside ``meta`` was made with other settings than ``settings``, or None (no JSON yet, or
    the same settings; a JSON from before settings were recorded is compared on mode, scale and seed)."""
    try:
        rec = json.loads(meta.read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None  # no or unreadable JSON: the image is made again
    if not isinstance(rec, dict):
        return None
    old = rec.get('settings') or {'mode': rec.get('mode'), 'scale': rec.get('scale', settings['scale']),
                                  'seed': rec.get('run_seed')}
    for key, new in settings.items():
        if key in old and old[key] != new:
            what = 'degradation options' if key == 'options_sha256' else key
            shown = '' if key == 'options_sha256' else f' ({old[key]}, not {new})'
            return f'{meta} was made with other settings: another {what}{shown}'
    return None


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _encode_png(lq, path):
    ok, buf = cv2.imencode('.png', lq)
    if not ok:
        raise ValueError(f'{path}: PNG encoding failed')
    return buf.tobytes()


def _make_lq(path, rel, args, opt):
    """Read one HR image and make its LQ image and parameters; ValueError (one line) for a bad file."""
    from realesrgan_paddle.data.degrade.second_order import degrade_image
    from realesrgan_paddle.data.degrade.resize import imresize_bicubic
    img = imread(path)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(img.reshape(img.shape[0], img.shape[1]), cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    if h < args.scale or w < args.scale:
        raise ValueError(f'{path}: {w}x{h} is smaller than the scale {args.scale}')
    if args.mode == 'bicubic':
        lq = imresize_bicubic(img, size=(h // args.scale, w // args.scale))
        if lq.dtype == np.uint16:  # LQ files are 8-bit
            lq = np.rint(lq.astype(np.float32) / 257.0).astype(np.uint8)
        params = {'mode': 'bicubic', 'scale': args.scale, 'hr_size': [h, w], 'lq_size': list(lq.shape[:2])}
    else:
        lq, params = degrade_image(img, opt, args.scale, image_seed(args.seed, rel))
        params = {'mode': 'realesrgan', **params}
    params.update({'source': rel, 'run_seed': args.seed})
    return lq, params


if __name__ == '__main__':
    sys.exit(main())
