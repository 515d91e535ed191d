"""Move a compact (SRVGGNetCompact) model to the other skip without changing what it computes.

    python tools/refit_skip.py --model realesr-animevideov3 --output weights/animevideov3_bilinear.pdparams
    python tools/finetune_domain.py --videos footage/ --base weights/animevideov3_bilinear.pdparams --work runs/x

The official compact networks add the input repeated in 4x4 cells (``skip: nearest``) and their body cancels
the cell edges. The compact CPU template builds the network with ``skip: bilinear`` and loads the official
weights as they are: the body's cancelling then draws a faint mesh (25-31 dB from the official output), and
the finetune starts from it. This tool refits the last conv (``models/skip_refit.py``) so that the written
file, whose ``arch`` names the new skip, computes what the original computed (44-50 dB on real photos); as
``--base`` it starts the finetune from the official model's own output. Measured in docs/experiments/gan_cpu.md ("The base
refitted for the bilinear skip"): no mesh, PSNR and SSIM higher, but a fine grain that NIQE scores worse.

Exit status: 0 ok, 2 refused or bad input.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.checkpoint_io.state_file import (  # noqa: E402
    CheckpointFormatError, UnsafeCheckpointError, save_checkpoint)
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, add_output, fail, returns_status)
from realesrgan_paddle.utils import runtime_env  # noqa: E402
from realesrgan_paddle.utils.outputs import OutputClash, check_no_clobber, check_writable  # noqa: E402

runtime_env.setup(quiet=False)

SKIPS = ('nearest', 'bilinear')  # models.archs.compact.srvgg.SKIPS; kept here so that --help needs no paddle


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', required=True, help='a compact model: a zoo name (realesr-animevideov3, '
                   'realesr-general-x4v3) or a weights file (.pdparams, .pth, .safetensors)')
    p.add_argument('--skip', default='bilinear', choices=SKIPS, help='the skip to move to (default bilinear)')
    add_output(p, 'the .pdparams file to write (never the input)', required=True)
    return p.parse_args(argv)


def refit_file(model, path, skip, output):
    """Write ``model`` (its weights file ``path``) refitted for ``skip`` to ``output``; return the refit's report.
    ValueError (one line) for a model that is not a compact network or already has that skip."""
    from realesrgan_paddle.models import read_checkpoint, skip_refit
    state, arch = read_checkpoint(path)
    if arch.get('type') != 'SRVGGNetCompact':
        raise ValueError(f'{model}: a {arch.get("type")}, not an SRVGGNetCompact: only the compact networks have a '
                         f'skip to move')
    if arch.get('skip', 'nearest') == skip:
        raise ValueError(f'{model}: already has the {skip} skip')
    new, report = skip_refit.refit_skip(state, arch, skip)
    save_checkpoint(output, params=new, arch={**arch, 'skip': skip},
                    meta={'source': f'{model} with its last conv refitted for the {skip} skip (tools/refit_skip.py)',
                          'refit': report})
    return report


@returns_status
def main(argv=None):
    args = parse_args(argv)
    runtime_env.import_paddle_quietly()  # without Paddle's import-time ccache warning
    from realesrgan_paddle.models.zoo import resolve
    out = Path(args.output)
    if out.suffix != '.pdparams':
        fail(None, f'{out}: --output must be a .pdparams file')
    try:
        check_writable(out.parent)
    except OutputClash as e:
        fail(None, str(e))
    try:
        path = Path(resolve(args.model))  # a file as it is; a zoo name: the cached (or fetched) weights
        check_no_clobber([path], [(out, path)])
        rep = refit_file(args.model, path, args.skip, out)
    except (UnsafeCheckpointError, CheckpointFormatError, ValueError, OSError) as e:
        fail(None, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    print(f'wrote {out}: {args.model} with the {args.skip} skip; its output is {rep["psnr_min"]:.1f} dB PSNR from '
          f"the original's at worst on {rep['images']} calibration crops")
    return 0


if __name__ == '__main__':
    sys.exit(main())
