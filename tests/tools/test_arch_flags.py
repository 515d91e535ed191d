"""Architecture flags mean the same on every network: --scale sets SRVGGNetCompact's ``upscale``."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.nets import srvgg
from tests.cli_checks import a_line, one_line

ROOT = Path(__file__).resolve().parents[2]
SRVGG_X2 = srvgg(upscale=2)


@pytest.fixture(scope='module')
def bare_srvgg(tmp_path_factory, hr_photos):
    """SRVGGNetCompact x2 weights saved without their arch (a bare state dict), and a photo crop."""
    import paddle

    from realesrgan_paddle import models
    d = tmp_path_factory.mktemp('bare_srvgg')
    paddle.seed(0)
    net = models.build_network(SRVGG_X2)
    paddle.save(net.state_dict(), str(d / 'srvgg_x2_bare.pdparams'))
    photo = next(img for img in (cv2.imread(str(p)) for p in hr_photos) if img is not None and img.ndim == 3)
    cv2.imwrite(str(d / 'in.png'), photo[:40, :56])
    return d


def test_scale_override_maps_to_the_network_scale_key(bare_srvgg):
    from realesrgan_paddle import models
    _, arch = models.load_network(bare_srvgg / 'srvgg_x2_bare.pdparams', arch={'scale': 2})
    assert arch == SRVGG_X2  # 'scale' became 'upscale'; no stray key
    assert models.apply_overrides(SRVGG_X2, {'scale': 3, 'num_feat': None})['upscale'] == 3
    rrdb = {'type': 'RRDBNet', 'scale': 4}
    assert models.apply_overrides(rrdb, {'scale': 2, 'block': 6}) == {'type': 'RRDBNet', 'scale': 2, 'num_block': 6}
    with pytest.raises(ValueError, match=r'srvgg_x2_bare.pdparams: --num_block does not apply to SRVGGNetCompact'):
        models.load_network(bare_srvgg / 'srvgg_x2_bare.pdparams', arch={'num_block': 3})


def test_predict_scale_flag_on_bare_srvgg_weights(bare_srvgg):
    def run(*args):
        return subprocess.run([sys.executable, str(ROOT / 'tools' / 'predict.py'), *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    d = bare_srvgg
    res = run('-i', d / 'in.png', '-o', d / 'out.png', '-m', d / 'srvgg_x2_bare.pdparams', '--scale', '2', '-q')
    assert res.returncode == 0, res.stderr
    assert cv2.imread(str(d / 'out.png')).shape == (80, 112, 3)
    assert 'SRVGGNetCompact, x2' in res.stderr
    res = run('-i', d / 'in.png', '-o', d / 'out4.png', '-m', d / 'srvgg_x2_bare.pdparams', '--scale', '4', '-q')
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and a_line(err, '--scale 4', 'upscale=2')[0], err
    assert not (d / 'out4.png').exists()


def test_scale_flag_gives_the_same_image_as_the_stored_arch(bare_srvgg, tmp_path):
    """The bare weights with --scale 2 upscale exactly like the same weights with their arch stored."""
    from realesrgan_paddle import models
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    net, arch = models.load_network(bare_srvgg / 'srvgg_x2_bare.pdparams', arch={'scale': 2})
    stored = save_checkpoint(tmp_path / 'stored.pdparams', params={k: v.numpy() for k, v in net.state_dict().items()},
                             arch=arch)
    img = cv2.imread(str(bare_srvgg / 'in.png'))
    a = Upscaler(bare_srvgg / 'srvgg_x2_bare.pdparams', backend='dynamic', arch={'scale': 2}).upscale(img)
    b = Upscaler(stored, backend='dynamic').upscale(img)
    np.testing.assert_array_equal(a, b)


def test_convert_notes_and_unknown_arch(bare_srvgg, tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location('convert_flags', ROOT / 'tools' / 'convert_torch.py')
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    src = bare_srvgg / 'srvgg_x2_bare.pdparams'
    assert convert.main(['-i', str(src), '-o', str(tmp_path / 'a.pdparams'), '--arch', 'NoSuchNet']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    from realesrgan_paddle import models
    # file, flag, every known upscaler, and the count of the other networks
    one_line(err, src, '--arch NoSuchNet', *(s.name for s in models.all_specs() if s.generator),
             f'(and {sum(not s.generator for s in models.all_specs())} discriminators and feature networks)')
    assert not (tmp_path / 'a.pdparams').exists()
    assert convert.main(['-i', str(src), '-o', str(tmp_path / 'a.pdparams')]) == 0
    assert 'note:' not in capsys.readouterr().out  # PReLU has weights: nothing was assumed
    import paddle

    from realesrgan_paddle import models
    paddle.save(models.build_network({**SRVGG_X2, 'act_type': 'relu'}).state_dict(), str(tmp_path / 'relu.pdparams'))
    assert convert.main(['-i', str(tmp_path / 'relu.pdparams'), '-o', str(tmp_path / 'b.pdparams')]) == 0
    notes = [ln for ln in capsys.readouterr().out.splitlines() if 'note:' in ln]
    assert notes == ['  note: act_type is not visible in the weights; assumed relu (use --act_type leakyrelu if needed)']
