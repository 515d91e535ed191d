"""``FrameSlots``: the video's frame-to-output-slot scheduler (constant-rate output from any source timing)."""
import numpy as np

from realesrgan_paddle.inference.video.stages import FrameSlots


def _frames(n):
    return [np.full((2, 2, 3), i, np.uint8) for i in range(n)]


def test_constant_rate_is_one_slot_per_frame():
    slots = FrameSlots(25)
    assert [slots.place(f, i / 25) for i, f in enumerate(_frames(5))] == [(True, 0)] * 5
    assert slots.next == 5


def test_unknown_times_follow_the_previous_frame():
    slots = FrameSlots(30)
    a, b, c = _frames(3)
    assert slots.place(a, None) == (True, 0)  # the first frame without a time is at 0 s
    assert slots.place(b, None) == (True, 0)
    assert slots.place(c, 0.5) == (True, 13)  # slot 15 after slots 0 and 1: slots 2-14 hold the previous


def test_gaps_hold_drops_and_repeats():
    slots = FrameSlots(25)
    a, b, c, d = _frames(4)
    assert slots.place(a, 0.0) == (True, 0)
    assert slots.place(b, 0.01) is None  # lands in slot 0, already shown: dropped
    assert slots.place(c, 0.12) == (True, 2)  # slot 3: slots 1 and 2 hold the previous picture
    assert slots.place(c.copy(), 0.16) == (False, 0)  # byte-identical: its picture again, not the model
    assert slots.place(d, 0.2) == (True, 0)


def test_a_late_video_start_leads_with_whole_slots():
    slots = FrameSlots(25)
    a, b = _frames(2)
    assert slots.place(a, 0.1) == (True, 2)  # 0.1 s after the audio: two slots before the first picture
    assert slots.place(b, 0.14) == (True, 0)


def test_a_dropped_frame_does_not_become_the_reference_for_repeats():
    slots = FrameSlots(10)
    a, b = _frames(2)
    assert slots.place(a, 0.0) == (True, 0)
    assert slots.place(b, 0.01) is None
    assert slots.place(a.copy(), 0.1) == (False, 0)  # equal to the last picture shown, not to the dropped one
