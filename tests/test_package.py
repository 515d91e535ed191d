"""``pip install .`` into a fresh venv, then, from another folder: ``import realesrgan_paddle`` and an
``Upscaler`` on a tiny model built with the installed package, ``realesrgan-paddle infer --help`` and
``realesrgan-paddle infer`` on a real photo, and site-packages holds ``realesrgan_paddle`` alone: no top-level
``utils``, ``models``, ``data`` or any other room (docs/DESIGN.md, "One package").

The inner venv is made from the interpreter running the tests and sees that interpreter's own packages (a .pth
file: Paddle is not installed again), whether it is a venv or the system Python; ``--system-site-packages`` would
see the base interpreter's instead, without Paddle. pip installs with ``--no-deps``, offline with
``--no-build-isolation`` when the running packages can build a wheel (setuptools >= 70.1, or >= 64 with ``wheel``;
a fresh venv's bundled setuptools cannot), else with build isolation from the index. The clone is copied first; the
build leaves no ``build/`` or ``.egg-info`` in it."""
import importlib.metadata
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap

import cv2
import pytest

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
    # a .pth line that starts with 'import' runs: addsitedir also reads the running environment's own .pth files
    with open(os.path.join(inner, RUNNING_ENV_PTH), 'w') as f:
        f.write(''.join(f'import site; site.addsitedir({d!r})\n' for d in dict.fromkeys(dirs)))
    return src, py


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


@pytest.mark.slow
def test_pip_install_gives_the_package_and_the_command(tmp_path, hr_photos):
    src, py = _venv(tmp_path)
    env = _env(tmp_path)
    _pip_install(py, tmp_path, env, str(src))
    purelib = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    installed = {p.split('-')[0] for p in os.listdir(purelib) if p not in ('__pycache__', RUNNING_ENV_PTH)}
    assert installed == {'realesrgan_paddle'}, installed  # the package and its dist-info, nothing top-level
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

    cmd = str(py.parent / 'realesrgan-paddle')
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


EDITABLE = textwrap.dedent('''
    import importlib, importlib.util, sys
    import realesrgan_paddle, realesrgan_paddle.utils as ours
    mine = importlib.import_module('utils')  # the user's own
    from realesrgan_paddle import Upscaler, finetune, train  # the lazy API resolves
    print(realesrgan_paddle.__file__, ours.__file__, mine.MINE,
          ','.join(n for n in {rooms!r} if n != 'utils' and importlib.util.find_spec(n)) or '-')
''')


@pytest.mark.slow
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
