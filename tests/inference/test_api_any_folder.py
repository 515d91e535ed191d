"""The Python API from a folder of the user's own, which has its own ``utils`` and ``models``:
``realesrgan_paddle`` upscales a real photo like the in-repo API, and neither side shadows the other."""
import subprocess
import sys
import textwrap

import cv2
import numpy as np

from tests.user_path import ROOT

SCRIPT = textwrap.dedent('''
    import sys
    sys.path.append({root!r})
    import cv2, numpy as np
    import utils, models                      # the user's own modules, imported first
    from realesrgan_paddle import Upscaler
    up = Upscaler({weights!r}, backend='dynamic', device='cpu')
    cv2.imwrite('out.png', up.upscale(cv2.imread('in.png')))
    import utils as again, models as again_m  # still the user's
    print(again.MINE, again_m.MINE, sys.modules['realesrgan_paddle.utils'].__file__)
''')


def _user_project(tmp_path, photo, weights):
    (tmp_path / 'utils.py').write_text('MINE = "user-utils"\n')
    (tmp_path / 'models').mkdir()
    (tmp_path / 'models' / '__init__.py').write_text('MINE = "user-models"\n')
    cv2.imwrite(str(tmp_path / 'in.png'), photo)
    (tmp_path / 'run.py').write_text(SCRIPT.format(root=str(ROOT), weights=str(weights)))


def test_api_from_a_user_folder_with_clashing_names(tmp_path, tiny_models, photo):
    weights = tiny_models['srvgg_x4']
    _user_project(tmp_path, photo, weights)
    res = subprocess.run([sys.executable, 'run.py'], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    mine, mine_m, ours = res.stdout.split()
    assert (mine, mine_m) == ('user-utils', 'user-models')
    assert ours == str(ROOT / 'utils' / '__init__.py')
    from inference import Upscaler
    want = Upscaler(weights, backend='dynamic', device='cpu').upscale(photo)
    got = cv2.imread(str(tmp_path / 'out.png'))
    assert got.shape == want.shape == (photo.shape[0] * 4, photo.shape[1] * 4, 3)
    assert np.abs(got.astype(int) - want).max() <= 1


def test_without_the_package_the_user_folder_cannot_reach_the_api(tmp_path, tiny_models, photo):
    """What the package is for: a plain ``import inference`` with the repository on the path finds the
    user's ``utils`` for the repository's own imports, and fails."""
    _user_project(tmp_path, photo, tiny_models['srvgg_x4'])
    code = f'import sys; sys.path.append({str(ROOT)!r}); import utils; import inference'
    res = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "'utils' is not a package" in res.stderr, res.stderr[-1500:]


def test_the_rewrite_keeps_import_semantics(tmp_path):
    sys.path.insert(0, str(ROOT))
    import realesrgan_paddle as rp
    src = 'import utils.img_io\nimport utils.fileio as f\nfrom utils import media\nimport os, models\nfrom . import x\n'
    out = __import__('ast').unparse(rp._Prefixer().visit(__import__('ast').parse(src)))
    assert out.splitlines() == [
        'import realesrgan_paddle.utils.img_io as _realesrgan_paddle_tmp', 'from realesrgan_paddle import utils',
        'import realesrgan_paddle.utils.fileio as f', 'from realesrgan_paddle.utils import media', 'import os',
        'from realesrgan_paddle import models', 'from . import x']
