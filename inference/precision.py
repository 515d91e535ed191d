"""Which precision the predictor runs by default: bf16 where the CPU has it and the model keeps its quality.

On a CPU with native bfloat16 (``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo)
whose network runs on the OpenVINO engine, ``Upscaler`` and ``tools/infer.py``
run bf16 unless fp32 is asked for. The first time an export is used that way on
a machine, ``inference/bf16_check.py`` runs it in bf16 and fp32 on real photo
crops and judges the difference against a tolerance a viewer cannot see. The
verdict is said in one line at that moment and kept in ``_precision/`` beside
the export (under the user cache when the export is read-only); later runs read
it and say nothing. A verdict holds for one machine and setup: its file is
named by the CPU (model name and flags), the Paddle version and the check's
revision, tolerance and evidence files, and it stores the export's content
hash, so a changed model is checked again. CPUs without native bf16 run fp32
without a word.
"""
import hashlib
import json
import logging
from pathlib import Path

from realesrgan_paddle.utils.fileio import atomic_write_text, sha256_file

from . import bf16_check
from .cpu_features import facts as cpu_facts, native_bf16  # noqa: F401 (native_bf16: the API's)
from .export.paddle_export import Export, open_export

log = logging.getLogger('inference')

VERDICT_PREFIX = 'bf16_verdict-'
MODEL_FILES = ('inference.pdmodel', 'inference.pdiparams')


def tolerance():
    """The bf16 check's tolerance as data (kept in every verdict, and part of its cache key)."""
    c = bf16_check
    return {'rev': c.CHECK_REV, 'min_psnr': c.MIN_PSNR, 'max_flat_jnd': c.MAX_FLAT_JND, 'flat_win': c.FLAT_WIN,
            'flat_std': c.FLAT_STD, 'jnd_win': c.JND_WIN}


