"""First use of a weights file with Paddle Inference: the one-time export says what it does, and one
untiled image shows model progress (stderr to a file here: whole lines, no bar fragments)."""
from inference import Upscaler


def test_first_use_export_and_single_image_progress(tiny_models, photo, tmp_path, capsys):
    up = Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path / 'cache', progress=True)
    err = capsys.readouterr().err
    assert 'srvgg_x4.pdparams: one-time export: 1/1 step, tracing and saving the static graph' in err
    assert 'srvgg_x4.pdparams: one-time export: done in ' in err
    up.upscale(photo)
    err = capsys.readouterr().err
    assert 'model (whole image, one tile): 1/1 tile' in err and 'model (whole image, one tile): done in ' in err
    assert '\r' not in err
    # the second creation finds the export in the cache: nothing to report
    Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path / 'cache', progress=True)
    assert 'one-time export' not in capsys.readouterr().err


def test_no_bar_per_frame_inside_another_bar(tiny_models, photo, tmp_path, capsys):
    """A video's frames (or a folder's files) have their own bar: single-tile frames add nothing."""
    import io

    from tqdm import tqdm

    from utils.progress import bars_active
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic', progress=True)
    capsys.readouterr()
    assert not bars_active()
    outer = tqdm(total=3, desc='frames', file=io.StringIO())
    assert bars_active()
    try:
        for _ in range(3):
            up.upscale(photo)
            outer.update(1)
    finally:
        outer.close()
    assert 'model (whole image' not in capsys.readouterr().err
    assert not bars_active()
