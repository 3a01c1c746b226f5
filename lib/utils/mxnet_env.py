"""MXNet environment defaults set before MXNet is imported (users' own settings win)."""
import os


def set_quiet_subgraph_log():
    """Do not log "Subgraph backend MKLDNN is activated" at every executor bind.

    Training binds one executor per input shape (fcis.core.shape_cache), so the line would
    repeat dozens of times; MXNET_SUBGRAPH_VERBOSE=1 brings it back.
    """
    os.environ.setdefault('MXNET_SUBGRAPH_VERBOSE', '0')
