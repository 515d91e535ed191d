"""Small shared helpers: image I/O, checkpoints, atomic files, ffmpeg, logging, metrics.

Nothing here is imported eagerly: import the submodule you need.
"""
