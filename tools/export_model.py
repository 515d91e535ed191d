"""Export a generator to the legacy static graph for Paddle Inference.

    python tools/export_model.py --model_path X.pdparams --save-inference-dir ./infer

Writes inference.pdmodel, inference.pdiparams (dynamic N/H/W input) and
model_info.json (arch, scale, mod, source, dtype). --model_path also takes a
.pth/.safetensors file or a zoo name; --block/--num_feat/--scale complete bare
weights whose architecture is not stored in the file.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('-m', '--model_path', '--model-path', default=None,
                   help='weights file or zoo name (default: realesrgan-x4plus)')
    p.add_argument('-o', '--save-inference-dir', '--save_inference_dir', '--model-dir', '--model_dir',
                   dest='out_dir', default='./infer', help='output directory')
    p.add_argument('--block', '--num_block', dest='num_block', type=int, default=None)
    p.add_argument('--num_feat', type=int, default=None)
    p.add_argument('--scale', type=int, default=None)
    p.add_argument('-dn', '--denoise_strength', type=float, default=None)
    p.add_argument('--check', type=int, default=64, help='check the export on a random NxN input (0: skip)')
    return p.parse_args(argv)


CHECK_RANGE = (8, 1024)  # --check input sizes that are safe and quick to run


def main(argv=None):
    args = parse_args(argv)
    if args.check and not CHECK_RANGE[0] <= args.check <= CHECK_RANGE[1]:
        print(f'error: --check must be 0 (skip) or between {CHECK_RANGE[0]} and {CHECK_RANGE[1]}, got {args.check}',
              file=sys.stderr)
        return 2
    from utils import runtime_env
    runtime_env.setup()
    import numpy as np

    import models
    from inference.export import export_static
    from inference.upscaler import resolve_model
    over = {k: v for k, v in (('num_block', args.num_block), ('num_feat', args.num_feat), ('scale', args.scale))
            if v is not None}
    try:
        path = resolve_model(args.model_path, args.denoise_strength)
        net, arch = models.load_network(path, arch=over or None)
    except Exception as e:  # user error: bad path or weights that do not fit
        print(f'error: cannot load the model: {e}', file=sys.stderr)
        return 2
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        print(f'error: {out} exists and is not a directory', file=sys.stderr)
        return 2
    from utils.outputs import OutputClash, check_no_clobber, write_error
    try:  # the weights may sit in the output folder under an export's name
        check_no_clobber([path], [out / n for n in ('inference.pdmodel', 'inference.pdiparams',
                                                    'inference.pdiparams.info', 'model_info.json')])
    except OutputClash as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    t = time.perf_counter()
    try:
        export_static(net, arch, out, source=path)
    except OSError as e:
        print(f'error: {write_error(out, e)}', file=sys.stderr)
        return 2
    print(f'exported {path} ({arch["type"]}, x{models.net_scale(arch)}) to {out} in {time.perf_counter() - t:.1f} s')
    if args.check:
        import paddle

        from inference.backends import PredictorBackend
        from inference.export import model_mod
        n = max(args.check // model_mod(arch), 1) * model_mod(arch)
        x = np.random.default_rng(0).random((1, int(arch.get('num_in_ch', 3)), n, n), dtype=np.float32)
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        pred = PredictorBackend(out)
        err = float(np.abs(pred.forward(x) - ref).max())
        print(f'check on a {n}x{n} input: predictor ({pred.engine} engine) vs dynamic graph max abs diff {err:.2e}')
        if err > 1e-3:
            print('error: the exported graph does not match the network', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
