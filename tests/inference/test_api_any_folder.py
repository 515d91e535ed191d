"""The Python API from a folder of the user's own, which has its own ``utils`` and ``models``, with the clone on
``sys.path`` after that folder and before site-packages (where a ``pip install .`` of the package may sit too: the
clone is what this checks): ``realesrgan_paddle`` upscales a real photo like the in-repo API, neither side shadows
the other, and the project's rooms load only under the package name (no top-level second copy)."""
import subprocess
import sys
import textwrap

import cv2
import numpy as np

from tests.user_path import ROOT

SCRIPT = textwrap.dedent('''
    import importlib, sys
    sys.path.insert(1, {root!r})  # after the script's folder (the user's modules), before site-packages
    import cv2, numpy as np
    mine = [importlib.import_module(n) for n in ('utils', 'models')]  # the user's own modules, imported first
    from realesrgan_paddle import Upscaler
    up = Upscaler({weights!r}, backend='dynamic', device='cpu')
    cv2.imwrite('out.png', up.upscale(cv2.imread('in.png')))
    again = [importlib.import_module(n) for n in ('utils', 'models')]  # still the user's
    rooms = {rooms!r}
    top = sorted(m for m in sys.modules if m.split('.')[0] in rooms and getattr(sys.modules[m], 'MINE', None) is None)
    print(again[0].MINE, again[1].MINE, sys.modules['realesrgan_paddle.utils'].__file__, ','.join(top) or '-')
''')
ROOMS = tuple(p.name for p in ROOT.iterdir()
              if (p / '__init__.py').is_file() and p.name not in ('tests', 'realesrgan_paddle'))


def _user_project(tmp_path, photo, weights):
    (tmp_path / 'utils.py').write_text('MINE = "user-utils"\n')
    (tmp_path / 'models').mkdir()
    (tmp_path / 'models' / '__init__.py').write_text('MINE = "user-models"\n')
    cv2.imwrite(str(tmp_path / 'in.png'), photo)
    (tmp_path / 'run.py').write_text(SCRIPT.format(root=str(ROOT), weights=str(weights), rooms=ROOMS))


def test_api_from_a_user_folder_with_clashing_names(tmp_path, tiny_models, photo):
    weights = tiny_models['srvgg_x4']
    _user_project(tmp_path, photo, weights)
    res = subprocess.run([sys.executable, 'run.py'], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    mine, mine_m, ours, top = res.stdout.split()
    assert (mine, mine_m) == ('user-utils', 'user-models')
    assert ours == str(ROOT / 'utils' / '__init__.py')
    assert top == '-', f'rooms loaded as top-level modules besides the package: {top}'
    from realesrgan_paddle.inference import Upscaler
    want = Upscaler(weights, backend='dynamic', device='cpu').upscale(photo)
    got = cv2.imread(str(tmp_path / 'out.png'))
    assert got.shape == want.shape == (photo.shape[0] * 4, photo.shape[1] * 4, 3)
    assert np.abs(got.astype(int) - want).max() <= 1


def test_options_object_and_keywords_agree(tiny_models, photo):
    """``Upscaler(model, UpscaleOptions(...))`` and the keywords of before build the same upscaler; keywords
    override the object; an unknown keyword is a TypeError."""
    import pytest

    from realesrgan_paddle import UpscaleOptions, Upscaler
    weights = tiny_models['srvgg_x4']
    a = Upscaler(weights, UpscaleOptions(backend='dynamic', tile=32, tile_pad=4, outscale=2))
    b = Upscaler(weights, backend='dynamic', tile=32, tile_pad=4, outscale=2)
    c = Upscaler(weights, UpscaleOptions(backend='dynamic', tile=64), tile=32, tile_pad=4, outscale=2)
    assert a.options == b.options == c.options and (a.tile, a.tile_pad, a.outscale) == (32, 4, 2.0)
    out = a.upscale(photo)
    assert out.shape == (photo.shape[0] * 2, photo.shape[1] * 2, 3)
    assert np.array_equal(out, b.upscale(photo))
    with pytest.raises(TypeError, match='tilesize'):
        Upscaler(weights, tilesize=32)
    assert Upscaler(weights, backend='dynamic', fp16=True).options.precision == 'fp16'
