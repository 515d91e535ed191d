"""Convert PyTorch Real-ESRGAN/ESRGAN checkpoints to Paddle ``.pdparams`` without torch.

    python tools/convert_torch.py --input RealESRGAN_x4plus.pth --output weights/x4plus.pdparams
    python tools/convert_torch.py --input old_esrgan/ --output converted/      # every checkpoint inside
    python tools/convert_torch.py --input RRDB_ESRGAN_x4.pth --block 23 --verify

Reads ``.pth`` (zip and legacy), ``.safetensors`` and ``.pdparams`` through the
restricted reader in ``utils.checkpoint`` (no code from the file runs), picks
``params_ema`` / ``params`` / a bare state dict, maps old key layouts, detects
the architecture and writes it into the output with the source name and
sha256. ``--verify`` compares against torch when it is installed.
Exit status: 0 ok, 1 verification above ``--tol``, 2 refused or bad input.
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from utils.cli import ArgumentParser  # noqa: E402  (standard library only)

from utils import runtime_env  # noqa: E402

runtime_env.setup(quiet=False)  # paddle is imported only once a file passed the safety checks


CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.safetensors')  # directory mode; a single .pdparams is accepted too
# the architecture flags; each network's ArchSpec says which of them apply and which key they set
ARCH_FLAGS = ('block', 'scale', 'num_feat', 'num_grow_ch', 'num_conv', 'num_in_ch', 'num_out_ch', 'act_type',
              'skip_connection')


class ConvertError(Exception):
    """A user-facing problem with one input file (printed as one line)."""


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--input', '-i', required=True, help='.pth/.safetensors/.pdparams file, or a directory of them')
    p.add_argument('--output', '-o', help='output .pdparams (or directory); default: beside the input')
    p.add_argument('--param_key', default='params_ema', help='state dict to take first (default params_ema, '
                   'then params, then a bare dict)')
    p.add_argument('--arch', help='network type (default: detected from the keys)')
    p.add_argument('--block', type=int, help='RRDBNet num_block (seed-style; checked against the weights)')
    p.add_argument('--scale', type=int, choices=(1, 2, 3, 4), help='upscale factor (RRDBNet scale / SRVGG upscale)')
    p.add_argument('--num_feat', type=int, help='feature channels (default: detected from the weights)')
    p.add_argument('--num_grow_ch', type=int, help='RRDBNet growth channels (default: detected)')
    p.add_argument('--num_conv', type=int, help='SRVGGNetCompact body convolutions (default: detected)')
    p.add_argument('--num_in_ch', type=int, help='input channels (default: detected)')
    p.add_argument('--num_out_ch', type=int, help='output channels (default: detected)')
    p.add_argument('--act_type', choices=('prelu', 'relu', 'leakyrelu'),
                   help='SRVGG activation; ReLU and LeakyReLU have no weights, so detection says relu')
    p.add_argument('--skip_connection', choices=('true', 'false'),
                   help='UNetDiscriminatorSN skip connections (not visible in weights; default true)')
    p.add_argument('--verify', action='store_true', help='compare with torch on a random input (needs torch)')
    p.add_argument('--tol', type=float, default=1e-4,
                   help='--verify accepts max abs diff / max(1, output peak) up to this (default 1e-4)')
    p.add_argument('--verify_size', type=int, default=32, help='random input height/width for --verify')
    return p.parse_args(argv)


def _overrides(args):
    out = {}
    for flag in ARCH_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            out[flag] = (value == 'true') if flag == 'skip_connection' else value
    return out


def resolve_arch(state, file_arch, net_type, overrides):
    """Detected (or stored) arch with the command-line flags applied and checked."""
    import models
    from models.detect import detect_arch
    if net_type and models.find_spec(net_type) is None:  # checked here: the parser runs before paddle loads
        raise ConvertError(f'--arch {net_type}: unknown network; known: {[s.name for s in models.all_specs()]}')
    try:
        arch = dict(file_arch) if file_arch else detect_arch(state)
    except ValueError as e:
        raise ConvertError(f'cannot detect the architecture: {e}') from None
    if net_type and arch['type'] != net_type:
        raise ConvertError(f'--arch {net_type} does not match the weights, which are {arch["type"]}')
    spec = models.get_spec(arch, where='arch')
    for flag, value in overrides.items():
        key = spec.key_for(flag)
        if key is None:
            raise ConvertError(f'--{flag} does not apply to {arch["type"]}')
        found = arch.get(key)
        free = spec.undetectable.get(key)
        if found is not None and found != value and not (free and found in free and value in free):
            raise ConvertError(f'--{flag} {value} does not match the weights ({key}={found} found)')
        arch[key] = value
    return arch


def check_fit(arch, state):
    """The weights fit the network ``arch`` describes: same names, same shapes."""
    import paddle

    import models
    try:
        if not models.get_spec(arch, where='arch').lazy_build:  # e.g. spectral_norm needs real weights
            net = models.build_network(arch, where='arch')
        else:
            with paddle.LazyGuard():  # shapes only, no random init of millions of weights
                net = models.build_network(arch, where='arch')
    except ValueError as e:
        raise ConvertError(str(e)) from None
    own = {k: tuple(int(d) for d in v.shape) for k, v in net.state_dict().items()}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ConvertError(f'the weights do not fit {arch["type"]}: missing {missing[:4]}'
                           f'{"..." if len(missing) > 4 else ""}, unexpected {unexpected[:4]}'
                           f'{"..." if len(unexpected) > 4 else ""}')
    for k, shape in own.items():
        if tuple(state[k].shape) != shape:
            raise ConvertError(f'{k} has shape {tuple(state[k].shape)}, {arch["type"]} expects {shape}')


def _float32(state):
    import numpy as np
    dtypes = sorted({str(v.dtype) for v in state.values()})
    out = {k: (v.astype(np.float32) if v.dtype.kind == 'f' and v.dtype != np.float32 else v)
           for k, v in state.items()}
    return out, dtypes


def convert_file(src, dst, args, log=print):
    """Convert one checkpoint; returns a dict of what happened. Raises ConvertError and friends."""
    from utils.checkpoint import load_state_file, pick_params, save_checkpoint, sha256_file

    src, dst = Path(src), Path(dst)
    if dst.exists() and dst.resolve() == src.resolve():
        raise ConvertError('the output would overwrite the input; pass another --output')
    t0 = time.perf_counter()
    raw = load_state_file(src)  # refuses unsafe pickles before paddle is even imported
    runtime_env.import_paddle_quietly()
    from models.detect import normalize_state_dict
    try:
        state, file_arch, used = pick_params(raw, args.param_key, with_key=True)
        state = normalize_state_dict(state)
    except ValueError as e:
        raise ConvertError(str(e)) from None
    arch = resolve_arch(state, file_arch, args.arch, _overrides(args))
    state, dtypes = _float32(state)
    check_fit(arch, state)
    meta = {'source': src.name, 'sha256': sha256_file(src), 'param_key': used, 'source_dtypes': dtypes,
            'converted_by': 'tools/convert_torch.py'}
    save_checkpoint(dst, params=state, arch=arch, meta=meta)
    seconds = time.perf_counter() - t0
    n_params = sum(int(v.size) for v in state.values())
    desc = ', '.join(f'{k}={v}' for k, v in arch.items() if k != 'type')
    log(f'{src} -> {dst}: {arch["type"]}({desc}), {n_params / 1e6:.2f}M values from '
        f'{used or "a bare state dict"}, {seconds:.1f} s')
    if not file_arch:
        _note_assumed(arch, _overrides(args), log)
    result = {'src': src, 'dst': dst, 'arch': arch, 'seconds': seconds, 'param_key': used}
    if args.verify:
        result['verify'] = verify(src, dst, arch, used, args, log)
    return result


def _note_assumed(arch, overrides, log):
    """One note per detected value the weights cannot show (e.g. SRVGG ReLU vs LeakyReLU)."""
    import models
    spec = models.get_spec(arch)
    for key, values in spec.undetectable.items():
        flag = spec.flag_for(key)
        if flag not in overrides and arch.get(key) in values:
            others = ', '.join(str(v).lower() for v in values if v != arch[key])
            log(f'  note: {key} is not visible in the weights; assumed {str(arch[key]).lower()} '
                f'(use --{flag} {others} if needed)')


def _torch_state(src, used):
    """The source weights as torch tensors: read by torch itself for .pth (weights_only, so no
    code runs), by the safe reader for .safetensors/.pdparams."""
    import numpy as np
    import torch
    if src.suffix in ('.safetensors', '.pdparams'):
        from utils.checkpoint import load_state_file
        raw = load_state_file(src)
        sub = raw[used] if used else raw
        return {k: torch.from_numpy(np.array(v)) for k, v in sub.items() if isinstance(v, np.ndarray)}
    raw = torch.load(src, map_location='cpu', weights_only=True)
    sub = raw[used] if used else raw
    return {k: v for k, v in sub.items() if isinstance(v, torch.Tensor)}


def verify(src, dst, arch, used, args, log=print):
    """Max abs diff between torch (reference net, original file) and paddle (converted file), relative to the peak."""
    try:
        import torch

        from models import torch_reference
    except ImportError:
        log('  verify: skipped (torch is not installed)')
        return None
    import numpy as np
    import paddle

    import models
    from models.detect import normalize_state_dict

    tstate = normalize_state_dict({k: v.float() for k, v in _torch_state(src, used).items()})
    try:
        tnet = torch_reference.load_reference(arch, tstate)
    except LookupError as e:
        log(f'  verify: skipped ({e})')
        return None
    channels = arch.get('num_in_ch', 3)
    size = args.verify_size
    x = np.random.default_rng(0).random((1, channels, size, size), dtype=np.float32)
    pnet, _ = models.load_network(dst)
    tout = torch_reference.reference_outputs(tnet, arch, x)
    with paddle.no_grad():
        pout = pnet(paddle.to_tensor(x))
    pout = {k: v.numpy() for k, v in (pout.items() if isinstance(pout, dict) else [('out', pout)])}
    diff = max(float(np.abs(tout[k] - pout[k]).max()) for k in tout)
    peak = max(float(np.abs(t).max()) for t in tout.values())
    rel = diff / max(1.0, peak)
    status = 'ok' if rel <= args.tol else f'ABOVE --tol {args.tol:g}'
    log(f'  verify: max abs diff {diff:.3g} (output peak {peak:.3g}, relative {rel:.3g}) on a random '
        f'1x{channels}x{size}x{size} input, torch {torch.__version__} vs paddle {paddle.__version__}: {status}')
    return rel


def _message(src, err):
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    prefix = f'{src}: '
    return text if text.startswith(prefix) else prefix + text


def _default_output(src, output):
    if output is None:
        if src.suffix == '.pdparams':
            raise ConvertError('the input is already .pdparams; pass --output')
        return src.with_suffix('.pdparams')
    out = Path(output)
    return out / f'{src.stem}.pdparams' if out.is_dir() else out


def main(argv=None):
    args = parse_args(argv)
    from utils.checkpoint import CheckpointFormatError, UnsafeCheckpointError
    expected = (ConvertError, UnsafeCheckpointError, CheckpointFormatError, ValueError, OSError, MemoryError)
    src = Path(args.input)
    if not src.exists():
        print(f'{src}: no such file or directory', file=sys.stderr)
        return 2
    if src.is_file():
        try:
            res = convert_file(src, _default_output(src, args.output), args)
        except expected as e:
            print(_message(src, e), file=sys.stderr)
            return 2
        return 1 if res.get('verify') is not None and res['verify'] > args.tol else 0

    from tqdm import tqdm
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    if not files:
        print(f'{src}: no checkpoints ({", ".join(CHECKPOINT_SUFFIXES)}) in this directory', file=sys.stderr)
        return 2
    out_dir = Path(args.output) if args.output else src
    if out_dir.exists() and not out_dir.is_dir():
        print(f'{out_dir}: --output must be a directory when --input is one', file=sys.stderr)
        return 2
    failed, above = [], []
    bar = tqdm(files, desc='convert', unit='file')
    for f in bar:
        bar.set_postfix_str(f.name)
        try:
            res = convert_file(f, out_dir / f'{f.stem}.pdparams', args, log=tqdm.write)
            if res.get('verify') is not None and res['verify'] > args.tol:
                above.append(f)
        except expected as e:
            tqdm.write(_message(f, e), file=sys.stderr)
            failed.append(f)
    print(f'converted {len(files) - len(failed)} of {len(files)} checkpoints into {out_dir}'
          + (f'; {len(failed)} failed' if failed else ''), file=sys.stderr if failed else sys.stdout)
    return 2 if failed else (1 if above else 0)


if __name__ == '__main__':
    sys.exit(main())
