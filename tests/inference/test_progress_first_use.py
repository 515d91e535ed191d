"""First use of a weights file with Paddle Inference: the one-time export says what it does, and one
untiled image shows model progress (stderr to a file here: whole lines, no bar fragments)."""
from inference import Upscaler


def test_first_use_export_and_single_image_progress(tiny_models, photo, tmp_path, capsys):
    up = Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path / 'cache', progress=True)
    err = capsys.readouterr().err
    assert 'srvgg_x4.pdparams: one-time export: 1/2 step, loading the weights' in err
    assert 'srvgg_x4.pdparams: one-time export: 2/2 step, tracing and saving the static graph' in err
    assert 'srvgg_x4.pdparams: one-time export: done in ' in err
    up.upscale(photo)
    err = capsys.readouterr().err
    assert 'model (whole image, one tile): 1/1 tile' in err and 'model (whole image, one tile): done in ' in err
    assert '\r' not in err
    # the second creation finds the export in the cache: nothing to report
    Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path / 'cache', progress=True)
    assert 'one-time export' not in capsys.readouterr().err
