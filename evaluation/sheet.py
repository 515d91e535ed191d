"""Contact sheet for model comparisons: one row per image, LQ (nearest) | model outputs | GT, labelled.

Rows can be cut to the window with the most detail (the GT's, or bicubic's without a GT), where
blur and artefacts show first.
"""
import cv2
import numpy as np

from realesrgan_paddle.media.image_io import imwrite


FONT = cv2.FONT_HERSHEY_SIMPLEX
# what the captions' numbers are (a band under every sheet; the report and tools/evaluate.py say it too)
LEGEND = ('dB: PSNR against the GT (higher is closer). d: detail, the output\'s Laplacian energy over the GT\'s '
          '(1 = as detailed, below = blur). N: NIQE, no reference (lower is more natural). x: detail against '
          'bicubic (1 = as soft as bicubic).')


def fit_text(text, width, scale=0.45, min_scale=0.3):
    """``(lines, scale)``: ``text`` at the largest font scale from ``scale`` down to ``min_scale`` at which it fits
    ``width`` px; else broken at spaces into lines that fit at ``min_scale`` (a word too long for a line is cut
    with '..'). Labels never run past their panel into the next column."""
    def w(t, sc):
        return cv2.getTextSize(t, FONT, sc, 1)[0][0]
    sc = scale
    while sc > min_scale and w(text, sc) > width:
        sc = round(sc - 0.025, 3)
    if w(text, sc) <= width:
        return [text], sc
    lines = []
    for word in text.split():
        if lines and w(f'{lines[-1]} {word}', sc) <= width:
            lines[-1] = f'{lines[-1]} {word}'
            continue
        while len(word) > 1 and w(word, sc) > width:
            word = word[:-3] + '..' if len(word) > 3 else word[:-1]
        lines.append(word)
    return lines, sc


def label(img, text):
    """``img`` with ``text`` on a black box in the top-left corner, shrunk or wrapped to the image's width."""
    out = np.ascontiguousarray(img).copy()
    lines, sc = fit_text(text, out.shape[1] - 8)
    (_, th), base = cv2.getTextSize('Ag', FONT, sc, 1)
    step = th + base + 2
    tw = max(cv2.getTextSize(t, FONT, sc, 1)[0][0] for t in lines)
    cv2.rectangle(out, (0, 0), (min(tw + 8, out.shape[1] - 1), step * len(lines) + 6), (0, 0, 0), -1)
    for i, t in enumerate(lines):
        cv2.putText(out, t, (4, th + 4 + i * step), FONT, sc, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def laplacian_energy(ref):
    """Per pixel, the square of the grey 4-neighbour Laplacian of ``ref`` (BGR), float32."""
    y = cv2.cvtColor(ref[..., :3].astype(np.float32), cv2.COLOR_BGR2GRAY)
    lap = cv2.Laplacian(y, cv2.CV_32F, ksize=1)
    return lap * lap


def detail_window(ref, crop):
    """``(y0, x0, h, w)``: the ``crop`` x ``crop`` window of ``ref`` (BGR) with the most Laplacian energy."""
    h, w = ref.shape[:2]
    ch, cw = min(crop, h), min(crop, w)
    energy = cv2.boxFilter(laplacian_energy(ref), -1, (cw, ch), normalize=True, anchor=(0, 0),
                           borderType=cv2.BORDER_CONSTANT)
    energy = energy[:h - ch + 1, :w - cw + 1]
    y0, x0 = np.unravel_index(int(np.argmax(energy)), energy.shape)
    return int(y0), int(x0), ch, cw


def _caption(name, row):
    get = row.get
    if get(f'{name}_psnr') is not None:
        return f'{name} {get(f"{name}_psnr"):.2f}dB d{get(f"{name}_detail"):.2f} N{get(f"{name}_niqe"):.2f}'
    if get(f'{name}_niqe') is not None:
        return f'{name} N{get(f"{name}_niqe"):.2f} x{get(f"{name}_detail_vs_bicubic"):.2f}'
    return name


def sheet_row(lq, outs, gt, row, crop=None):
    """One sheet row: LQ | each output of ``outs`` ({name: BGR}) | GT (when given), captioned from ``row``."""
    first = next(iter(outs.values()))
    h, w = first.shape[:2]
    up = cv2.resize(lq, (w, h), interpolation=cv2.INTER_NEAREST)
    panel = [up] + list(outs.values()) + ([gt] if gt is not None else [])
    caps = ['LQ (nearest)'] + [_caption(n, row) for n in outs]
    if gt is not None:
        caps.append(f'GT N{row["gt_niqe"]:.2f}')
    if crop:
        ref = gt if gt is not None else cv2.resize(lq, (w, h), interpolation=cv2.INTER_CUBIC)
        y0, x0, ch, cw = detail_window(ref, crop)
        panel = [p[y0:y0 + ch, x0:x0 + cw] for p in panel]
    panel = [p if p.dtype == np.uint8 else (p.astype(np.float32) / 257.0).round().astype(np.uint8) for p in panel]
    return np.hstack([label(p, c) for p, c in zip(panel, caps)])


def legend_band(width, text=None):
    """A black band ``width`` px wide holding ``text`` (``LEGEND``), wrapped to fit: what the captions say."""
    lines, sc = fit_text(text or LEGEND, width - 8, min_scale=0.4)
    (_, th), base = cv2.getTextSize('Ag', FONT, sc, 1)
    step = th + base + 2
    band = np.zeros((step * len(lines) + 6, width, 3), np.uint8)
    for i, t in enumerate(lines):
        cv2.putText(band, t, (4, th + 4 + i * step), FONT, sc, (255, 255, 255), 1, cv2.LINE_AA)
    return band


def write_sheet(path, tiles):
    """Stack rows (padded to one width, 4 px apart) above the legend of their captions, and write the PNG
    atomically."""
    width = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 4), (0, width - t.shape[1]), (0, 0))) for t in tiles]
    return imwrite(path, np.vstack(tiles + [legend_band(width)]))
