"""Choosing tiles from a memory budget (``--max-memory``), or, the rule before it, from free memory.

The budget is the peak RSS of the process. ``plan_tiles`` adds up what an
upscale holds at its peak:

- the process once the model is set up (measured: ``current_rss`` at the end of ``Upscaler`` setup);
- the image buffers, whatever the tiles (the caller's ``fixed``: the float LR input and the output
  image, plus the alpha plane or a resized copy when there is one);
- one band of the feathered blend: a float32 accumulator one window high and the output wide
  (``inference.tiling.tiled_bands``), plus one more plane for the rows being converted;
- one window's network output, its weighted copy and weight;
- the engine's working set for one window: the network's ``ArchSpec.bytes_per_pixel`` per LR pixel
  times ``ENGINE_FACTOR``. For x4plus the spec says 17 KB/px; the CPU predictor measured 16 KB/px of
  window (0.68 GiB after setup; 1.59, 1.89 and 3.30 GiB peak at 148, 276 and 404 px windows).

- after the tiles, while the output is encoded (``media.image_io.imwrite``): OpenCV's encoder grows its buffer
  by doubling and the Python binding copies it into an array, up to 3x the encoded size. Measured PNGs of x4
  outputs of photos are 0.37-0.42 of the raw bytes, so this counts ``ENCODE_SHARE`` (1.5) x the output image's
  bytes. The window and band buffers are freed by then (the heap keeps them for reuse: the project's malloc
  settings never hand memory back), so the peak is the larger of the two phases, not their sum.

The per-window terms leave out the heap's growth from window to window (the engine's arena and fragmentation:
on the OpenVINO engine a 1200x750 photo grew 536 -> 734 MB over 9 windows of the same size, 6.5 % over its
plan; x4plus on a 2592x1456 photo, 91 windows, peaked at 2.02 GiB, 9.8 % over its 1.84 GiB plan, past the 2 GiB
budget at a share of 93 %), so the tiles are planned for ``PLAN_SHARE`` (85 %) of the budget.

A network whose smallest window (``smallest_window``) alone needs more than the process can still take
(``utils.host_memory.available_memory``: the host and its cgroup) is refused before it runs (``check_room``,
at the ``Upscaler``'s setup), and so is an input whose smallest tiles would not fit (``NoRoom``): a window of
128 with 6 heads is 6 x 128^4 attention weights per window, 1.6 GB, which went to the kernel's OOM killer.

Among the tilings that fit, it takes the one that sends the fewest pixels through the network
(windows overlap by ``2 * tile_pad``, so fewer, larger windows waste less), rows and columns split
evenly: for a 2592x1456 photo at 2 GiB that is 7 x 12 windows of about 228x236 instead of square ones.
"""
import ctypes
import math
import re

from collections.abc import Mapping

import numpy as np

from realesrgan_paddle.utils.host_memory import available_memory

from .tiling import window_starts

