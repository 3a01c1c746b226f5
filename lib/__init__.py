"""Model-independent parts of FCIS: boxes, NMS, masks, RPN anchors, datasets, evaluation,
the native operator library and utilities.

Importing ``lib`` prepares the process for MXNet (thread count, log level, numpy names
MXNet 1.9.1 needs, the engine: lib/utils/mxnet_env.py), so every entry point imports it
before ``mxnet``."""
from .utils.mxnet_compat import prepare_numpy
from .utils.mxnet_env import set_quiet_subgraph_log, start_default_engine
from .utils.threads import set_default_threads

set_default_threads()
set_quiet_subgraph_log()
prepare_numpy()
start_default_engine()
