"""Network interpolation (DNI) between a base and its finetune: models.zoo.dni, the Upscaler's RealESRGANer-style
``model=[a, b], dni_weight=[wa, wb]``, ``--dni OTHER W`` in tools/infer.py, tools/predict.py and tools/export_model.py."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle.models import zoo
from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params, save_checkpoint

from tests.nets import TINY, tiny_state
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[2]
ARCH = TINY['srvgg_x4']


@pytest.fixture
def pair(tmp_path, monkeypatch):
    """A tiny base and a 'finetune' of it (the base plus a small change to every weight), and a private cache."""
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    base = tiny_state(ARCH, 0)
    rng = np.random.default_rng(1)
    ft = {k: v + 0.2 * np.abs(v).mean() * rng.standard_normal(v.shape).astype(np.float32) for k, v in base.items()}
    pb = save_checkpoint(tmp_path / 'base.pdparams', params=base, arch=ARCH)
    pf = save_checkpoint(tmp_path / 'finetuned.pdparams', params=ft, arch=ARCH)
    return pf, pb, ft, base


def test_dni_weights_ends_and_interior(pair, tmp_path):
    pf, pb, ft, base = pair
    assert zoo.dni(pf, pb, 1) == pf and zoo.dni(pf, pb, 0.0) == pb  # the files themselves at the ends
    p = zoo.dni(pf, pb, 0.3)
    assert p.parent == tmp_path / 'cache' / 'dni'
    st, arch = pick_params(load_state_file(p))
    assert arch == ARCH
    for k in ft:
        np.testing.assert_allclose(st[k], 0.3 * ft[k] + 0.7 * base[k], rtol=1e-6, atol=1e-7)
    # a finetune's arch may leave out a default (RRDBNet's scale 4) that the zoo file writes: one network
    rrdb = {k: v for k, v in TINY['rrdb_x4'].items() if k != 'scale'}
    ra = save_checkpoint(tmp_path / 'ra.pdparams', params=tiny_state(TINY['rrdb_x4'], 0), arch=rrdb)
    rb = save_checkpoint(tmp_path / 'rb.pdparams', params=tiny_state(TINY['rrdb_x4'], 1), arch=TINY['rrdb_x4'])
    assert pick_params(load_state_file(zoo.dni(ra, rb, 0.5)))[1] == rrdb
    mtime = p.stat().st_mtime_ns
    assert zoo.dni(pf, pb, 0.3) == p and p.stat().st_mtime_ns == mtime  # written once
    assert zoo.dni(pf, pb, 0.7) != p


def test_dni_bad_input(pair, tmp_path):
    pf, pb, _, _ = pair
    for w in (-0.1, 1.5, float('nan'), 'half'):
        with pytest.raises(ValueError, match=r'dni weight must be'):
            zoo.dni(pf, pb, w)
    other = save_checkpoint(tmp_path / 'rrdb.pdparams', params=tiny_state(TINY['rrdb_x4']), arch=TINY['rrdb_x4'])
    with pytest.raises(ValueError, match='one architecture'):
        zoo.dni(pf, other, 0.5)
    with pytest.raises(FileNotFoundError):
        zoo.dni(pf, tmp_path / 'missing.pdparams', 0.5)


@pytest.mark.parametrize('plant', ['other weights', 'a link', 'garbage'])
def test_a_planted_blend_is_written_again(pair, tmp_path, caplog, plant):
    """Issue 73: the blend's cache file is found by its name (both files' sha256 and the weight); a file planted
    under that name (the other end's weights, a link to a user's file, bytes that are no checkpoint) ran as the
    blend. It is now compared with the blend computed again, and written over with one line; a link's target is
    untouched."""
    pf, pb, ft, base = pair
    p = zoo.dni(pf, pb, 0.3)
    good = p.read_bytes()
    victim = tmp_path / 'notes.pdparams'
    victim.write_bytes(Path(pb).read_bytes())
    p.unlink()
    if plant == 'other weights':
        p.write_bytes(Path(pb).read_bytes())
    elif plant == 'a link':
        p.symlink_to(victim)
    else:
        p.write_bytes(b'not weights' * 50)
    with caplog.at_level('WARNING', logger='models'):
        assert zoo.dni(pf, pb, 0.3) == p
    assert any(str(p) in r.getMessage() and 'written again' in r.getMessage() for r in caplog.records), caplog.text
    st, _ = pick_params(load_state_file(p))
    for k in ft:
        np.testing.assert_allclose(st[k], 0.3 * ft[k] + 0.7 * base[k], rtol=1e-6, atol=1e-7)
    assert not p.is_symlink() and p.read_bytes() == good and victim.read_bytes() == Path(pb).read_bytes()


def _up(model, photo, **kw):
    from realesrgan_paddle.inference import Upscaler
    return Upscaler(model, tile=0, precision='fp32', **kw).upscale(photo[:48, :64])


def test_upscaler_gives_the_base_at_0_and_the_finetune_at_1(pair, photo):
    pf, pb, _, _ = pair
    ft_out, base_out = _up(pf, photo, backend='dynamic'), _up(pb, photo, backend='dynamic')
    assert np.abs(ft_out.astype(int) - base_out.astype(int)).max() > 3  # the two models differ
    np.testing.assert_array_equal(_up([pf, pb], photo, backend='dynamic', dni_weight=[1, 0]), ft_out)
    np.testing.assert_array_equal(_up([pf, pb], photo, backend='dynamic', dni_weight=[0, 1]), base_out)


def test_predictor_matches_dynamic_graph_at_an_interior_point(pair, photo, tmp_path):
    from realesrgan_paddle import models
    pf, pb, _, _ = pair
    from realesrgan_paddle.inference import Upscaler
    up = Upscaler([pf, pb], backend='predictor', precision='fp32', dni_weight=[0.4, 0.6],
                  cache_root=tmp_path / 'exports')
    net, _ = models.load_network(zoo.dni(pf, pb, 0.4))
    x = np.random.default_rng(2).random((1, 3, 24, 32), dtype=np.float32)
    import paddle
    with paddle.no_grad():
        ref = net(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(up.backend.forward(x), ref, atol=1e-4)
    # and the interior point is neither end
    dyn = _up([pf, pb], photo, backend='dynamic', dni_weight=[0.4, 0.6])
    pred = _up([pf, pb], photo, backend='predictor', dni_weight=[0.4, 0.6], cache_root=tmp_path / 'exports')
    assert np.abs(dyn.astype(int) - pred.astype(int)).max() <= 1
    assert np.abs(dyn.astype(int) - _up(pf, photo, backend='dynamic').astype(int)).max() > 1


def test_upscaler_dni_bad_arguments(pair):
    from realesrgan_paddle.inference import Upscaler
    pf, pb, _, _ = pair
    with pytest.raises(ValueError, match='add up to 1'):
        Upscaler([pf, pb], backend='dynamic', dni_weight=[0.5, 0.7])
    with pytest.raises(ValueError, match='two models need dni_weight'):
        Upscaler([pf, pb], backend='dynamic')
    with pytest.raises(ValueError, match='two models, two weights'):
        Upscaler(pf, backend='dynamic', dni_weight=[0.5, 0.5])


def _run(tool, *args, env=None):
    import os
    res = subprocess.run([sys.executable, str(ROOT / 'tools' / tool), *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=dict(os.environ, **(env or {})))
    return res.returncode, res.stdout, res.stderr


def test_cli_dni_in_infer_predict_and_export(pair, photo, tmp_path):
    import cv2
    from realesrgan_paddle.inference import Upscaler
    pf, pb, _, _ = pair
    env = {'REALESRGAN_PADDLE_HOME': str(tmp_path / 'cache')}
    src = tmp_path / 'in.png'
    cv2.imwrite(str(src), photo[:48, :64])
    ref = Upscaler([pf, pb], backend='dynamic', precision='fp32', dni_weight=[0.3, 0.7]).upscale(cv2.imread(str(src)))
    for tool in ('predict.py', 'infer.py'):
        rc, _, err = _run(tool, '-i', src, '-o', tmp_path / f'{tool}.png', '-m', pf, '--dni', pb, '0.3', '--fp32',
                          '-q', env=env)
        assert rc == 0, err
        assert np.abs(cv2.imread(str(tmp_path / f'{tool}.png')).astype(int) - ref.astype(int)).max() <= 1, tool
    rc, out, err = _run('export_model.py', '-m', pf, '--dni', pb, '0.3', '-o', tmp_path / 'infer', env=env)
    assert rc == 0 and 'max abs diff' in out, err
    exported = Upscaler(tmp_path / 'infer', precision='fp32').upscale(cv2.imread(str(src)))
    assert np.abs(exported.astype(int) - ref.astype(int)).max() <= 1
    # bad weight: one line, exit 2
    rc, _, err = _run('predict.py', '-i', src, '-o', tmp_path / 'bad.png', '-m', pf, '--dni', pb, '1.5', '-q', env=env)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and 'in [0, 1]' in err
    rc, _, err = _run('export_model.py', '-m', pf, '--dni', pb, 'x', '-o', tmp_path / 'bad', env=env)
    assert rc == 2 and a_line(err, '--dni') and not (tmp_path / 'bad').exists()


def test_integer_buffers_are_kept_and_must_agree(tmp_path, monkeypatch):
    """DAT's int64 position indices (buffers saved with its weights): a blend of two DAT files keeps them as they
    are and loads (it used to average them as floats, and loading the blend failed: 'Variable dtype not match');
    files whose integer tensors differ are refused in one line."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.models.dni import write_dni
    from tests.models.tiny_archs import TINY_ARCHS
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    arch, states = TINY_ARCHS['DAT'], []
    for seed in (0, 1):
        paddle.seed(seed)
        states.append({k: v.numpy() for k, v in models.build_network(arch).state_dict().items()})
    ints = [k for k, v in states[0].items() if v.dtype.kind in 'iub']
    assert ints and all(states[0][k].dtype == np.int64 for k in ints)
    pa, pb = (save_checkpoint(tmp_path / f'dat{i}.pdparams', params=s, arch=arch) for i, s in enumerate(states))
    blended, _ = models.read_checkpoint(write_dni(pa, pb, 0.3, tmp_path / 'blend.pdparams'))
    for k, v in blended.items():
        if k in ints:
            assert v.dtype == np.int64 and np.array_equal(v, states[0][k]), k
        else:
            np.testing.assert_allclose(v, 0.3 * states[0][k] + 0.7 * states[1][k], rtol=1e-5, atol=1e-6)
    models.load_network(tmp_path / 'blend.pdparams')
    assert zoo.dni(pa, pb, 0.5).is_file()  # the Upscaler's and the tools' --dni path
    states[1][ints[0]] = states[1][ints[0]][::-1].copy()
    save_checkpoint(pb, params=states[1], arch=arch)
    with pytest.raises(ValueError, match=rf'^DNI of .*: cannot interpolate {ints[0]}: .*integers that differ'):
        write_dni(pa, pb, 0.3, tmp_path / 'bad.pdparams')
