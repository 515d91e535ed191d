"""The package-dir mapping behind ``pip install .``: every top-level folder of the repository that holds an
``__init__.py`` (a room: ``utils``, ``models``, ``data``, ..., ``tools``) is installed as ``realesrgan_paddle.<room>``,
never as a top-level ``utils`` or ``models``; ``assets/`` and ``options/``, which the code reads at run time beside
the rooms, go to ``realesrgan_paddle/assets`` and ``realesrgan_paddle/options``, and a room's own data files
(``evaluation/data/*.npz``) stay in their room. Dependencies: requirements.txt; extras webui, onnx, ray.
Metadata is in pyproject.toml; docs/DESIGN.md, "One package". The build's scratch (``build/``, the ``.egg-info``)
goes to a temporary folder removed when the build ends, so ``pip install .`` leaves the clone as it was."""
import atexit
import shutil
import tempfile
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
PKG = 'realesrgan_paddle'
NOT_ROOMS = {PKG, 'tests', 'benchmarks', 'build', 'dist'}
DATA_FOLDERS = ('assets', 'options')  # no code, read at run time as <package>/assets, <package>/options
SKIP = {'__pycache__'}


def rooms():
    return sorted(d.name for d in HERE.iterdir() if d.is_dir() and (d / '__init__.py').is_file()
                  and d.name not in NOT_ROOMS and not d.name.startswith('.'))


def own_files(folder, code):
    """Files of ``folder`` (recursively, but not inside a sub-package) that are data: no Python sources."""
    out = []
    for p in sorted(folder.rglob('*')):
        rel = p.relative_to(folder)
        if not p.is_file() or SKIP & set(rel.parts) or p.suffix in ('.py', '.pyc'):
            continue
        if code and any((folder.joinpath(*rel.parts[:i]) / '__init__.py').is_file() for i in range(1, len(rel.parts))):
            continue  # a sub-package's file: listed with that package
        out.append(rel.as_posix())
    return out


def layout():
    packages, package_dir, package_data = [PKG], {PKG: PKG}, {}
    for room in rooms():
        for init in sorted((HERE / room).rglob('__init__.py')):
            rel = init.parent.relative_to(HERE)
            if SKIP & set(rel.parts):
                continue
            name = '.'.join((PKG, *rel.parts))
            packages.append(name)
            package_dir[name] = rel.as_posix()
            data = own_files(init.parent, code=True)
            if data:
                package_data[name] = data
    for folder in DATA_FOLDERS:
        name = f'{PKG}.{folder}'
        packages.append(name)
        package_dir[name] = folder
        package_data[name] = own_files(HERE / folder, code=False)
    return packages, package_dir, package_data


def requirements(name):
    """A requirements file's requirement lines (comments, -r and pip options dropped)."""
    out = []
    for line in (HERE / name).read_text().splitlines():
        line = line.split(' #')[0].strip()
        if line and not line.startswith(('#', '-')):
            out.append(line)
    return out


def scratch():
    """setuptools' ``build`` and ``egg_info`` options pointing at a temporary folder (removed at exit)."""
    tmp = tempfile.mkdtemp(prefix='realesrgan-paddle-build-')
    atexit.register(shutil.rmtree, tmp, True)
    return {'build': {'build_base': str(Path(tmp) / 'build')}, 'egg_info': {'egg_base': tmp}}


packages, package_dir, package_data = layout()
setup(packages=packages, package_dir=package_dir, package_data=package_data, options=scratch(),
      install_requires=requirements('requirements.txt'),
      extras_require={extra: requirements(f'requirements-{extra}.txt') for extra in ('webui', 'onnx', 'ray')})
