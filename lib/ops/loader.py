"""Load the native operator library ``lib/ops/libfcis_ops.so`` into MXNet, once per process.

After ``load_ops()`` the operators exist as ``mx.sym.PSROIPooling`` / ``mx.nd.PSROIPooling``,
``mx.sym.ChannelOperator`` / ``mx.nd.ChannelOperator``, ``mx.sym.SpatialMean`` /
``mx.nd.SpatialMean`` and ``mx.nd.MultiSGDMom``. A missing or stale library (older than one
of its C++ sources) raises ``OpsLibraryError`` naming the file and the build command,
instead of failing later with an unknown operator.
"""
import glob
import importlib.util
import os
import threading

OPS_DIR = os.path.dirname(os.path.abspath(__file__))
LIBRARY_PATH = os.path.join(OPS_DIR, 'libfcis_ops.so')
BUILD_HINT = '`sh init.sh` (or `python setup.py build_ext --inplace`) in the repository root'

_lock = threading.Lock()
_loaded = set()


class OpsLibraryError(RuntimeError):
    """The operator library is missing, stale or does not load."""


def native_sources():
    """C++ sources and headers the CPU library is built from (as setup.py checks them),
    including the wheel's ``mxnet/src/lib_api.cc`` that is compiled into it."""
    sources = []
    for pattern in ('*.cc', '*.h', os.path.join('*', '*.cc'), os.path.join('*', '*.h')):
        sources += glob.glob(os.path.join(OPS_DIR, pattern))
    spec = importlib.util.find_spec('mxnet')  # finds the package without importing it
    if spec is not None and spec.origin:
        lib_api = os.path.join(os.path.dirname(spec.origin), 'src', 'lib_api.cc')
        if os.path.exists(lib_api):
            sources.append(lib_api)
    return sorted(sources)


def check_library(path, sources):
    """Raise OpsLibraryError if ``path`` is missing or older than any of ``sources``."""
    if not os.path.isfile(path):
        raise OpsLibraryError('operator library %s is missing: build it with %s'
                              % (path, BUILD_HINT))
    built = os.path.getmtime(path)
    newer = [s for s in sources if os.path.getmtime(s) > built]
    if newer:
        raise OpsLibraryError('operator library %s is stale (older than %s): rebuild it with %s'
                              % (path, newer[0], BUILD_HINT))


def load_ops(path=LIBRARY_PATH):
    """Load the operator library into MXNet (only the first call per path does work).

    Returns the absolute path of the loaded library.
    """
    path = os.path.abspath(path)
    with _lock:
        if path in _loaded:
            return path
        check_library(path, native_sources())
        import mxnet as mx
        try:
            mx.library.load(path, verbose=False)
        except mx.base.MXNetError as err:
            raise OpsLibraryError('loading operator library %s failed (%s); rebuild it with %s'
                                  % (path, str(err).strip().splitlines()[-1], BUILD_HINT))
        _loaded.add(path)
        return path
