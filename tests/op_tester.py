"""Kornia-style base testers for the differentiable ops: the losses (``loss/``) and the degradations (``data/``).

A test class subclasses :class:`LossTester` or :class:`DegradationTester` and says how to call its op; the
base class runs the five checks every op gets:

* smoke: the op runs on a real photo crop and gives a finite result;
* shape: the output shape for each input shape in ``shapes`` (and for the loss reductions);
* bad input: each case in ``bad_inputs`` raises its error with its words;
* gradient: the gradient with respect to the input is finite, not all zero, and its norm is the slope a
  central finite difference finds along it (``grad_rtol``);
* function vs Layer: the Layer form gives what the function gives (with the loss weight applied).

The op's own facts (values against formulas or references) stay in the op's test file, next to its class.
"""
import numpy as np
import paddle
import pytest

_PHOTO = None


def photo(shape, seed=0):
    """An NCHW float32 crop of a real photo (scikit-image's astronaut) in [0, 1], or ``shape``'s batch of
    differently placed crops; a random texture is added for ``seed`` > 0 so that two inputs differ."""
    global _PHOTO
    if _PHOTO is None:
        from skimage import data as skdata
        _PHOTO = skdata.astronaut().astype(np.float32) / 255  # HWC RGB
    n, c, h, w = shape
    crops = []
    for i in range(n):
        y, x = 120 + 17 * i, 180 + 23 * i
        crop = _PHOTO[y:y + h, x:x + w, :c].transpose(2, 0, 1)
        crops.append(crop)
    out = np.stack(crops)
    if seed:
        rng = np.random.default_rng(seed)
        out = np.clip(out + rng.normal(0, 0.05, out.shape).astype(np.float32), 0, 1)
    return out


def _tensor(a, grad=False):
    return paddle.to_tensor(a, stop_gradient=not grad)


class OpTester:
    """The checks shared by the op testers; subclasses set the hooks below."""
    shapes = [(2, 3, 32, 32), (1, 3, 24, 40)]
    bad_inputs = []  # [(callable taking the tester, exception type, match)]
    grad_rtol = 0.05  # the finite-difference check; None skips it (an op whose gradient is a surrogate)
    grad_eps = 1e-2

    def make_inputs(self, shape):
        """The op's extra inputs as numpy arrays, after the one the gradient is taken for."""
        return ()

    def function(self, x, *rest):
        raise NotImplementedError

    def layer(self):
        """The Layer form, or None."""
        return None

    def call_layer(self, layer, x, *rest):
        return layer(x, *rest)

    def expected_shape(self, shape):
        return tuple(shape)

    def scalar(self, out):
        """A scalar made from the output, for the gradient checks."""
        return out.mean() if out.ndim else out

    # ---- the checks

    def test_smoke(self):
        shape = self.shapes[0]
        out = self.function(_tensor(photo(shape)), *map(_tensor, self.make_inputs(shape)))
        assert np.isfinite(out.numpy()).all()

    def test_shape(self):
        for shape in self.shapes:
            out = self.function(_tensor(photo(shape)), *map(_tensor, self.make_inputs(shape)))
            assert tuple(out.shape) == self.expected_shape(shape), shape

    def test_bad_input(self):
        for make, exc, match in self.bad_inputs:
            with pytest.raises(exc, match=match):
                make(self)

    def test_gradient(self):
        shape = self.shapes[0]
        x0 = photo(shape)
        rest = self.make_inputs(shape)
        x = _tensor(x0, grad=True)
        self.scalar(self.function(x, *map(_tensor, rest))).backward()
        g = x.grad.numpy()
        assert np.isfinite(g).all() and np.abs(g).sum() > 0
        if self.grad_rtol is None:
            return
        v = (g / np.linalg.norm(g)).astype(np.float32)  # along the gradient: the slope there is its norm

        def f(a):
            with paddle.no_grad():
                return float(self.scalar(self.function(_tensor(a), *map(_tensor, rest))))
        numeric = (f(x0 + self.grad_eps * v) - f(x0 - self.grad_eps * v)) / (2 * self.grad_eps)
        analytic = float((g.astype(np.float64) * v).sum())
        assert analytic == pytest.approx(numeric, rel=self.grad_rtol), (analytic, numeric)

    def test_function_matches_layer(self):
        layer = self.layer()
        if layer is None:
            pytest.skip('no Layer form')
        shape = self.shapes[0]
        x, rest = _tensor(photo(shape)), [_tensor(r) for r in self.make_inputs(shape)]
        np.testing.assert_allclose(self.call_layer(layer, x, *rest).numpy(),
                                   self.layer_factor() * self.function(x, *rest).numpy(), rtol=1e-5, atol=1e-7)

    def layer_factor(self):
        return 1.0


