"""Small shared helpers: atomic files and the cache root, the one argument parser and ``fail``, progress bars,
logging, downloads, MATLAB's bicubic resize, the process-wide CPU settings. Image and video I/O is ``media``; the
checkpoint reader is ``checkpoint_io``.

Nothing here is imported eagerly: import the submodule you need.
"""
