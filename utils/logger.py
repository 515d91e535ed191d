"""Logging to console and (optionally) a file, with one format everywhere."""
import logging
import sys

from realesrgan_paddle.utils.progress import TqdmHandler

_FMT = '%(asctime)s %(levelname)s %(name)s: %(message)s'


def get_logger(name='resr', log_file=None, level=logging.INFO):
    logger = logging.getLogger(name)
    logger.setLevel(level)
    if not any(getattr(h, '_resr_console', False) for h in logger.handlers):
        h = TqdmHandler(sys.stderr)  # never glued to a progress bar or a worker line
        h.setFormatter(logging.Formatter(_FMT, '%H:%M:%S'))
        h._resr_console = True
        logger.addHandler(h)
    if log_file and not any(getattr(h, 'baseFilename', None) == str(log_file) for h in logger.handlers):
        fh = logging.FileHandler(str(log_file))
        fh.setFormatter(logging.Formatter(_FMT))
        logger.addHandler(fh)
    logger.propagate = False
    return logger
