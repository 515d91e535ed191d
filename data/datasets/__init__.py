"""Datasets for training and validation (numpy items, usable with paddle.io.DataLoader).

* :class:`RealESRGANDataset`: HR images only; random ``crop_pad_size`` crop
  (default 400, padded by reflection when smaller), flips/rotations, and the
  per-sample blur kernels of the second-order degradation.
* :class:`PairedImageDataset`: (GT, LQ) pairs from two folders or a meta_info
  file of ``gt_rel, lq_rel`` lines; scale-consistent random crop for training,
  the whole image for validation.

Gray and 16-bit files are converted; unreadable files are skipped with a
warning that counts them (another random item is returned instead).
"""
import os
from pathlib import Path
from typing import Optional

import numpy as np

from realesrgan_paddle.data.degrade.codec_cache import CodecCache
from realesrgan_paddle.data.degrade.second_order import DEFAULT_DEGRADATION, resolve_options, sample_kernels
from realesrgan_paddle.data.datasets.transforms import augment, crop_or_pad, paired_random_crop, read_image_float
from realesrgan_paddle.utils.fileio import is_regular_file, open_regular, require_regular_file
from realesrgan_paddle.media.image_io import ImageReadError, image_to_chw
from realesrgan_paddle.utils.logger import get_logger
from realesrgan_paddle.media.kinds import IMAGE_EXTS

_MAX_TRIES = 50


def scan_images(root):
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f'image folder not found: {root}')
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob('*')
                   if p.suffix.lower() in IMAGE_EXTS and is_regular_file(p))  # a FIFO or a device: skipped
    if not files:
        raise ValueError(f'no images ({", ".join(IMAGE_EXTS)}) in {root}')
    return files


def _meta_path(line):
    line = line.strip()
    if line.endswith(')') and ' (' in line:  # BasicSR "name.png (h,w,c)"
        line = line[:line.rindex(' (')]
    return line


def _meta_text(path):
    """A meta_info file's text (a regular file only: a FIFO would hang the read)."""
    try:
        with open_regular(path, ValueError) as f:
            return f.read().decode('utf-8')
    except FileNotFoundError:
        raise ValueError(f'meta_info file not found: {path}') from None
    except UnicodeDecodeError:
        raise ValueError(f'{path}: a meta_info file must be UTF-8 text') from None


def read_meta_info(path):
    lines = [_meta_path(x) for x in _meta_text(path).splitlines()]
    return [x for x in lines if x]


def listed_path(root, rel, meta, allow_outside=False):
    """``root/rel`` for a meta_info line: kept inside ``root`` (no absolute path, no ``..`` out of it) unless
    ``allow_outside`` (the dataset option ``allow_outside_dataroot``), and never a FIFO or a device (a missing
    file is left to the reader, which skips it). ``ValueError``: one line naming the meta_info file and line."""
    full = os.path.normpath(os.path.join(str(root), rel))
    base = os.path.normpath(str(root))
    if not allow_outside and (os.path.isabs(rel) or os.path.commonpath([base, full]) != base):
        raise ValueError(f'{meta}: the line {rel!r} names a file outside the dataroot {root}; '
                         'set allow_outside_dataroot: true in the dataset options to allow it')
    try:
        require_regular_file(full, ValueError)
    except FileNotFoundError:
        pass
    except ValueError as e:
        raise ValueError(f'{meta}: the line {rel!r} names {e}') from None
    return full


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


class UnreadableDataset(ValueError):
    """Too many unreadable images in a row: the dataset (or its folder) is wrong, training cannot go on."""


class _BadFileCounter:
    """Counts skipped files; logs the first few and then every power of ten, not each one."""

    def __init__(self, logger):
        self.count, self.log = 0, logger

    def skip(self, err):
        self.count += 1
        n = self.count
        if n <= 3 or (n >= 10 and str(n).strip('0') == '1'):
            self.log.warning('skipping unreadable image (%d skipped so far): %s', n, err)


class _EpochDataset:
    """What the datasets share: ``set_epoch`` and the count of unreadable files ``skipped``."""

    def set_epoch(self, epoch):
        """Reseed per epoch (only matters with ``seed`` set)."""
        self.epoch = int(epoch)

    def close(self):
        """Stop background work (the codec cache's builder threads) before the process exits."""
        cache = getattr(self, 'cache', None)
        if cache is not None:
            cache.close()

    @property
    def skipped(self):
        return self.bad.count

    def _read(self, idx, rng, load, count, what):
        """``load(idx)``; an unreadable file is counted and skipped for another index drawn from ``rng`` (of
        ``count``), ``_MAX_TRIES`` times at most before ``UnreadableDataset``."""
        for _ in range(_MAX_TRIES):
            try:
                return load(idx)
            except ImageReadError as err:
                self.bad.skip(err)
                last = err
                idx = int(rng.integers(count))
        raise UnreadableDataset(f'{_MAX_TRIES} unreadable {what} in a row (last: {last}); check the dataset')


