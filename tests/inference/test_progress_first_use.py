"""First use of a weights file with Paddle Inference: the one-time export says what it does, and one
untiled image shows model progress (stderr to a file here: whole lines, no bar fragments)."""
import gc

from realesrgan_paddle.inference import Upscaler
from tests.cli_checks import a_line


def _no_bar_open():
    """These tests check this process's bars from here on: a bar or log counter an earlier test in the same worker
    left open (its own business; tests/utils/test_progress.py checks that a dropped counter goes with its last
    reference) is collected, or closed, first."""
    import tqdm

    from realesrgan_paddle.utils import progress
    gc.collect()
    for bar in list(tqdm.tqdm._instances):
        bar.close()
    for counter in list(progress._OPEN_COUNTERS):
        progress._OPEN_COUNTERS.discard(counter)
    assert not progress.bars_active()


def test_first_use_export_and_single_image_progress(tiny_models, photo, tmp_path, capsys):
    _no_bar_open()
    up = Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path / 'cache', progress=True)
    err = capsys.readouterr().err
    a_line(err, 'srvgg_x4.pdparams', '1/1')  # the bar names the file and counts its step
    a_line(err, 'srvgg_x4.pdparams', 'done in ')
    up.upscale(photo)
    err = capsys.readouterr().err
    a_line(err, '1/1 tile') and a_line(err, 'tile', 'done in ')
    assert '\r' not in err
    # the second creation finds the export in the cache: nothing to report
    Upscaler(tiny_models['srvgg_x4'], backend='predictor', cache_root=tmp_path / 'cache', progress=True)
    assert 'one-time export' not in capsys.readouterr().err


def test_no_bar_per_frame_inside_another_bar(tiny_models, photo, tmp_path, capsys):
    """A video's frames (or a folder's files) have their own bar: single-tile frames add nothing."""
    import io

    from tqdm import tqdm

    from realesrgan_paddle.utils.progress import bars_active
    up = Upscaler(tiny_models['srvgg_x4'], backend='dynamic', progress=True)
    capsys.readouterr()
    _no_bar_open()
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
