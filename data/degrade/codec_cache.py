"""Codec-degraded training images, made ahead in a background thread.

A video codec cannot run per training batch on a CPU budget: each call starts two ffmpeg processes
(20-90 ms) and a tiny crop is not coded the way a whole frame is. With ``codec_prob > 0`` the training
set therefore degrades whole images instead of crops: each image goes through the second-order
pipeline (``data.degrade.second_order``, with the USM-sharpened GT as in training) and then the codec, in clips of
``codec_clip`` consecutive images of one source (same size, same file-name prefix, name order), each
clip with its own draw of the codec and CRF. One such pass over the data is a *generation*.

Generation ``g`` serves the items ``[g * n * reuse, (g + 1) * n * reuse)`` (``n`` images, ``reuse`` =
``codec_reuse``); generation ``g + 1`` is built on a background thread while ``g`` is served. Which
generation an item sees depends only on how many items were served, so a seeded run is reproducible
(a resumed run starts again at generation 0). Generation ``g`` draws from ``default_rng([seed, g])``.
"""
import re
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np

from realesrgan_paddle.data.degrade.codec import apply_codec, sample_codec
from realesrgan_paddle.media.image_io import chw_to_image, imread, to_bgr8

_PREFIX = re.compile(r'[-_ .]*[\d.]+$')
CODEC_BATCH = 16  # clips per pair of ffmpeg processes (data.degrade.codec.roundtrip_many)


def clip_groups(paths, sizes, clip):
    """Indices of ``paths`` in clips: same size and file-name prefix (the name without its trailing
    number or time), in name order, at most ``clip`` per clip."""
    groups = defaultdict(list)
    for i, p in enumerate(paths):
        stem = Path(p).stem
        groups[(sizes[i], Path(p).parent.as_posix(), _PREFIX.sub('', stem) or stem)].append(i)
    out = []
    for key in sorted(groups, key=str):
        idx = sorted(groups[key], key=lambda i: Path(paths[i]).name)
        out += [idx[k:k + clip] for k in range(0, len(idx), clip)]
    return out


def degrade_whole(img, opt, scale, rng):
    """One uint8 BGR image through the second-order pipeline (from its USM-sharpened self when
    ``usm_weight`` > 0, as the trainer does): the LQ as uint8 BGR."""
    from realesrgan_paddle.data.degrade.second_order import SecondOrderDegradation, image_to_tensor, sample_kernels
    k = sample_kernels(opt, rng)
    gt = image_to_tensor(img)
    deg = SecondOrderDegradation(opt, scale, threads=1)
    args = (gt, k['kernel1'][None], k['kernel2'][None], k['sinc_kernel'][None])
    lq = deg.with_usm(*args, rng=rng)[1] if opt['usm_weight'] > 0 else deg(*args, rng=rng)
    return np.ascontiguousarray(chw_to_image(lq))


class CacheClosed(RuntimeError):
    """The cache was closed while a generation was being built."""


def _check(stop):
    if stop is not None and stop.is_set():
        raise CacheClosed('the codec cache was closed')


def degrade_images(images, names, opt, scale, rng, stop=None):
    """LQ uint8 images of ``images`` (uint8 BGR; ``names`` give the clips): the pipeline, then the codec per
    clip. The training cache and the degradation fit (``data.fit.degradation_fit``) both make LQ this way.
    ``stop`` (a ``threading.Event``), checked before each image and batch of clips, ends the work with
    ``CacheClosed``."""
    lqs, clips, draws = degrade_uncoded(images, names, opt, scale, rng, stop)
    code_clips([(lqs, clips, draws, opt)], stop)
    return lqs


def degrade_uncoded(images, names, opt, scale, rng, stop=None):
    """The first half of ``degrade_images``: ``(LQ images before the codec, their clips, each clip's codec
    draw)``; the draws come after every image's, in clip order, so the random stream is the one of coding
    each clip in turn."""
    lqs = []
    for img in images:
        _check(stop)
        lqs.append(degrade_whole(img, opt, scale, rng))
    clips = clip_groups(names, [lq.shape for lq in lqs], int(opt['codec_clip']))
    return lqs, clips, [sample_codec(opt, rng) for _ in clips]


def code_clips(sets, stop=None):
    """The second half: for each ``(lqs, clips, draws, opt)`` of ``sets``, replace the images of each clip in
    ``lqs`` by the clip through its codec draw. The clips of all sets share ffmpeg processes,
    ``CODEC_BATCH`` clips per pair (``data.degrade.codec.roundtrip_many``)."""
    todo = [(lqs, clip, draw, opt) for lqs, clips, draws, opt in sets
            for clip, draw in zip(clips, draws) if draw is not None]
    for k in range(0, len(todo), CODEC_BATCH):
        _check(stop)
        part = todo[k:k + CODEC_BATCH]
        coded = apply_codec([[lqs[i] for i in clip] for lqs, clip, _, _ in part],
                            [draw for _, _, draw, _ in part], [opt for _, _, _, opt in part])
        for (lqs, clip, _, _), frames in zip(part, coded):
            for i, c in zip(clip, frames):
                lqs[i] = c


def build_generation(paths, opt, scale, rng, read, stop=None):
    """LQ uint8 images for ``paths`` (``read(path)`` -> uint8 BGR), as ``degrade_images``."""
    images = []
    for p in paths:
        _check(stop)
        images.append(read(p))
    return degrade_images(images, paths, opt, scale, rng, stop)


class CodecCache:
    """``lq(i)``: the current codec-degraded LQ (uint8 BGR) of ``paths[i]``; counts one served item."""

    def __init__(self, paths, opt, scale, seed=None, read=None):
        self.paths, self.opt, self.scale = list(paths), opt, int(scale)
        self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2 ** 63))
        self.read = read or (lambda p: to_bgr8(imread(p)))
        self.per_gen = len(self.paths) * int(opt['codec_reuse'])
        self.served = 0
        self.gen, self.current = -1, None
        self._next = {}  # generation -> (thread, result holder)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []  # every builder started, for close()

    def close(self, timeout=60.0):
        """Stop building generations and wait for the builder threads (each stops within one image or
        clip). Training calls it at its end: a daemon thread still inside cv2, paddle or a codec call
        when the interpreter exits aborts the process ("terminate called without an active exception")."""
        self._stop.set()
        for t in list(self._threads):
            t.join(timeout)

    def _start(self, g):
        if g in self._next or self._stop.is_set():
            return
        box = {}

        def work():
            try:
                box['lqs'] = build_generation(self.paths, self.opt, self.scale,
                                              np.random.default_rng([self.seed, g]), self.read, self._stop)
            except BaseException as exc:  # noqa: B902 - raised in the serving thread
                box['error'] = exc
        t = threading.Thread(target=work, name=f'codec-cache-{g}', daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        self._next[g] = (t, box)

    def _take(self, g):
        self._start(g)
        entry = self._next.pop(g, None)
        if entry is None:  # closed before generation g was started
            raise CacheClosed('the codec cache was closed')
        t, box = entry
        t.join()
        if 'error' in box:
            raise box['error']
        return box['lqs']

    def lq(self, index):
        with self.lock:
            g = self.served // self.per_gen
            if g != self.gen:
                self.current, self.gen = self._take(g), g
                self._start(g + 1)  # the next generation is made while this one is served
            self.served += 1
            return self.current[index]