def machine_key(cpu=None):
    """What a verdict depends on besides the model: CPU, Paddle (and its OpenVINO), the check itself. ``cpu``:
    ``cpu_features.facts()`` when the caller has read them."""
    import paddle
    name, flags = (cpu or cpu_facts())[:2]
    h = hashlib.sha256()
    evidence = bf16_check.EVIDENCE_DIR  # the files bf16_check.evidence_files() lists
    for f in sorted(evidence.glob('*.png')) if evidence.is_dir() else []:
        h.update(f.name.encode() + f.read_bytes())
    parts = {'cpu': name, 'flags': ' '.join(sorted(flags)), 'paddle': paddle.__version__,
             'check': tolerance(), 'evidence': h.hexdigest()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _verdict_path(export, cpu=None):
    """The verdict file in the export's ``_precision/`` (created), or None when it cannot be made."""
    d = export.side_base / '_precision'
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d / f'{VERDICT_PREFIX}{machine_key(cpu)}.json'


def _file_stats(infer_dir):
    return {n: [(Path(infer_dir) / n).stat().st_size, (Path(infer_dir) / n).stat().st_mtime_ns] for n in MODEL_FILES}


def _content_hash(infer_dir):
    return hashlib.sha256(''.join(sha256_file(Path(infer_dir) / n) for n in MODEL_FILES).encode()).hexdigest()


def _read(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path, rec):
    try:
        atomic_write_text(path, json.dumps(rec, indent=1))
    except OSError as e:
        log.debug('could not keep the bf16 verdict: %s', e)


def stored_verdict(export, cpu=None):
    """The kept verdict for this export (an ``Export``) on this machine (``cpu``: ``cpu_features.facts()``, read
    when None), or None (none yet, or the model changed).

    Same file sizes and times as when it was measured: trusted as is. Otherwise the content hash decides
    (a copied or re-saved identical export keeps its verdict, with the new times written back).
    """
    export = export if isinstance(export, Export) else open_export(export)
    path, infer_dir = _verdict_path(export, cpu), export.dir
    rec = _read(path) if path is not None and path.is_file() else None
    if not rec or 'bf16' not in rec:
        return None
    stats = _file_stats(infer_dir)
    if rec.get('files') == stats:
        return rec
    if rec.get('sha256') != _content_hash(infer_dir):
        return None
    rec['files'] = stats
    _write(path, rec)
    return rec


def decide(export, threads=None, progress=False, cpu=None):
    """Run the bf16 check on the export (an ``Export``), say the verdict in one line, keep it; returns the
    record."""
    export = export if isinstance(export, Export) else open_export(export)
    infer_dir = export.dir
    files = bf16_check.evidence_files()
    if not files:
        log.warning('no bf16 check crops in %s: running fp32', bf16_check.EVIDENCE_DIR)
        return {'bf16': False}
    try:
        res = bf16_check.run(infer_dir, threads, progress, files)
    except Exception as e:  # the OpenVINO engine cannot build or run this graph in bf16
        log.debug('bf16 does not run for %s: %s', infer_dir, e)
        res = {'ran_bf16': False, 'ok': False, 'crops': [], 'error': str(e).splitlines()[0][:200] if str(e) else ''}
    rec = dict(res, bf16=bool(res['ok']), sha256=_content_hash(infer_dir), files=_file_stats(infer_dir),
               tolerance=tolerance())
    path = _verdict_path(export, cpu)
    if path is not None:
        _write(path, rec)
    _say(rec, path)
    return rec


def _say(rec, path):
    """The one line of a new verdict."""
    where = f' (kept in {path.parent})' if path is not None else ''
    if not rec['ran_bf16']:
        log.info('bf16 does not run for this model here: running fp32%s', where)
        return
    crops = rec['crops']
    worst = min(crops, key=lambda c: c['psnr'])
    flat = max(c['flat_jnd'] for c in crops)
    measured = (f'{len(crops)} real crops, worst {worst["psnr"]:.1f} dB and {flat:.2f} JND in flat regions '
                f'(tolerance >= {bf16_check.MIN_PSNR:.0f} dB, <= {bf16_check.MAX_FLAT_JND:g} JND)')
    if rec['bf16']:
        log.info('bf16 checked against fp32 on %s: running bf16, --fp32 for full precision%s', measured, where)
    else:
        log.warning('bf16 misses the tolerance on %s: running fp32, --bf16 forces it%s', measured, where)


def choose(precision, infer_dir, device='cpu', threads=None, engine='auto', fp16=False, progress=False, cpu=None,
           check=True):
    """The precision to run: ``precision`` when given; by default bf16 where it is native and checked safe.

    ``precision``: None (default: decide), 'fp32', 'fp16' or 'bf16'. ``fp16`` (GPU half precision) asked
    for keeps the old meaning of None. ``progress``: a transient bar while a check runs (terminal only).
    ``cpu``: ``cpu_features.facts()`` when the caller has read them (else read here). ``check``: False when no
    verdict is kept yet runs fp32 without checking (a small job: ``inference.upscale_cli.BF16_CHECK_MPIX``), and
    says so.
    """
    if precision is not None or fp16:
        return precision
    if str(device or 'cpu').lower() != 'cpu':
        return 'fp32'
    cpu = cpu or cpu_facts()
    if not cpu[2]:
        return 'fp32'
    export = infer_dir if isinstance(infer_dir, Export) else open_export(infer_dir)
    if (export.cpu_engine if engine == 'auto' else engine) != 'openvino':  # bf16 runs on OpenVINO only
        return 'fp32'
    rec = stored_verdict(export, cpu)
    if rec is not None:
        log.debug('bf16 verdict for %s (kept): %s', export.dir, 'bf16' if rec['bf16'] else 'fp32')
    elif not check:
        log.info('bf16 not checked yet for this model here: a job this small runs fp32 (a larger one, or a '
                 'video, checks it once)')
        return 'fp32'
    else:
        rec = decide(export, threads, progress, cpu)
    return 'bf16' if rec['bf16'] else 'fp32'
