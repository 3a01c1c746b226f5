"""Model-independent parts of FCIS: boxes, NMS, masks, RPN anchors, datasets, evaluation,
the native operator library and utilities."""
from .utils.threads import set_default_threads

set_default_threads()
