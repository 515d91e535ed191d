"""evaluation.model_cache: the evaluate stage runs a --compare model, bicubic and the base once per frame across its
passes (the selection, the final comparison), and their rows are the same as a fresh run's; the checkpoints, which run
once, are not kept; the kept outputs are copies (a caller writing into one does not change the next) and stop at
their byte budget."""
import numpy as np

from realesrgan_paddle.evaluation import model_cache as MT
from tests.nets import SRVGG, save_tiny
from tests.pairs import centre_crop, write_pairs


def _count_calls(net, calls, name):
    run = net.upscale

    def counted(lq, *a):
        calls[name] = calls.get(name, 0) + 1
        return run(lq, *a)
    net.upscale = counted


def test_a_compared_model_runs_each_frame_once_across_passes(hr_photos, tmp_path):
    gt, lq = write_pairs(tmp_path / 'pairs', hr_photos[:2], lambda img: centre_crop(img, 96, 96))
    base = save_tiny(tmp_path / 'base.pdparams', SRVGG, seed=0)
    other = save_tiny(tmp_path / 'other.pdparams', SRVGG, seed=2)
    ft = save_tiny(tmp_path / 'ft.pdparams', SRVGG, seed=1)
    nets = MT.Models('compact', tmp_path / 'exports')
    specs = {'bicubic': 'bicubic', 'base': str(base), 'iter_2': str(ft), 'x4plus': str(other)}
    calls = {}
    got = nets.get(specs, own=['base', 'iter_2'])
    for name, net in got.items():
        _count_calls(getattr(net, 'net', net), calls, name)  # the upscaler itself, under the memo
    first = MT.evaluate(got, gt, lq, progress=False)
    again = MT.evaluate(nets.get(specs, own=['base', 'iter_2']), gt, lq, progress=False)
    assert calls['x4plus'] == calls['base'] == 2 and calls['iter_2'] == 4  # 2 frames; the checkpoint runs again
    np.testing.assert_equal(again, first)  # NaN (NIQE of a small frame) equal to NaN
    fresh = MT.evaluate(MT.Models('compact', tmp_path / 'exports2').get(specs, own=['base', 'iter_2']), gt, lq,
                        progress=False)
    np.testing.assert_equal(fresh, first)


def test_kept_outputs_are_copies_within_a_budget():
    class Doubler:
        scale = 2

        def upscale(self, lq):
            return np.repeat(np.repeat(lq, 2, 0), 2, 1)
    memo = MT.OutputMemo(limit=4 * 4 * 3 * 2)  # two 4x4 outputs
    net = MT.Remembered(Doubler(), memo)
    a = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    out = net.upscale(a)
    out[:] = 0  # the caller writes into its output
    assert np.array_equal(net.upscale(a), Doubler().upscale(a)) and net.scale == 2
    for k in range(3):
        net.upscale(a + k + 1)
    assert memo.used <= memo.limit and len(memo.kept) == 2
