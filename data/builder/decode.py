"""Decode the selected frames of a video for the keyframe extractor.

ffmpeg decodes only what the mode needs (``-skip_frame nokey`` for keyframes) and keeps exactly the
selected frames with the ``select`` filter; ``media.video_reader.FrameReader`` reads them with their
pts, time, size and picture type while ffmpeg keeps decoding, so nothing is encoded twice. This
module adds the mode's filter and the extractor's wording of ffmpeg's failures.
"""
import re

from realesrgan_paddle.media.ffmpeg import error_reason, stream_lines, video_streams
from realesrgan_paddle.media.video_reader import FrameReader as _Reader

MODES = ('key', 'scene', 'interval')


def select_expr(mode, threshold=0.3, every=1.0):
    if mode == 'key':
        # The decoder skips non-key frames already; select also drops the
        # non-key frames of decoders that ignore skip_frame (Cinepak, ...).
        return 'eq(key,1)'
    if mode == 'scene':
        return f'eq(n,0)+gt(scene,{float(threshold):g})'
    if mode == 'interval':
        if every <= 0:
            raise ValueError('--every must be > 0 seconds')
        # 1 ms of slack: t - prev_selected_t of frames 0.4 s apart can be 0.39999..., which would take the frame
        # after (a 10 fps clip sampled every 0.4 s gave frames 0.5 s apart, 102 instead of 125 in 50 s)
        return f'isnan(prev_selected_t)+gte(t-prev_selected_t+0.001,{float(every):g})'
    raise ValueError(f'unknown mode {mode!r}; choose one of {", ".join(MODES)}')


def classify_error(path, lines, rc):
    """One line saying what is wrong with ``path`` from ffmpeg's stderr."""
    text = '\n'.join(lines)
    name = str(path)
    if 'matches no streams' in text or 'does not contain any stream' in text:
        return f'{name}: has no video stream'
    if re.search(r'^Input #0', text, re.M) and stream_lines(text) and not video_streams(text):
        return f'{name}: has no video stream'  # newer ffmpeg fails on the input options before mapping
    if re.search(r'No such file or directory', text):
        return f'{name}: no such file'
    if re.search(r'Decoder \(codec [^)]*\) not found|Unsupported codec|unknown codec|could not find codec',
                 text, re.I):
        return (f'{name}: uses a video codec this ffmpeg cannot decode; '
                f'use a full ffmpeg build (apt-get install ffmpeg) or re-encode the file')
    if re.search(r'Invalid data found|moov atom not found|invalid header|End of file', text, re.I):
        return f'{name}: is corrupt or not a video (ffmpeg: Invalid data found when processing input)'
    tail = '\n'.join(ln for ln in lines if 'Parsed_showinfo' not in ln)
    return f'{name}: ffmpeg failed (exit {rc}): {error_reason(tail) if tail.strip() else "no message"}'


class FrameReader(_Reader):
    """Iterate ``(frame_bgr_uint8, info)`` over the frames of ``path`` that ``mode`` selects
    (``media.video_reader.FrameReader``); a failure is a one-line ``VideoError`` from ``classify_error``."""

    def __init__(self, path, mode='key', threshold=0.3, every=1.0, exe=None, prefetch=8):
        expr = select_expr(mode, threshold, every).replace(',', r'\,')  # a comma would end the filter
        super().__init__(path, filters=[f'select={expr}'], input_args=['-skip_frame', 'nokey'] if mode == 'key' else [],
                         exe=exe, prefetch=prefetch)

    def failure(self):
        return classify_error(self.path, self.log, self.returncode)
