"""Contact sheet for model comparisons: one row per image, LQ (nearest) | model outputs | GT, labelled.

Rows can be cut to the window with the most detail (the GT's, or bicubic's without a GT), where
blur and artefacts show first.
"""
import cv2
import numpy as np


def label(img, text):
    """``img`` with ``text`` on a black box in the top-left corner."""
    out = np.ascontiguousarray(img).copy()
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
    cv2.putText(out, text, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
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


def write_sheet(path, tiles):
    """Stack rows (padded to one width, 4 px apart) and write the PNG atomically."""
    from utils.img_io import imwrite
    width = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 4), (0, width - t.shape[1]), (0, 0))) for t in tiles]
    return imwrite(path, np.vstack(tiles))
