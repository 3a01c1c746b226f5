"""Prepare numpy for MXNet 1.9.1, which must run before MXNet is first imported.

MXNet 1.9.1 reads, when imported, numpy names that later numpy releases removed
(``mxnet/numpy/utils.py``, ``mxnet/numpy/fallback.py``, the function lists of
``mxnet/numpy_dispatch_protocol.py``, ``np.Inf`` in ``mxnet/gluon/contrib/estimator`` and
``np.bool`` in its array code),
and imports ``distutils`` (not in the standard library from Python 3.12 on; setuptools
provides it). ``prepare_numpy()`` sets each missing name in ``RESTORED`` on the numpy
module to what it stood for, and never replaces a name numpy has: on numpy 1.23 (Python
3.11) it changes nothing. ``lib/__init__.py`` calls it, and every entry point and the test
session import ``lib`` before ``mxnet``.
"""
import builtins
import importlib.util

FINANCIAL = ('mirr', 'npv', 'pmt', 'ppmt', 'pv', 'rate')


def financial_stub(name):
    """A function standing for numpy's removed financial function ``name``: calling it
    raises NotImplementedError naming numpy_financial (MXNet only re-exports these)."""
    def removed(*args, **kwargs):
        raise NotImplementedError(
            'numpy.%s was removed from numpy (NEP 32); use numpy_financial.%s' % (name, name))
    removed.__name__ = name
    removed.__qualname__ = name
    return removed


def in1d_of(np):
    """numpy's removed ``in1d``: ``isin`` on the flattened first array (1-D result)."""
    def in1d(ar1, ar2, assume_unique=False, invert=False, **kind):
        return np.isin(np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert, **kind)
    return in1d


def msort_of(np):
    """numpy's removed ``msort``: a sorted copy along the first axis."""
    def msort(a):
        return np.sort(a, axis=0)
    return msort


# name -> (what it stands for, function of the numpy module giving the value to set)
RESTORED = {
    'bool': ('builtins.bool (numpy < 1.24 alias)', lambda np: builtins.bool),
    'PZERO': ('0.0', lambda np: 0.0),
    'NZERO': ('-0.0', lambda np: -0.0),
    'PINF': ('float("inf")', lambda np: float('inf')),
    'NINF': ('float("-inf")', lambda np: float('-inf')),
    'Inf': ('float("inf")', lambda np: float('inf')),
    'NAN': ('float("nan")', lambda np: float('nan')),
    'NaN': ('float("nan")', lambda np: float('nan')),
    'alltrue': ('np.all', lambda np: np.all),
    'sometrue': ('np.any', lambda np: np.any),
    'product': ('np.prod', lambda np: np.prod),
    'round_': ('np.round', lambda np: np.round),
    'in1d': ('np.isin on the flattened first array', in1d_of),
    'msort': ('np.sort(a, axis=0)', msort_of),
    'trapz': ('np.trapezoid', lambda np: np.trapezoid),
}
RESTORED.update({name: ('a stub raising NotImplementedError (use numpy_financial.%s)' % name,
                        lambda np, name=name: financial_stub(name))
                 for name in FINANCIAL})


def has_name(module, name):
    """True when ``module.name`` resolves, through the module's ``__getattr__`` too (numpy
    1.23 serves its deprecated names that way, with a DeprecationWarning)."""
    if name in vars(module):
        return True
    try:
        getattr(module, name)
    except AttributeError:
        return False
    return True


def restore_names(module):
    """Set every name of ``RESTORED`` that ``module`` lacks; return the names set, sorted."""
    missing = sorted(name for name in RESTORED if not has_name(module, name))
    for name in missing:
        setattr(module, name, RESTORED[name][1](module))
    return missing


def check_distutils():
    """Raise ImportError naming setuptools when ``distutils`` cannot be imported."""
    if importlib.util.find_spec('distutils') is None:
        raise ImportError('MXNet 1.9.1 imports distutils, which this Python provides only '
                          'through setuptools: install setuptools (sh init.sh does)')


def prepare_numpy():
    """Make the installed numpy and Python ready for ``import mxnet``; return the numpy
    names that were restored."""
    import numpy
    check_distutils()
    return restore_names(numpy)
