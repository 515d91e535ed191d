"""Video upscaling, imported only when a video is given: the options of a video run (``options.py``), the one
frame loop (``frame_loop.py``, its threads and frame slots in ``stages.py``), the temporal stabiliser
(``stabiliser.py``), the one-pass run (``one_pass.py``) and the resumable segments (``segments/``)."""
