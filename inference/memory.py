"""Choosing a tile size from free memory.

The network's ``ArchSpec.bytes_per_pixel`` estimates the peak working memory of
one forward per LR input pixel (fp32). For x4plus it gives 17 KB/px; the CPU
predictor's measured marginal peak RSS is 18 KB/px (0.60 GiB at 64x64,
0.81 GiB at 128x128, docs/history/issue-3.md), hence the x2 safety factor.
"""
import os

import numpy as np

SAFETY = 2.0
# the dynamic graph keeps more alive: 83 KB/px marginal for x4plus (0.89 GiB at 64x64, 1.87 GiB at 128x128)
SAFETY_DYNAMIC = 5.0
MIN_TILE = 32
MAX_TILE_CPU = 1024


def available_memory():
    """Bytes of host memory available now (MemAvailable), or a conservative guess."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def gpu_memory(idx=0):
    try:
        import paddle
        return int(paddle.device.cuda.get_device_properties(idx).total_memory)
    except Exception:  # no CUDA build: the caller falls back to host memory
        return None


def activation_bytes_per_pixel(arch):
    """Estimated fp32 working set of one forward, in bytes per LR input pixel (from the network's spec)."""
    import models  # lazy: `import inference` stays free of paddle
    return float(models.get_spec(arch).bytes_per_pixel(arch))


def auto_tile(arch, h, w, tile_pad, device_kind='cpu', backend='predictor'):
    """LR tile size for an ``h`` x ``w`` input: 0 (no tiling) when it fits, else the largest that fits."""
    bpp = (SAFETY_DYNAMIC if backend == 'dynamic' else SAFETY) * activation_bytes_per_pixel(arch)
    import models
    scale = models.net_scale(arch)
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