DEFAULT_MAX_MEMORY = 2 << 30
DEFAULT_HEADROOM = 1 << 30  # the default budget, in a process already larger than DEFAULT_MAX_MEMORY
# engine working set per LR pixel = the spec's estimate times this (the dynamic graph keeps more alive:
# 83 KB/px marginal for x4plus, 0.89 GiB at 64x64 and 1.87 GiB at 128x128)
ENGINE_FACTOR = {'predictor': 1.05, 'dynamic': 5.0}
ENCODE_SHARE = 1.5    # the encoder's buffers per byte of output image (see the module's docstring)
PLAN_SHARE = 0.85     # the share of the budget the tiles are planned for (see the module's docstring)
SAFETY = 2.0          # the free-memory rule
SAFETY_DYNAMIC = 5.0
MIN_TILE = 32
MAX_TILE_CPU = 1024   # the free-memory rule
_UNITS = {'': 1, 'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}


def parse_memory(text):
    """Bytes from ``2G``, ``1.5GiB``, ``1500M``, ``2048MB`` or a plain number of bytes; ``'free'`` stays
    ``'free'`` (the rule before budgets: half of the free memory). ValueError (one line) otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = str(text).strip().lower()
        if raw == 'free':
            return 'free'
        m = re.fullmatch(r'(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?', raw)
        if not m:
            raise ValueError(f'{text!r} is not a memory size (examples: 2G, 1500M, 4GiB, free)')
        value = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(value) or value < 64 << 20:
        raise ValueError(f'{text!r} is too small: give at least 64M')
    return int(value)


def format_bytes(n):
    return f'{n / (1 << 30):.2f} GiB' if n >= 1 << 30 else f'{n / (1 << 20):.0f} MiB'


def _proc_kib(path, key):
    """The ``key:`` line of a /proc file in bytes (its value is in KiB), or None where it is missing."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def release_freed_memory():
    """Hand heap memory that is free but still held back to the OS (glibc ``malloc_trim``), so that
    ``current_rss`` measures what the process uses: a one-time check (the bf16 verdict runs two predictors)
    otherwise leaves hundreds of MB counted against the tile budget."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def current_rss():
    """Resident memory of this process in bytes (``VmRSS``), or None where /proc is missing."""
    return _proc_kib('/proc/self/status', 'VmRSS')


def gpu_memory(idx=0):
    try:
        import paddle
        return int(paddle.device.cuda.get_device_properties(idx).total_memory)
    except Exception:  # no CUDA build: the caller falls back to host memory
        return None


def net_facts(net):
    """``models.specs.NetFacts`` of ``net``: itself when it is one (what the upscaler read of its network once),
    else read from the spec of ``net``, an arch dict."""
    if not isinstance(net, Mapping):
        return net
    from realesrgan_paddle import models  # lazy: `import inference` stays free of paddle
    return models.net_facts(net)


def activation_bytes_per_pixel(net):
    """Estimated fp32 working set of one forward, in bytes per LR input pixel (from the network's spec); ``net``:
    an arch dict or its ``models.specs.NetFacts``."""
    return net_facts(net).bytes_per_pixel


def _ceil_to(v, m):
    return -(-v // m) * m


class NoRoom(ValueError):
    """The smallest window a network runs on, or the smallest tiles of an input, need more memory than this
    process can still take."""


def smallest_window(tile_pad, mod):
    """The side of the smallest window the tile planner makes: ``MIN_TILE`` (or ``mod``) plus its overlap."""
    pad = _ceil_to(tile_pad, mod) if tile_pad > 0 else 0
    return _ceil_to(max(MIN_TILE, mod), mod) + 2 * pad


def window_bytes(net, wh, ww, backend='predictor', engine_bytes=None):
    """Bytes one ``wh`` x ``ww`` window takes: the engine's working set (the spec's per-pixel estimate, or what
    ``engine_bytes(wh, ww)`` measured of the graph when larger) and its output, weighted copy and weight."""
    facts = net_facts(net)
    scale, channels = facts.scale, facts.out_channels
    engine = ENGINE_FACTOR.get(backend, ENGINE_FACTOR['predictor']) * facts.bytes_per_pixel * wh * ww
    if engine_bytes is not None:
        engine = max(engine, engine_bytes(wh, ww))
    return engine + 4 * (2 * channels + 1) * wh * ww * scale * scale


def check_room(net, tile_pad, mod, where, backend='predictor', engine_bytes=None):
    """NoRoom (one line naming ``where``) when the smallest window alone needs more than this process can
    still take; else the bytes it needs."""
    side = smallest_window(tile_pad, mod)
    facts = net_facts(net)
    need, room = window_bytes(facts, side, side, backend, engine_bytes), available_memory()
    if need > room:
        raise NoRoom(f'{where}: one {side}x{side} window, the smallest tile of this {facts.type}, needs about '
                     f'{format_bytes(need)}, more than the {format_bytes(room)} this process can still take: not run')
    return need


def _axis_splits(size, pad, mod):
    """``(n_windows, tile, window)`` for every way of cutting ``size`` LR pixels into ``n`` even tiles
    (multiples of ``mod``), down to ``MIN_TILE``."""
    seen, out = set(), []
    for n in range(1, max(1, size // MIN_TILE) + 1):
        tile = max(mod, _ceil_to(-(-size // n), mod))
        starts, win = window_starts(size, tile, pad)
        if win not in seen:
            seen.add(win)
            out.append((len(starts), tile, win))
        if tile <= MIN_TILE:
            break
    return out


class TilePlan:
    """``tile``: 0 (one piece) or ``(tile_h, tile_w)``; ``peak``: the estimated peak RSS in bytes;
    ``fits``: whether that is within the budget (else these are the smallest tiles)."""

    def __init__(self, tile, peak, fits, windows):
        self.tile, self.peak, self.fits, self.windows = tile, peak, fits, windows

    def describe(self):
        if not self.tile:
            return 'one piece'
        return f'{self.tile[0]}x{self.tile[1]} ({self.windows} windows)'


def encode_bytes(out_bytes):
    """The encoder's peak extra bytes for an output image of ``out_bytes`` (``ENCODE_SHARE`` of it)."""
    return int(ENCODE_SHARE * out_bytes)


def plan_tiles(net, h, w, tile_pad, mod=1, budget=DEFAULT_MAX_MEMORY, base=0, fixed=0, backend='predictor',
               device_budget=None, encode=0, engine_bytes=None):
    """The tiling of an ``h`` x ``w`` LR input (already padded to ``mod``) whose estimated peak stays within
    ``PLAN_SHARE`` of ``budget`` bytes: ``base`` (the process as set up) + ``fixed`` (image buffers) + the engine +
    the larger of band + window (the tiles) and ``encode`` (the encoder's buffers, after the tiles).
    ``device_budget``: on a GPU, the bytes the engine may use there (the window's working set goes there).
    ``engine_bytes(wh, ww)``: the engine's bytes for a window as measured of the graph (ONNX), when larger than
    the spec's estimate. Returns a ``TilePlan``."""
    facts = net_facts(net)
    scale, channels = facts.scale, facts.out_channels
    engine_px = ENGINE_FACTOR.get(backend, ENGINE_FACTOR['predictor']) * facts.bytes_per_pixel
    pad = _ceil_to(tile_pad, mod) if tile_pad > 0 else 0
    ss = scale * scale
    best = None
    for ny, th, wh in _axis_splits(h, pad, mod):
        band = 4 * (channels + 1) * wh * scale * w * scale  # the accumulator and the rows being converted
        for nx, tw, ww in _axis_splits(w, pad, mod):
            window = 4 * (2 * channels + 1) * wh * ww * ss  # network output, weighted copy, weight
            engine = engine_px * wh * ww if engine_bytes is None else max(engine_px * wh * ww, engine_bytes(wh, ww))
            host = base + fixed + max(band + window, encode) + (0 if device_budget else engine)
            fits = host <= PLAN_SHARE * budget and (not device_budget or engine <= device_budget)
            work = ny * wh * nx * ww
            key = (not fits, work if fits else host, ny * nx)
            if best is None or key < best[0]:
                tile = 0 if ny == nx == 1 else (th, tw)
                best = (key, TilePlan(tile, int(host), fits, ny * nx))
            if fits:
                break  # more columns only add work
    return best[1]


def auto_tile(net, h, w, tile_pad, device_kind='cpu', backend='predictor'):
    """The rule before budgets (``--max-memory free``): LR tile size for an ``h`` x ``w`` input from half of
    the free memory: 0 (no tiling) when it fits, else the largest square tile that fits."""
    facts = net_facts(net)
    bpp = (SAFETY_DYNAMIC if backend == 'dynamic' else SAFETY) * facts.bytes_per_pixel
    scale = facts.scale
    budget = None
    if device_kind == 'gpu':
        total = gpu_memory()
        budget = 0.5 * total if total else None
    if budget is None:
        # host memory also holds the fp32 input, the fp32 HR accumulator and the final (up to 16-bit) image
        image_bytes = h * w * (4.0 * 3 + 4.0 * 3 * scale * scale + 2.0 * 3 * scale * scale)
        budget = 0.5 * available_memory() - image_bytes
    if h * w * bpp <= budget:
        return 0
    side = int(np.sqrt(max(budget, 0) / bpp)) - 2 * tile_pad
    side = max(MIN_TILE, min(side, MAX_TILE_CPU if device_kind == 'cpu' else 4096))
    return side // 16 * 16 if side >= 64 else side
