#!/usr/bin/env python
"""The ONNX export's constant folding (``inference.export.onnx_export.fold_constants_file``) with ONNX's own shape
inference between Polygraphy's passes, against Polygraphy's default, which tries onnxruntime's symbolic shape
inference first (what paddle2onnx 2.1 ran): seconds on the same raw graph (paddle2onnx's output, unfolded),
alternating, the node counts before and after, and whether the two folded graphs run to the same output.

    python benchmarks/onnx_fold.py                            # the tiny DCTLSA and GRL of the tests
    python benchmarks/onnx_fold.py --models DAT_light_x4      # a zoo name or a weights file (real sizes)
"""
import argparse
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401  (the clone first on sys.path: benchmarks/_bootstrap.py)


# the tests' tiny configs of the two window networks with the largest graphs (tests/models/tiny_archs.py)
TINY = {'DCTLSA': {'type': 'DCTLSA', 'nf': 5, 'num_head': 5, 'upscale': 2},
        'GRL': {'type': 'GRL', 'upscale': 2, 'embed_dim': 8, 'depths': [3], 'num_heads_window': [1],
                'num_heads_stripe': [1], 'window_size': 4, 'stripe_size': [4, 8], 'anchor_window_down_factor': 2,
                'mlp_ratio': 2.0}}


def raw_graph(name, folder):
    """paddle2onnx's unfolded graph of ``name`` (a tiny test config's family, a zoo name or a weights file)."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.inference.export import onnx_export as oe
    from realesrgan_paddle.inference.upscaler import resolve_model
    if name in TINY:
        paddle.seed(0)
        arch = TINY[name]
        net = models.build_network(arch)
    else:
        net, arch = models.load_network(resolve_model(name))
    net.eval()
    kept = oe.fold_constants_file
    oe.fold_constants_file = lambda path: path  # the export without its folding: the raw graph
    try:
        return oe.export_onnx(net, arch, Path(folder) / f'{Path(name).stem}.onnx'), arch
    finally:
        oe.fold_constants_file = kept


def fold_once(model, symbolic):
    import onnx
    from polygraphy.backend.onnx import fold_constants
    t = time.perf_counter()
    folded = fold_constants(onnx.load_model_from_string(model.SerializeToString()),
                            allow_onnxruntime_shape_inference=symbolic)
    return time.perf_counter() - t, folded


def run_both(model, h, w):
    """{label: (seconds, nodes after, output)} for both foldings on an h x w input."""
    import numpy as np
    import onnxruntime as ort
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    out = {}
    for label, symbolic in (('onnx shape inference (now)', False), ('onnxruntime symbolic (before)', True)):
        sec, folded = fold_once(model, symbolic)
        sess = ort.InferenceSession(folded.SerializeToString(), providers=['CPUExecutionProvider'])
        out[label] = (sec, len(folded.graph.node), sess.run(None, {sess.get_inputs()[0].name: x})[0])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', nargs='+', default=['DCTLSA', 'GRL'])
    p.add_argument('--size', type=int, nargs=2, default=[32, 48], metavar=('H', 'W'))
    args = p.parse_args(argv)
    import numpy as np
    import onnx

    from realesrgan_paddle.models import pad_multiple
    print('| model | nodes raw | folding | s | nodes folded | x faster | max abs diff of outputs |')
    print('|---|---|---|---|---|---|---|')
    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            path, arch = raw_graph(name, tmp)
            model = onnx.load(str(path))
        mod = pad_multiple(arch)
        h, w = (max(mod, s // mod * mod) for s in args.size)
        res = run_both(model, h, w)
        (now, before) = res.values()
        diff = float(np.abs(now[2] - before[2]).max())
        for label, (sec, nodes, _) in res.items():
            ratio = f'{before[0] / now[0]:.1f}' if label.endswith('(now)') else '1.0'
            print(f'| {name} | {len(model.graph.node)} | {label} | {sec:.1f} | {nodes} | {ratio} | {diff:.2e} |',
                  flush=True)


if __name__ == '__main__':
    main()