class LossTester(OpTester):
    """A loss ``fn(pred, target, *extra, reduction=...)``: a scalar for 'mean'/'sum', the map for 'none'.
    ``layer()`` is built with ``loss_weight = WEIGHT``."""
    WEIGHT = 2.5
    extra_inputs = 0  # inputs after the target (the anchor, the EMA output...)
    none_shape = None  # the shape of the 'none' reduction for an input shape, when it is not the input's
    zero_at_target = True  # loss(target, target, ...) == 0

    def loss(self, pred, target, *extra, reduction='mean'):
        raise NotImplementedError

    def make_inputs(self, shape):
        return tuple(photo(shape, seed=i + 1) for i in range(1 + self.extra_inputs))

    def function(self, x, *rest):
        return self.loss(x, *rest)

    def expected_shape(self, shape):
        return ()

    def layer_factor(self):
        return self.WEIGHT

    def test_reductions(self):
        shape = self.shapes[0]
        x, rest = _tensor(photo(shape)), [_tensor(r) for r in self.make_inputs(shape)]
        mean, total = float(self.loss(x, *rest)), float(self.loss(x, *rest, reduction='sum'))
        none = self.loss(x, *rest, reduction='none')
        if self.none_shape is not None:
            assert tuple(none.shape) == self.none_shape(shape)
        assert float(none.mean()) == pytest.approx(mean, rel=1e-5)
        assert float(none.sum()) == pytest.approx(total, rel=1e-4)
        assert mean >= 0
        if self.zero_at_target:
            assert float(self.loss(_tensor(rest[0]), *rest)) == pytest.approx(0, abs=1e-5)

    def test_unknown_reduction(self):
        shape = self.shapes[0]
        x, rest = _tensor(photo(shape)), [_tensor(r) for r in self.make_inputs(shape)]
        with pytest.raises(ValueError, match='reduction'):
            self.loss(x, *rest, reduction='median')

    prediction_only = False  # the target (and any reference after it) gets no gradient

    def test_gradient_reaches_the_prediction_only(self):
        if not self.prediction_only:
            pytest.skip('the target is differentiable too')
        shape = self.shapes[0]
        x = _tensor(photo(shape), grad=True)
        rest = [_tensor(r, grad=True) for r in self.make_inputs(shape)]
        self.scalar(self.loss(x, *rest)).backward()
        assert np.abs(x.grad.numpy()).sum() > 0
        for r in rest:
            assert r.grad is None or np.abs(r.grad.numpy()).sum() == 0

    def test_registered(self):
        layer = self.layer()
        if layer is None:
            pytest.skip('no Layer form')
        from realesrgan_paddle.loss import build_loss
        assert type(build_loss({'type': type(layer).__name__, 'loss_weight': 1.0})) is type(layer)

    def test_shape_mismatch(self):
        shape = self.shapes[0]
        x, rest = _tensor(photo(shape)), [_tensor(r) for r in self.make_inputs(shape)]
        with pytest.raises(ValueError):
            self.loss(x[:, :, :shape[2] // 2], *rest)


class DegradationTester(OpTester):
    """A degradation ``fn(x, *params)`` from an NCHW float image batch to one of the same kind."""
