"""MXNet environment defaults set before MXNet is imported (users' own settings win)."""
import glob
import importlib.util
import os

# MXNET_ENGINE_TYPE of a CPU-only MXNet build: every operator runs at once in the thread
# that pushes it, with OMP_NUM_THREADS OpenMP threads inside it. MXNet's threaded engine
# hands each operator to a worker thread instead, which costs more than the small
# operators of a CPU model take (benchmark.py train compares both).
CPU_ENGINE = 'NaiveEngine'


def set_quiet_subgraph_log():
    """Do not log "Subgraph backend MKLDNN is activated" at every executor bind.

    Training binds one executor per input shape (fcis.core.shape_cache), so the line would
    repeat dozens of times; MXNET_SUBGRAPH_VERBOSE=1 brings it back.
    """
    os.environ.setdefault('MXNET_SUBGRAPH_VERBOSE', '0')


def mxnet_has_cuda():
    """True when the installed MXNet distribution is a CUDA build (``mxnet-cu112`` etc.).

    Looks for its ``mxnet_cu*.dist-info`` folder beside the ``mxnet`` package, so it can run
    before MXNet is imported.
    """
    spec = importlib.util.find_spec('mxnet')
    if spec is None or not spec.submodule_search_locations:
        return False
    site = os.path.dirname(list(spec.submodule_search_locations)[0])
    return bool(glob.glob(os.path.join(site, 'mxnet_cu*.dist-info')))


def set_default_engine():
    """Use ``CPU_ENGINE`` on a CPU-only MXNet unless MXNET_ENGINE_TYPE is set (opt-in: MXNet
    then logs one 'start using engine' line to stderr at import, which entry points that
    promise a single error line cannot print).

    A CUDA build keeps MXNet's threaded engine, which overlaps GPU kernels, copies and the
    Python custom operators. Returns the engine type in effect ('' = MXNet's default).
    """
    if 'MXNET_ENGINE_TYPE' not in os.environ and not mxnet_has_cuda():
        os.environ['MXNET_ENGINE_TYPE'] = CPU_ENGINE
    return os.environ.get('MXNET_ENGINE_TYPE', '')