class RealESRGANDataset(_EpochDataset):
    """Items: ``gt`` (3, S, S) float32 RGB [0, 1], ``kernel1``, ``kernel2``, ``sinc_kernel``
    (21x21 float32) and ``gt_path``.

    Options (the keyword arguments; ``training.schema`` derives the ``datasets:`` keys from them):
    ``dataroot_gt`` (folder or list), ``meta_info`` (file or list, one per root; else the folders
    are scanned), ``crop_pad_size``, ``use_hflip``, ``use_rot``, ``seed`` (None: fresh randomness),
    the kernel keys of ``data.degrade.second_order.DEFAULT_DEGRADATION`` as keywords or under ``degradation``, and
    ``scale`` (the codec mode's), ``allow_outside_dataroot`` (meta_info lines may leave the dataroot). With ``codec_prob`` > 0 (codec mode) the items are ``gt`` and ``lq`` crops
    of whole images degraded ahead, codec included (``data.degrade.codec_cache``), instead of ``gt`` and kernels.
    """
    OPTION_EXTRAS = DEFAULT_DEGRADATION  # taken by **kernel_options

    def __init__(self, dataroot_gt, meta_info=None, crop_pad_size=400, use_hflip=True, use_rot=False,
                 seed: Optional[int] = None, degradation: Optional[dict] = None, scale: int = 4,
                 allow_outside_dataroot: bool = False, **kernel_options):
        deg = dict(degradation or {})
        deg.update(kernel_options)
        self.deg_opt = resolve_options(deg)  # names an unknown keyword as an unknown degradation option
        self.crop = int(crop_pad_size)
        if self.crop < 1:
            raise ValueError(f'crop_pad_size must be >= 1, got {self.crop}')
        self.hflip, self.rot = bool(use_hflip), bool(use_rot)
        self.seed = seed
        self.epoch = 0
        roots = _as_list(dataroot_gt)
        metas = _as_list(meta_info) if meta_info else []
        if metas and len(metas) not in (1, len(roots)):
            raise ValueError(f'{len(metas)} meta_info files for {len(roots)} roots: give one per root')
        if len(metas) == 1 and len(roots) > 1:
            metas = metas * len(roots)
        self.paths = []
        for i, root in enumerate(roots):
            if metas:
                self.paths += [listed_path(root, r, metas[i], allow_outside_dataroot)
                               for r in read_meta_info(metas[i])]
            else:
                self.paths += [os.path.join(str(root), r) for r in scan_images(root)]
        if not self.paths:
            raise ValueError(f'no images listed for {roots}')
        self.log = get_logger('resr.data')
        self.bad = _BadFileCounter(self.log)
        self.scale = int(scale)
        self.cache = None  # codec mode: built on first use, in the process that reads the items

    def __len__(self):
        return len(self.paths)

    def _rng(self, index):
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([int(self.seed), self.epoch, int(index)])

    def __getitem__(self, index):
        rng = self._rng(index)
        idx = int(index)
        if self.deg_opt['codec_prob'] > 0:
            return self._codec_item(idx, rng)
        path, img = self._read(idx, rng, lambda i: (self.paths[i], read_image_float(self.paths[i])), len(self.paths),
                               'images')
        img = augment([img], rng, self.hflip, self.rot)[0]
        img = crop_or_pad(img, self.crop, rng)
        item = {'gt': image_to_chw(img)}
        item.update(sample_kernels(self.deg_opt, rng))
        item['gt_path'] = str(path)
        return item

    def _codec_item(self, idx, rng):
        """Codec mode (``codec_prob`` > 0): a crop of the HR image and the same place of its whole-image LQ
        from ``data.degrade.codec_cache`` (the pipeline and the codec ran on the whole image): ``gt``, ``lq``."""
        if self.cache is None:
            self.cache = CodecCache(self.paths, self.deg_opt, self.scale,
                                    seed=None if self.seed is None else int(self.seed))
        lq = self.cache.lq(idx).astype(np.float32) / 255.0
        gt = read_image_float(self.paths[idx])  # unreadable files fail the cache first, with their name
        s, size = self.scale, max(1, self.crop // self.scale)
        gt = gt[:lq.shape[0] * s, :lq.shape[1] * s]
        if lq.shape[0] < size or lq.shape[1] < size:  # pad both the same way (reflection)
            ph, pw = max(0, size - lq.shape[0]), max(0, size - lq.shape[1])
            lq = np.pad(lq, ((0, ph), (0, pw), (0, 0)), mode='symmetric')
            gt = np.pad(gt, ((0, ph * s), (0, pw * s), (0, 0)), mode='symmetric')
        gt, lq = paired_random_crop(gt, lq, size * s, s, rng)
        gt, lq = augment([gt, lq], rng, self.hflip, self.rot)
        return {'gt': image_to_chw(gt), 'lq': image_to_chw(lq), 'gt_path': str(self.paths[idx])}


def read_paired_meta_info(path):
    pairs = []
    for n, line in enumerate(_meta_text(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(',')]
        if len(parts) != 2 or not all(parts):
            raise ValueError(f'{path}:{n}: expected "gt_rel, lq_rel", got {line.strip()!r}')
        pairs.append(tuple(parts))
    if not pairs:
        raise ValueError(f'no pairs in meta_info file {path}')
    return pairs


class PairedImageDataset(_EpochDataset):
    """Items: ``lq``, ``gt`` (CHW float32 RGB [0, 1]), ``lq_path``, ``gt_path``.

    Options (the keyword arguments): ``dataroot_gt``, ``dataroot_lq``, ``meta_info`` (optional,
    ``gt_rel, lq_rel`` lines), ``scale``, ``phase`` ('train' crops ``gt_size`` and augments;
    anything else returns whole images with the GT trimmed to ``scale`` x LQ), ``gt_size``,
    ``use_hflip``, ``use_rot``, ``filename_tmpl`` (the LQ stem made from the GT stem in folder
    mode), ``seed``, ``allow_outside_dataroot`` (meta_info lines may name files outside the two roots).
    """

    def __init__(self, dataroot_gt, dataroot_lq, scale: int, meta_info=None, phase='val',
                 gt_size: Optional[int] = None, use_hflip=True, use_rot=True, filename_tmpl='{}',
                 seed: Optional[int] = None, allow_outside_dataroot: bool = False):
        self.scale = int(scale)
        self.train = phase == 'train'
        self.gt_size = int(gt_size or 0)
        if self.train and self.gt_size < self.scale:
            raise ValueError(f'training needs gt_size >= scale, got gt_size={self.gt_size}')
        self.hflip, self.rot = bool(use_hflip), bool(use_rot)
        self.seed, self.epoch = seed, 0
        self.log = get_logger('resr.data')
        self.bad = _BadFileCounter(self.log)
        gt_root, lq_root = Path(dataroot_gt), Path(dataroot_lq)
        if meta_info:
            pairs = read_paired_meta_info(meta_info)
        else:
            tmpl = filename_tmpl
            if not lq_root.is_dir():
                raise ValueError(f'image folder not found: {lq_root}')
            lq_index = {}
            for rel in scan_images(lq_root):
                p = Path(rel)
                lq_index.setdefault((p.parent.as_posix(), p.stem), rel)
            pairs, missing = [], []
            for rel in scan_images(gt_root):
                p = Path(rel)
                lq_rel = lq_index.get((p.parent.as_posix(), tmpl.format(p.stem)))
                (pairs.append((rel, lq_rel)) if lq_rel else missing.append(rel))
            if missing:
                self.log.warning('%d GT images have no LQ partner in %s (first: %s)', len(missing), lq_root,
                                 missing[0])
            if not pairs:
                raise ValueError(f'no GT/LQ pairs between {gt_root} and {lq_root}')
        if meta_info:
            self.pairs = [(listed_path(gt_root, g, meta_info, allow_outside_dataroot),
                           listed_path(lq_root, q, meta_info, allow_outside_dataroot)) for g, q in pairs]
        else:
            self.pairs = [(str(gt_root / g), str(lq_root / q)) for g, q in pairs]

    def __len__(self):
        return len(self.pairs)

    def _load(self, idx, rng):
        gt_path, lq_path = self.pairs[idx]
        gt, lq = read_image_float(gt_path), read_image_float(lq_path)
        s = self.scale
        if gt.shape[0] < lq.shape[0] * s or gt.shape[1] < lq.shape[1] * s:
            raise ImageReadError(f'{gt_path}: {gt.shape[0]}x{gt.shape[1]} is smaller than {s} x the LQ '
                                  f'{lq.shape[0]}x{lq.shape[1]} ({lq_path})')
        if self.train:
            try:
                gt, lq = paired_random_crop(gt, lq, self.gt_size, s, rng)
            except ValueError as e:
                raise ImageReadError(f'{gt_path}: {e}') from None
            gt, lq = augment([gt, lq], rng, self.hflip, self.rot)
        else:
            gt = gt[:lq.shape[0] * s, :lq.shape[1] * s]
        return gt, lq, gt_path, lq_path

    def __getitem__(self, index):
        rng = (np.random.default_rng() if self.seed is None
               else np.random.default_rng([int(self.seed), self.epoch, int(index)]))
        idx = int(index)
        gt, lq, gt_path, lq_path = self._read(idx, rng, lambda i: self._load(i, rng), len(self.pairs), 'pairs')
        return {'lq': image_to_chw(lq), 'gt': image_to_chw(gt), 'lq_path': lq_path, 'gt_path': gt_path}


# ``type:`` -> dataset, for ``datasets.train`` / ``datasets.val`` (``training.schema``)
DATASETS = {'RealESRGANDataset': RealESRGANDataset, 'PairedImageDataset': PairedImageDataset}
