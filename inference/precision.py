"""Which precision the predictor runs by default: bf16 where the CPU has it and the model keeps its quality.

On a CPU with native bfloat16 (``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo)
whose network runs on the OpenVINO engine, ``Upscaler`` and ``tools/infer.py``
run bf16 unless fp32 is asked for. The first time an export is used that way on
a machine, ``inference/bf16_check.py`` runs it in bf16 and fp32 on real photo
crops and judges the difference against a tolerance a viewer cannot see. The
verdict is said in one line at that moment and kept in the store (kind ``bf16``);
later runs read it and say nothing. A verdict holds for one machine and setup: its
entry is keyed by the export and by the CPU (model name and flags), the Paddle
version and the check's revision, tolerance and evidence files, and its record says
what export files it was made from, so a changed model is checked again. CPUs
without native bf16 run fp32 without a word.
"""
import hashlib
import json
import logging

from realesrgan_paddle import store

from . import bf16_check
from .cpu_features import facts as cpu_facts, native_bf16  # noqa: F401 (native_bf16: the API's)
from .export.paddle_export import Export, open_export

log = logging.getLogger('inference')

VERDICT = 'verdict.json'


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


def _verdict_key(export, cpu=None):
    """The verdict's entry in the store: the export's side key and the machine's."""
    return f'{export.key}-{machine_key(cpu)}'


def _facts(export):
    return {'made_from': export.made_from, 'revision': tolerance()}


def stored_verdict(export, cpu=None):
    """The kept verdict for this export (an ``Export``) on this machine (``cpu``: ``cpu_features.facts()``, read
    when None), or None (none yet, or the model changed: the store's entry was made from other files)."""
    export = export if isinstance(export, Export) else open_export(export)
    entry = store.open('bf16', _verdict_key(export, cpu), _facts(export), export.store_root)
    if entry is None:
        return None
    try:
        rec = json.loads(entry.path(VERDICT).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and 'bf16' in rec else None


def _keep(export, rec, cpu):
    """Keep the verdict ``rec`` in the store; the entry's folder, or None when it cannot be written."""
    try:
        return store.write('bf16', _verdict_key(export, cpu), {VERDICT: json.dumps(rec, indent=1).encode()},
                           _facts(export), export.store_root).dir
    except OSError as e:
        log.debug('could not keep the bf16 verdict: %s', e)
        return None


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
    rec = dict(res, bf16=bool(res['ok']), tolerance=tolerance())
    _say(rec, _keep(export, rec, cpu))
    return rec


def _say(rec, folder):
    """The one line of a new verdict (``folder``: where it is kept, or None)."""
    where = f' (kept in {folder})' if folder is not None else ''
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
