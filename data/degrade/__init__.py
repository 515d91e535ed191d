"""The degradations: the ops (``kernels``, ``filters``, ``noise``, ``jpeg``, ``resize``, ``usm``; ``ops`` gathers
them), the second-order flow as a list of stages (``second_order``: a new degradation is one ``Stage``), the video
codec step (``codec``; ``codec_cache`` makes codec-degraded training images ahead), another draw of a batch's noise
and codec for the stability loss (``redraw``) and the batch slices on one thread per core (``slicing``).
"""
