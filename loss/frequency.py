"""Detail losses that compare how much high-frequency energy two images have, not where its phase is.

A pixel loss (L1/MSE) against a GT whose fine texture the degraded input no longer determines is
minimised by the average of the plausible textures: a flat region. These losses put the texture
energy back without asking for the exact phase:

* ``hf_energy_loss``: L1 between the local RMS of the Laplacian of luma (a box window of
  ``window`` pixels) of the output and of the target. Detail of the right strength in the right
  place; noise where the target is smooth is penalised as well.
* ``fft_amplitude_loss``: L1 between the 2-D Fourier amplitudes (orthonormal) of output and target,
  per channel: the spectrum of the patch as a whole (focal-frequency-loss family, without the focal
  weights).
* ``lowpass_l1_loss``: L1 between Gaussian-blurred output and target: fidelity of the structure
  only, leaving the finest band to a detail loss (a full-band L1 pulls that band to its average, flat).
* ``gradient_loss``: L1 between the Sobel gradient magnitudes of luma, pixel by pixel: edge strength
  in place (this one does ask for the phase).

Inputs are NCHW RGB tensors in [0, 1] (any channel count for the FFT loss; 3 or 1 for the others).
"""
import paddle
import paddle.nn.functional as F

from .pixel import WeightedLoss, check_pair, reduce_loss
from .registry import register_loss

# ITU-R BT.601 luma weights on [0, 1] RGB (the Y of evaluation.metrics.bgr_to_y without offset and range scaling)
_LUMA = (0.299, 0.587, 0.114)
FFT_SPACES = ('rgb', 'luma')
ENERGY_SPACES = ('luma', 'grey', 'rgb')
_LAPLACE = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
_SOBEL_X = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]


def luma(x):
    """N3HW RGB -> N1HW BT.601 luma; a one-channel input is returned as is."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


def chroma(x):
    """N3HW RGB -> N3HW colour part: each channel minus the BT.601 luma (0 wherever the image is grey)."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f'chroma: expected N3HW RGB tensors, got shape {list(x.shape)}')
    return x - luma(x)


def _energy_band(x, space):
    """The image whose Laplacian the energy terms measure: BT.601 luma, the plain mean of R, G and B ('grey':
    its gradient reaches the three channels equally, so texture added through it is grey), or each channel
    on its own ('rgb', as N*C one-channel images)."""
    if space == 'luma' or x.shape[1] == 1:
        return luma(x)
    if space == 'grey':
        return x.mean(axis=1, keepdim=True)
    return x.reshape([-1, 1, x.shape[2], x.shape[3]])


def _filter(y, kernel):
    k = paddle.to_tensor(kernel, dtype=y.dtype).reshape([1, 1, 3, 3])
    return F.conv2d(F.pad(y, [1, 1, 1, 1], mode='reflect'), k)


def laplacian(y):
    """4-neighbour Laplacian of an N1HW tensor, reflect-padded (same size)."""
    return _filter(y, _LAPLACE)


def local_rms(x, window):
    """Local root-mean-square of ``x`` over a ``window`` x ``window`` box (same size, reflect-padded)."""
    p, q = window // 2, window - 1 - window // 2
    e = F.avg_pool2d(F.pad(x * x, [p, q, p, q], mode='reflect'), window, stride=1)
    return paddle.sqrt(e + 1e-8)


