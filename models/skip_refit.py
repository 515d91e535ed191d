"""Move an SRVGGNetCompact checkpoint from one skip to the other without changing what it computes.

The official compact networks add the input repeated in 4x4 cells (``skip: nearest``); their body has learnt
to cancel those cell edges. Loaded as they are into the ``bilinear`` network, the body's cancelling pattern
shows as a fine mesh on smooth areas (25-40 dB from the official output on real frames), and a finetune
starting there keeps it. The difference of the two skips, ``nearest(x) - bilinear(x)``, is a linear function
of each input pixel's 3x3 neighbourhood, and the body's last features still carry the input: refitting the
last conv by least squares (ridge) on a few calibration images makes the new network compute the old one's
function to 43-50 dB. Only the last conv changes.

The calibration images are the generic photos the pipeline ships (``assets/generic``), shrunk by the scale
with area averaging and JPEG-compressed at two qualities, centre crops of at most ``CROP`` LR pixels:
deterministic, no user data needed.
"""
from pathlib import Path

import cv2
import numpy as np
import paddle
import paddle.nn.functional as F

from . import build_network
from .archs.compact.srvgg import SKIPS, upsample_skip

CALIBRATION_DIR = Path(__file__).resolve().parents[1] / 'assets' / 'generic'
CROP = 96
JPEG_QUALITIES = (40, 90)
RIDGE = 1e-4  # times the mean diagonal of the normal matrix


def calibration_images(scale, channels=3, folder=CALIBRATION_DIR):
    """LR float32 arrays (C, H, W) in [0, 1], RGB (or grey for ``channels`` 1), from the photos in ``folder``."""
    files = sorted(Path(folder).glob('*.png'))
    if not files:
        raise FileNotFoundError(f'skip refit: no calibration photos (*.png) in {folder}')
    out = []
    for f in files:
        im = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if im is None:
            raise ValueError(f'skip refit: cannot read calibration photo {f}')
        h, w = im.shape[0] // scale, im.shape[1] // scale
        im = cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)
        y, x = max(0, (h - CROP) // 2), max(0, (w - CROP) // 2)
        im = im[y:y + CROP, x:x + CROP]
        for q in JPEG_QUALITIES:
            jp = cv2.imdecode(cv2.imencode('.jpg', im, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_COLOR)
            jp = cv2.cvtColor(jp, cv2.COLOR_BGR2GRAY)[..., None] if channels == 1 else jp[..., ::-1]
            out.append(np.ascontiguousarray(jp.transpose(2, 0, 1), dtype=np.float32) / 255.0)
    return out


def _normal_equations(net, images, to_skip):
    """``(X^T X, X^T T, cases)`` of the ridge problem: X the last conv's 3x3 input patches (plus 1 for the bias),
    T what the last conv must output so that the ``to_skip`` network gives ``net``'s output; ``cases`` keeps,
    per image, the last conv's input, the ``to_skip`` skip and ``net``'s output for the agreement check."""
    last, r = net.body[-1], net.upscale
    k = last.weight.shape[1] * 9 + 1
    xtx, xtt, cases = np.zeros((k, k)), np.zeros((k, last.weight.shape[0])), []
    with paddle.no_grad():
        for im in images:
            x = paddle.to_tensor(im[None])
            feat = net.body[:-1](x)
            out, skip = F.pixel_shuffle(last(feat), r) + upsample_skip(x, r, net.skip), upsample_skip(x, r, to_skip)
            target = F.pixel_unshuffle(out - skip, r)
            a = F.unfold(feat, 3, paddings=1)[0].numpy().T
            a = np.concatenate([a, np.ones((a.shape[0], 1), np.float32)], 1)
            t = target[0].reshape([target.shape[1], -1]).numpy().T
            xtx += a.T @ a
            xtt += a.T @ t
            cases.append((feat, skip, out))
    return xtx, xtt, cases


def refit_skip(state, arch, to_skip):
    """``(state, report)``: ``state`` (an SRVGGNetCompact checkpoint's weights, built as ``arch``) with its last conv
    refitted so that the network with ``skip: to_skip`` computes what ``arch``'s network computes. ``report`` holds
    the worst PSNR (dB, outputs clipped to [0, 1]) of the new network against the old one over the calibration
    images, their number and the new skip."""
    if to_skip not in SKIPS:
        raise ValueError(f'skip refit: skip must be one of {SKIPS}, got {to_skip!r}')
    net = build_network(dict(arch))
    net.set_state_dict({k: paddle.to_tensor(np.asarray(v)) for k, v in state.items()})
    net.eval()
    images = calibration_images(net.upscale, net.body[0].weight.shape[1])
    xtx, xtt, cases = _normal_equations(net, images, to_skip)
    n = xtx.shape[0]
    sol = np.linalg.solve(xtx + RIDGE * np.trace(xtx) / n * np.eye(n), xtt)
    key = f'body.{len(net.body) - 1}'  # the last conv
    weight = sol[:-1].T.reshape(net.body[-1].weight.shape).astype(np.float32)
    bias = sol[-1].astype(np.float32)
    out = {**state, f'{key}.weight': weight, f'{key}.bias': bias}
    return out, {'psnr_min': _agreement(cases, weight, bias, net.upscale), 'images': len(images), 'skip': to_skip}


def _agreement(cases, weight, bias, r):
    """The worst PSNR over ``cases`` of the refitted network (the new last conv on the kept features, plus the new
    skip) against the old network's output."""
    w, b, worst = paddle.to_tensor(weight), paddle.to_tensor(bias), np.inf
    with paddle.no_grad():
        for feat, skip, old in cases:
            new = F.pixel_shuffle(F.conv2d(feat, w, b, padding=1), r) + skip
            mse = float(paddle.mean((paddle.clip(new, 0, 1) - paddle.clip(old, 0, 1)) ** 2))
            worst = min(worst, 10 * np.log10(1.0 / max(mse, 1e-12)))
    return float(worst)
