"""The second-order flow is a list of stages: a new degradation is one ``Stage`` class placed with ``with_stage``,
with its own options, draws that leave every seed's bytes alone, and its parameters in the params dict."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.data.degrade.second_order import (
    SECOND_ORDER, SecondOrderDegradation, Stage, resolve_options, sample_kernels, with_stage)


class Gamma(Stage):
    """A stage written for this test: a random gamma per sample (an exposure curve a camera might apply)."""
    name = 'gamma'
    defaults = {'gamma_prob': 0.0, 'gamma_range': [0.7, 1.4]}

    def check(self, opt):
        lo, hi = opt['gamma_range']
        if not 0 < lo <= hi <= 5:
            raise ValueError(f"degradation option 'gamma_range' must be [low, high] in (0, 5], got {[lo, hi]}")

    def draw_late(self, rng, b, opt):  # late: a flow with this stage keeps every other choice of a seed
        if opt['gamma_prob'] <= 0:
            return {'gamma': np.zeros(b)}
        use = rng.uniform(size=b) < opt['gamma_prob']
        return {'gamma': np.where(use, rng.uniform(*opt['gamma_range'], size=b), 0.0)}

    def apply(self, out, plan, ctx):
        g = plan['gamma'][ctx.idx]
        if not g.any():
            return out
        exp = paddle.to_tensor(np.where(g > 0, g, 1.0).astype(np.float32).reshape(-1, 1, 1, 1), place=ctx.place)
        return out.clip(1e-6, 1) ** exp

    def params(self, plan, i):
        return {'gamma': float(plan['gamma'][i]) or None}


def kernels(n, seed=0):
    rng = np.random.default_rng(seed)
    ks = [sample_kernels(None, rng) for _ in range(n)]
    return [np.stack([d[k] for d in ks]) for k in ('kernel1', 'kernel2', 'sinc_kernel')]


@pytest.fixture(scope='module')
def gt(photo_batch):
    return photo_batch(3, 64)


def test_the_default_flow_is_real_esrgans_steps():
    assert [s.name for s in SECOND_ORDER] == ['blur_kernel1', 'resize1', 'noise1', 'jpeg1', 'use2', 'resize2',
                                              'noise2', 'final']


def test_a_new_stage_is_one_class_in_the_list(gt):
    flow = with_stage(Gamma(), after='noise2')
    assert [s.name for s in flow].index('gamma') == [s.name for s in flow].index('noise2') + 1
    ks = kernels(gt.shape[0])
    plain, p_plain = SecondOrderDegradation(None, 4, threads=1)(gt, *ks, rng=3, return_params=True)
    # switched off, the stage changes nothing: the same seed gives the same bytes and the same draws
    off, p_off = SecondOrderDegradation({'gamma_prob': 0.0}, 4, threads=1, stages=flow)(
        gt, *ks, rng=3, return_params=True)
    np.testing.assert_array_equal(off.numpy(), plain.numpy())
    assert [{k: v for k, v in p.items() if k != 'gamma'} for p in p_off] == p_plain
    assert all(p['gamma'] is None for p in p_off)
    # switched on, every sample darkens (gamma > 1 lowers every value in (0, 1)) and says by how much
    deg = SecondOrderDegradation({'gamma_prob': 1.0, 'gamma_range': [1.8, 2.2]}, 4, threads=1, stages=flow)
    on, p_on = deg(gt, *ks, rng=3, return_params=True)
    assert all(1.8 <= p['gamma'] <= 2.2 for p in p_on)
    means_plain, means_on = plain.mean(axis=[1, 2, 3]).numpy(), on.mean(axis=[1, 2, 3]).numpy()
    assert (means_on < means_plain - 0.05).all(), (means_on, means_plain)
    # and the result still does not depend on the slicing
    sliced = SecondOrderDegradation(deg.opt, 4, threads=3, stages=flow)(gt, *ks, rng=3)
    np.testing.assert_array_equal(sliced.numpy(), on.numpy())


def test_a_stage_brings_its_own_options():
    with pytest.raises(ValueError, match='gamma_prob'):
        resolve_options({'gamma_prob': 0.5})  # not an option of the default flow
    opt = resolve_options({'gamma_prob': 0.5}, stages=[Gamma()])
    assert opt['gamma_prob'] == 0.5 and opt['gamma_range'] == [0.7, 1.4]
    with pytest.raises(ValueError, match='gamma_range'):
        resolve_options({'gamma_range': [2, 1]}, stages=[Gamma()])
    # options resolved for the default flow gain the stage's defaults
    deg = SecondOrderDegradation(resolve_options({'sinc_prob': 0.2}), 4, stages=with_stage(Gamma(), 'final'))
    assert deg.opt['gamma_prob'] == 0.0 and deg.opt['sinc_prob'] == 0.2


def test_placing_a_stage_names_the_flow():
    with pytest.raises(ValueError, match='no stage .blur3.*resize1'):
        with_stage(Gamma(), after='blur3')
    with pytest.raises(ValueError, match="already has a stage 'gamma'"):
        with_stage(Gamma(), after='noise1', stages=with_stage(Gamma(), after='noise2'))