def hf_energy_loss(pred, target, window=8, reduction='mean', pool=1, space='luma'):
    """L1 between the local RMS of the luma Laplacian of ``pred`` and of ``target`` (target detached).

    ``space='rgb'`` measures each channel's Laplacian instead of the luma's. On luma alone, the gradient that
    adds energy goes to the channels in luma's proportions (G 0.59, B 0.11), so texture added to meet the term
    is green and its undershoot magenta: a colour fringe along dark edges. Per channel, each gets the energy
    ``target`` has in that channel. ``space='grey'`` measures the plain mean of R, G and B: one band as with
    luma, but its gradient is the same in the three channels, so the texture it adds is grey.

    ``pool`` > 1 measures a coarser band: luma is averaged over ``pool`` x ``pool`` blocks first (the window
    is then ``window // pool`` of those blocks, the same area). A pattern with a period of ``pool`` pixels
    or less (a lattice on the pixel-shuffle grid) averages away there, so the term cannot be met by one."""
    check_pair(pred, target, 'hf_energy_loss')
    if int(window) < 1 or int(pool) < 1:
        raise ValueError(f'hf_energy_loss: window and pool must be >= 1, got {window}, {pool}')
    if space not in ENERGY_SPACES:
        raise ValueError(f'hf_energy_loss: space must be one of {ENERGY_SPACES}, got {space!r}')
    p = int(pool)

    def band(x):
        y = _energy_band(x, space)
        return F.avg_pool2d(y, p, stride=p) if p > 1 else y
    w = max(1, int(window) // p)
    ep = local_rms(laplacian(band(pred)), w)
    et = local_rms(laplacian(band(target.detach())), w)
    d = paddle.abs(ep - et)
    if space == 'rgb':
        d = d.reshape([pred.shape[0], -1, d.shape[2], d.shape[3]])
    return reduce_loss(d, reduction)


def fft_amplitude_loss(pred, target, reduction='mean', space='rgb'):
    """L1 between the orthonormal 2-D Fourier amplitudes of ``pred`` and ``target`` per channel.

    ``space='luma'`` compares the amplitudes of the BT.601 luma only. Per RGB channel the amplitudes say
    nothing of how the channels' phases line up, so texture asked for that way can come out as colour
    speckle (independent texture per channel) where the GT has grey texture; luma asks for the texture's
    strength without touching the colour."""
    check_pair(pred, target, 'fft_amplitude_loss', channels=None)
    if space not in FFT_SPACES:
        raise ValueError(f'fft_amplitude_loss: space must be one of {FFT_SPACES}, got {space!r}')
    if space == 'luma':
        check_pair(pred, target, 'fft_amplitude_loss')
        pred, target = luma(pred), luma(target)
    ap = paddle.abs(paddle.fft.rfft2(pred, norm='ortho'))
    at = paddle.abs(paddle.fft.rfft2(target.detach(), norm='ortho'))
    return reduce_loss(paddle.abs(ap - at), reduction)


def gaussian_blur(x, sigma):
    """Depthwise Gaussian blur (kernel radius 3 sigma, reflect-padded, same size) of an NCHW tensor."""
    r = max(1, int(round(3 * float(sigma))))
    g = paddle.exp(-paddle.arange(-r, r + 1, dtype=x.dtype) ** 2 / (2 * float(sigma) ** 2))
    g = g / g.sum()
    c = x.shape[1]
    y = F.pad(x, [r, r, r, r], mode='reflect')
    y = F.conv2d(y, paddle.tile(g.reshape([1, 1, 1, -1]), [c, 1, 1, 1]), groups=c)
    return F.conv2d(y, paddle.tile(g.reshape([1, 1, -1, 1]), [c, 1, 1, 1]), groups=c)


def lowpass_l1_loss(pred, target, sigma=1.0, reduction='mean'):
    """L1 between the Gaussian-blurred (``sigma`` px) ``pred`` and ``target``, all channels."""
    check_pair(pred, target, 'lowpass_l1_loss', channels=None)
    if not float(sigma) > 0:
        raise ValueError(f'lowpass_l1_loss: sigma must be > 0, got {sigma}')
    return reduce_loss(paddle.abs(gaussian_blur(pred, sigma) - gaussian_blur(target.detach(), sigma)), reduction)


def subpixel_grid_loss(pred, target, period=4, window=8, reduction='mean'):
    """How much the luma error of ``pred`` follows a ``period``-pixel grid.

    A x4 pixel-shuffle network makes each of the 16 sub-pixel positions from its own output channel, so
    a bias per position shows as a fixed 4 x 4 pattern tiled over the image (a visible grid on texture).
    The luma error ``pred - target`` is averaged per position over ``window`` x ``window`` cells of
    the grid (local, as the pattern varies with content); the loss is the mean absolute deviation of
    those position means from their window's mean (without a grid, sampling alone keeps it above 0).
    It is blind to any error that is the same at every position, so it adds no pull towards a blurred
    output. H and W must be multiples of ``period``.
    """
    check_pair(pred, target, 'subpixel_grid_loss')
    p, w = int(period), int(window)
    if p < 2 or w < 1:
        raise ValueError(f'subpixel_grid_loss: period must be >= 2 and window >= 1, got {period}, {window}')
    h, wd = pred.shape[2:]
    if h % p or wd % p:
        raise ValueError(f'subpixel_grid_loss: H and W must be multiples of period {p}, got {h}x{wd}')
    d = F.pixel_unshuffle(luma(pred) - luma(target.detach()), p)  # N, p*p positions, H/p, W/p
    k = min(w, h // p, wd // p)
    m = F.avg_pool2d(d, k, stride=k)
    return reduce_loss(paddle.abs(m - m.mean(axis=1, keepdim=True)), reduction)


def gradient_loss(pred, target, reduction='mean'):
    """L1 between the Sobel gradient magnitudes of the luma of ``pred`` and ``target``."""
    check_pair(pred, target, 'gradient_loss')

    def mag(x):
        y = luma(x)
        gx = _filter(y, _SOBEL_X)
        gy = _filter(y, [list(r) for r in zip(*_SOBEL_X)])
        return paddle.sqrt(gx * gx + gy * gy + 1e-8)
    return reduce_loss(paddle.abs(mag(pred) - mag(target.detach())), reduction)


@register_loss(log='hf')
class HFEnergyLoss(WeightedLoss):
    """``loss_weight`` x :func:`hf_energy_loss` (``pool``: measure the band ``pool`` times coarser; ``space``:
    'luma', 'grey' (mean of RGB) or 'rgb', per channel)."""
    OPTION_CHOICES = {**WeightedLoss.OPTION_CHOICES, 'space': ENERGY_SPACES}

    def __init__(self, loss_weight=1.0, window=8, reduction='mean', pool=1, space='luma'):
        super().__init__(loss_weight, reduction)
        if int(window) < 1 or int(pool) < 1:
            raise ValueError(f'window and pool must be >= 1, got {window}, {pool}')
        if space not in ENERGY_SPACES:
            raise ValueError(f'space must be one of {ENERGY_SPACES}, got {space!r}')
        self.window, self.pool, self.space = int(window), int(pool), space

    def forward(self, pred, target):
        return self.loss_weight * hf_energy_loss(pred, target, self.window, self.reduction, self.pool, self.space)


@register_loss(log='fft')
class FFTAmplitudeLoss(WeightedLoss):
    """``loss_weight`` x :func:`fft_amplitude_loss` (``space``: 'rgb' per channel, or 'luma')."""
    OPTION_CHOICES = {**WeightedLoss.OPTION_CHOICES, 'space': FFT_SPACES}

    def __init__(self, loss_weight=1.0, reduction='mean', space='rgb'):
        super().__init__(loss_weight, reduction)
        if space not in FFT_SPACES:
            raise ValueError(f'space must be one of {FFT_SPACES}, got {space!r}')
        self.space = space

    def forward(self, pred, target):
        return self.loss_weight * fft_amplitude_loss(pred, target, self.reduction, self.space)


@register_loss(log='grad')
class GradientLoss(WeightedLoss):
    """``loss_weight`` x :func:`gradient_loss`."""
    fn = staticmethod(gradient_loss)


@register_loss(log='lowpass')
class LowPassL1Loss(WeightedLoss):
    """``loss_weight`` x :func:`lowpass_l1_loss`."""

    def __init__(self, loss_weight=1.0, sigma=1.0, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if not float(sigma) > 0:
            raise ValueError(f'sigma must be > 0, got {sigma}')
        self.sigma = float(sigma)

    def forward(self, pred, target):
        return self.loss_weight * lowpass_l1_loss(pred, target, self.sigma, self.reduction)


@register_loss(log='grid')
class SubpixelGridLoss(WeightedLoss):
    """``loss_weight`` x :func:`subpixel_grid_loss`."""

    def __init__(self, loss_weight=1.0, period=4, window=8, reduction='mean'):
        super().__init__(loss_weight, reduction)
        if int(period) < 2 or int(window) < 1:
            raise ValueError(f'period must be >= 2 and window >= 1, got {period}, {window}')
        self.period, self.window = int(period), int(window)

    def forward(self, pred, target):
        return self.loss_weight * subpixel_grid_loss(pred, target, self.period, self.window, self.reduction)
