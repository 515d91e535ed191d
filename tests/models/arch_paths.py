"""Shared checks of the architecture tests: a network's static export runs in the predictor at two sizes."""
import numpy as np


def assert_export_matches(net, arch, out_dir, shapes, atol=1e-4):
    """Export ``net`` (dynamic N, H, W) and check the predictor's output against the dynamic graph at ``shapes``
    (output exactly ``scale`` x input)."""
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import DynamicBackend, PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    out = export_static(net, arch, out_dir)
    pred, dyn, scale = PredictorBackend(out), DynamicBackend(net), models.net_scale(arch)
    rng = np.random.default_rng(3)
    for shape in shapes:
        x = rng.random(shape, dtype=np.float32)
        y = pred.forward(x)
        assert y.shape == (shape[0], shape[1], shape[2] * scale, shape[3] * scale)
        np.testing.assert_allclose(y, dyn.forward(x), atol=atol)


ENGINE_SCRIPT = r'''
import importlib, json, sys
import numpy as np
for job in json.load(open(sys.argv[1])):
    cls = getattr(importlib.import_module(job["module"]), job["cls"])
    np.save(job["output"], cls(gpuid=-1, **job["kwargs"]).process_cv2(np.load(job["input"])))
'''


def run_ncnn_engine(module, cls, plan, tmp):
    """Run a weight wheel's own ncnn engine on the CPU (``gpuid=-1``) in a subprocess, so that a machine whose
    Vulkan wrapper cannot load skips instead of failing. ``plan``: ``[(constructor kwargs, BGR uint8 image)]``;
    returns the engine's BGR outputs."""
    import json
    import subprocess
    import sys

    import pytest
    probe = subprocess.run([sys.executable, '-c', f'import {module}'], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f'the {module} wrapper cannot load here: ' + (probe.stderr.strip().splitlines() or ['?'])[-1])
    jobs = []
    for i, (kwargs, img) in enumerate(plan):
        np.save(tmp / f'in{i}.npy', img)
        jobs.append({'module': module, 'cls': cls, 'kwargs': kwargs, 'input': str(tmp / f'in{i}.npy'),
                     'output': str(tmp / f'out{i}.npy')})
    (tmp / 'jobs.json').write_text(json.dumps(jobs))
    run = subprocess.run([sys.executable, '-c', ENGINE_SCRIPT, str(tmp / 'jobs.json')], capture_output=True,
                         text=True, timeout=300)
    if run.returncode:
        pytest.skip(f'the ncnn engine failed on the CPU (rc {run.returncode}): '
                    + (run.stderr.strip().splitlines() or ['?'])[-1])
    return [np.load(tmp / f'out{i}.npy') for i in range(len(plan))]


def uint8_bgr(net, img_bgr):
    """``net`` (RGB [0, 1] NCHW in and out) on a BGR uint8 image, rounded to BGR uint8 as the engines do."""
    import paddle
    x = paddle.to_tensor(np.ascontiguousarray(img_bgr[..., ::-1].transpose(2, 0, 1)[None]).astype(np.float32) / 255)
    with paddle.no_grad():
        y = net(x).numpy()[0].transpose(1, 2, 0)[..., ::-1]
    return np.clip(np.round(y * 255), 0, 255).astype(np.uint8)


def train_two_steps(exp_root, network_g, scale):
    """``train.py`` on the tiny smoke recipe with ``network_g`` (a YAML flow mapping) at ``scale``, two
    iterations (forward, backward and optimizer steps of G and D); returns the saved generator's path."""
    import subprocess
    import sys

    from tests.training.smoke import SMOKE
    from tests.user_path import ROOT
    cmd = [sys.executable, 'train.py', '--yml_path', str(SMOKE), '-o', f'path.experiments_root={exp_root}',
           '-o', f'scale={scale}', '-o', f'network_g={network_g}', '-o', 'train.total_iter=2', '-o', 'val=null',
           '-o', 'datasets.val=null', '-o', 'logger.print_freq=1']
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'iter       2/2' in res.stdout + res.stderr
    saved = sorted(exp_root.glob('*/models/net_g_*2.pdparams'))
    assert saved, list(exp_root.rglob('*'))
    return saved[-1]


def convert_cli(argv):
    """``tools/convert_torch.py``'s ``main`` run in this process (loaded by its path, as a user runs it)."""
    import importlib.util

    from tests.user_path import ROOT
    spec = importlib.util.spec_from_file_location('convert_torch_cli', ROOT / 'tools' / 'convert_torch.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main([str(a) for a in argv])


def rgb_nchw(img_bgr):
    """A BGR uint8 image as an RGB NCHW float32 batch of one in [0, 1]."""
    return np.ascontiguousarray(img_bgr[..., ::-1].transpose(2, 0, 1)[None]).astype(np.float32) / 255


def forward_np(net, x):
    """``net`` on a numpy NCHW batch, no gradients; numpy out."""
    import paddle
    with paddle.no_grad():
        return net(paddle.to_tensor(x)).numpy()


def assert_sane_upscale(net, img_bgr, scale, detail_over_bicubic):
    """A real model on a real photo: downscaled back (area), the output is the input (> 30 dB), and it has more
    detail (Laplacian variance) than bicubic by ``detail_over_bicubic``."""
    import cv2

    from realesrgan_paddle.evaluation.metrics import psnr
    h, w = img_bgr.shape[:2]
    y = np.clip(forward_np(net, rgb_nchw(img_bgr))[0].transpose(1, 2, 0)[..., ::-1], 0, 1)
    assert y.shape == (h * scale, w * scale, 3)
    down = cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA)
    assert psnr(down * 255, img_bgr.astype(np.float32)) > 30
    bicubic = cv2.resize(img_bgr.astype(np.float32) / 255, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)

    def detail(a):
        return cv2.Laplacian(cv2.cvtColor(a.astype(np.float32), cv2.COLOR_BGR2GRAY), cv2.CV_32F).var()
    assert detail(y) > detail_over_bicubic * detail(bicubic)


def tool_status(name, argv):
    """``tools/<name>.py``'s ``main(argv)`` run in this process (loaded by its path, as a user runs it); its exit
    status (``fail`` raises SystemExit). The inference logger's handlers and level are put back afterwards."""
    import importlib.util
    import logging

    from tests.user_path import ROOT
    log = logging.getLogger('inference')
    before = (list(log.handlers), log.propagate, log.level)
    spec = importlib.util.spec_from_file_location(f'tool_{name}', ROOT / 'tools' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        rc = mod.main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    log.handlers[:], log.propagate = before[0], before[1]
    log.setLevel(before[2])
    return rc or 0
