"""MXNet environment defaults set before MXNet is imported (users' own settings win), and the
start of its engine."""
import contextlib
import glob
import importlib.util
import os
import sys
import tempfile

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


def mxnet_has_onednn():
    """True when the imported MXNet was built with oneDNN (its CPU convolutions, BatchNorm
    and the fused ``contrib.BatchNormWithReLU``)."""
    import mxnet
    return bool(mxnet.runtime.Features().is_enabled('MKLDNN'))


# What MXNet logs to stderr when it creates a non-default engine.
ENGINE_LOG_LINE = 'MXNet start using engine'


def set_default_engine():
    """Use ``CPU_ENGINE`` on a CPU-only MXNet unless MXNET_ENGINE_TYPE is set.

    A CUDA build keeps MXNet's threaded engine, which overlaps GPU kernels, copies and the
    Python custom operators. Returns the engine type in effect ('' = MXNet's default).
    """
    if 'MXNET_ENGINE_TYPE' not in os.environ and not mxnet_has_cuda():
        os.environ['MXNET_ENGINE_TYPE'] = CPU_ENGINE
    return os.environ.get('MXNET_ENGINE_TYPE', '')


@contextlib.contextmanager
def stderr_without(text):
    """Inside the block, the process's stderr (file descriptor 2, so native libraries' output
    too) goes to a temporary file; at the end every line of it that does not contain
    ``text`` is written to the real stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(True)
                    if text.encode() not in line]
            if kept:
                os.write(2, b''.join(kept))


def start_default_engine():
    """Set the engine default (:func:`set_default_engine`) and create MXNet's engine now,
    without the 'start using engine' line MXNet logs for a non-default engine when the first
    operation runs, so that the entry points' error messages stay one line (child processes
    inherit MXNET_ENGINE_TYPE, so this holds for an engine the user chose too). Returns the
    engine type in effect."""
    engine = set_default_engine()
    if not engine or importlib.util.find_spec('mxnet') is None:
        return engine
    with stderr_without(ENGINE_LOG_LINE):
        import mxnet
        mxnet.nd.waitall()  # creates the engine
    return engine
