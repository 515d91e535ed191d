"""evaluation/shared_trunk.py through evaluation.model_cache.Models: the x4plus recipe's models (a plain RRDBNet
base, LowBandRRDBNet checkpoints on its trunk) run the trunk once per frame and give each model's own output;
a LowBandRRDBNet on another trunk gets its own; the cache stays within its bytes, and what a caller writes into
an output does not reach it."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.evaluation import model_cache as MT
from realesrgan_paddle.evaluation.shared_trunk import CachedTrunk, CorrectedTrunk
from realesrgan_paddle.inference import Upscaler
from tests.nets import rrdb, save_tiny

LOW = {**rrdb(), 'type': 'LowBandRRDBNet', 'corr_feat': 8, 'corr_conv': 3}


def _lowband(path, trunk_path, seed, strength=1.0):
    """A LowBandRRDBNet checkpoint whose trunk is ``trunk_path``'s weights and whose corrector is random."""
    paddle.seed(seed)
    net = models.build_network(LOW)
    models.load_state_into(net, models.read_checkpoint(trunk_path)[0], strict=False)
    last = net.corrector.convs[-1]
    last.weight.set_value(paddle.randn(last.weight.shape) * 0.05)
    last.bias.set_value(paddle.randn(last.bias.shape) * 0.05)
    net.strength.set_value(paddle.full([1], strength))
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    return save_checkpoint(path, state, state, LOW)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp('shared_trunk')
    base, other = save_tiny(d / 'base.pdparams', rrdb(), seed=0), save_tiny(d / 'other.pdparams', rrdb(), seed=5)
    return {'base': base, 'a': _lowband(d / 'a.pdparams', base, 1), 'b': _lowband(d / 'b.pdparams', base, 2, 0.5),
            'c': _lowband(d / 'c.pdparams', other, 3)}


def _frames(photo):
    f = photo.astype(np.float32) / 255
    return [f[:48, :64], f[48:, 64:], np.ascontiguousarray(f[:48, 64:][:, ::-1])]


def test_one_trunk_pass_a_frame_and_each_model_its_own_output(files, photo, tmp_path):
    nets = MT.Models('x4plus', tmp_path / 'exports', lq_pixels=1 << 20)
    ups = nets.get(dict(files), own=list(files))
    ref = {n: Upscaler(model=str(p), backend='predictor', precision='fp32', cache_root=tmp_path / 'ref')
           for n, p in files.items()}
    frames = _frames(photo)
    for _ in range(2):  # a second pass (the DNI sweep, the real frames) runs no trunk again
        for f in frames:
            outs = {n: up.upscale(f) for n, up in ups.items()}
            for n, up in ref.items():
                np.testing.assert_allclose(outs[n], up.upscale(f), atol=2e-5, err_msg=n)
            assert np.abs(outs['a'] - outs['base']).max() > 1e-3 and np.abs(outs['a'] - outs['b']).max() > 1e-3
    assert nets.backends == {'base': 'predictor', 'a': 'predictor trunk + dynamic corrector',
                             'b': 'predictor trunk + dynamic corrector', 'c': 'predictor trunk + dynamic corrector'}
    assert len(nets.trunks.trunks) == 2  # the base's (shared by a and b) and c's own
    shared = ups['base'].backend
    assert isinstance(shared, CachedTrunk) and ups['a'].backend.trunk is shared is ups['b'].backend.trunk
    assert isinstance(ups['c'].backend, CorrectedTrunk) and ups['c'].backend.trunk is not shared
    # 3 frames once; base, a, b twice each otherwise, less the base's second pass (its kept outputs, model_cache)
    assert (shared.runs, shared.hits) == (3, 3 * 2 * 3 - 3 - 3)
    assert ups['c'].backend.trunk.runs == 3
    assert ups['a'].init_kwargs['model'] == str(files['a'])  # a Ray worker would build the model, not its trunk
    nets.cleanup()
    assert not (tmp_path / 'exports').exists() and not nets.trunks.trunks


def test_the_cache_keeps_its_bytes():
    class Double:
        name = 'predictor'

        def forward(self, x):
            return np.repeat(np.repeat(x, 2, axis=-1), 2, axis=-2)
    cached = CachedTrunk(Double(), max_bytes=3 * 4 * 3 * 8 * 8)  # three outputs of 1x3x8x8 float32
    xs = [np.full((1, 3, 4, 4), i, np.float32) for i in range(5)]
    for x in xs + xs[-3:]:
        np.testing.assert_array_equal(cached.forward(x), Double().forward(x))
    assert (cached.runs, cached.hits, len(cached.outputs)) == (5, 3, 3) and cached.held <= cached.max_bytes
    assert cached.name == 'predictor'
    cached.forward(xs[0])
    assert cached.runs == 6  # evicted first, so run again
    got = cached.forward(xs[0])  # a hit; what its caller writes into stays out of the cache
    got[:] = -1
    np.testing.assert_array_equal(cached.forward(xs[0]), Double().forward(xs[0]))
    assert cached.hits == 5
