"""Logging to the console and to ``<output_dir>/<filename>`` at the same time."""
import logging
import os
import sys

LOG_FORMAT = '%(asctime)s %(levelname)s %(message)s'
_TAG = '_fcis_handler'  # marks the handlers this module added, so a second call replaces them


def create_logger(output_dir, name='fcis', filename='train.log', level=logging.INFO,
                  console=True):
    """Return logger ``name`` writing to the console (stderr) and to output_dir/filename.

    The folder is created. Calling again (e.g. a second run in one process) replaces the
    handlers installed by the previous call instead of duplicating every line. The log file
    is appended to, so a resumed run continues the same file.
    """
    os.makedirs(output_dir, exist_ok=True)
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        if getattr(handler, _TAG, False):
            logger.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    handlers = [logging.FileHandler(os.path.join(output_dir, filename), mode='a')]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _TAG, True)
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # the root logger would print every line a second time
    return logger
