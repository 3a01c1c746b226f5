"""Model-independent parts of FCIS: boxes, NMS, masks, RPN anchors, datasets, evaluation,
the native operator library and utilities."""
from .utils.mxnet_env import set_quiet_subgraph_log
from .utils.threads import set_default_threads

set_default_threads()
set_quiet_subgraph_log()
