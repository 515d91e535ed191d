"""What the one command reads and makes from the user's footage and photos: enough footage (``footage_check.py``),
photos (``photos.py``), the split by time (``split.py``), the real LQ footage (``real_lq.py``), real pairs
(``real_pairs.py``), consecutive LQ frames for the temporal loss (``lq_flow_pairs.py``) and the held-out frames'
crops (``crops.py``)."""
