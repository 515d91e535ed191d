"""Every tool that loads checkpoints answers a malformed one with one stderr line naming it and exit 2.

The tools run as subprocesses (a native crash would show as exit 139 here), a few at a time."""
import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('crafted_checkpoints',
                                               Path(__file__).with_name('crafted_checkpoints.py'))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)


def _malformed(d):
    """name -> a malformed checkpoint (all named .pth: the reader goes by content, not by suffix)."""
    files = {
        'oob': cc.make_oob_pdparams(d / 'oob.pth'),
        'method99': cc.patch_zip_headers(cc.make_good_zip(d / 'method99.pth'), method=99),
        'encrypted': cc.patch_zip_headers(cc.make_good_zip(d / 'encrypted.pth'), flags_or=1),
        'v3': cc.make_v3_object_dtype(d / 'v3.pth'),
        'stride0': cc.make_stride0_zip(d / 'stride0.pth'),
    }
    (d / 'deep.pth').write_bytes(cc.nested_lists_pickle(100_000))
    (d / 'inf.pth').write_bytes(cc.safetensors_bytes(
        b'{"a": {"dtype": "F32", "shape": [Infinity], "data_offsets": [0, 4]}}', b'\0' * 4))
    files.update(deep=d / 'deep.pth', inf=d / 'inf.pth')
    return files


def _run(args, timeout=300):
    res = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return res.returncode, res.stderr


def _check(outcome, bad):
    code, err = outcome
    lines = [line for line in err.splitlines() if line.strip() and ' INFO ' not in line]  # train.py logs its setup
    problems = []
    if code != 2:
        problems.append(f'exit {code}')
    if 'Traceback' in err or len(lines) != 1 or str(bad) not in lines[0]:
        problems.append(f'stderr {err[-600:]!r}')
    return problems


def test_every_checkpoint_tool_answers_a_malformed_file_with_one_line(tmp_path):
    files = _malformed(tmp_path)
    img, out = ROOT / 'assets' / 'example_lq.png', tmp_path / 'out'
    jobs = {f'convert_torch {name}': (['tools/convert_torch.py', '--input', p, '--output', out / f'{name}.pdparams'], p)
            for name, p in files.items()}
    for name in ('oob', 'method99'):
        p = files[name]
        jobs[f'predict {name}'] = (['tools/predict.py', '-i', img, '-o', out, '--model_path', p], p)
    p = files['oob']
    jobs['infer oob'] = (['tools/infer.py', '-i', img, '-o', out, '--model_path', p], p)
    jobs['export_model oob'] = (['tools/export_model.py', '--model_path', p, '-o', out / 'export'], p)
    jobs['train oob'] = (['train.py', '--yml_path', 'options/tiny_smoke.yml', '-o', f'path.pretrain_network_g={p}',
                          '-o', f'path.experiments_root={out / "exp"}'], p)
    with ThreadPoolExecutor(3) as pool:
        outcomes = dict(zip(jobs, pool.map(lambda job: _run(job[0]), jobs.values())))
    failures = {name: _check(outcomes[name], jobs[name][1]) for name in jobs}
    failures = {k: v for k, v in failures.items() if v}
    assert not failures, failures
    assert not any(out.glob('*.pdparams')) and not (out / 'export').exists()
