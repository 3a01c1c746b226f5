"""lib.utils.mxnet_compat: the numpy names MXNet 1.9.1 reads are restored only where missing."""
import ast
import builtins
import importlib.util
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from lib.utils import mxnet_compat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def trapezoid(y):
    """The fake module's ``trapezoid`` (numpy 1.23 has none to borrow)."""
    return 'trapezoid of %r' % (y,)


def fake_numpy():
    """A numpy-like module with the functions the restored names stand for, and none of
    the restored names."""
    module = types.ModuleType('fake_numpy')
    for name in ('all', 'any', 'prod', 'round', 'isin', 'ravel', 'sort'):
        setattr(module, name, getattr(np, name))
    module.trapezoid = trapezoid
    return module


def test_restores_exactly_the_listed_names_on_a_module_missing_them():
    module = fake_numpy()
    before = set(vars(module))
    restored = mxnet_compat.restore_names(module)
    assert restored == sorted(mxnet_compat.RESTORED)
    assert set(vars(module)) - before == set(mxnet_compat.RESTORED)


def test_restored_names_stand_for_what_numpy_had():
    module = fake_numpy()
    mxnet_compat.restore_names(module)
    assert module.bool is builtins.bool
    assert module.PZERO == 0.0 and math.copysign(1.0, module.PZERO) == 1.0
    assert module.NZERO == 0.0 and math.copysign(1.0, module.NZERO) == -1.0
    assert module.PINF == math.inf and module.Inf == math.inf and module.NINF == -math.inf
    assert math.isnan(module.NAN) and math.isnan(module.NaN)
    assert module.alltrue is np.all and module.sometrue is np.any
    assert module.product is np.prod and module.round_ is np.round
    assert module.trapz is trapezoid
    assert module.in1d([[1, 2], [3, 4]], [2, 3]).tolist() == [False, True, True, False]
    assert module.in1d([1, 2], [2], invert=True).tolist() == [True, False]
    assert module.msort(np.array([[3, 1], [1, 2]])).tolist() == [[1, 1], [3, 2]]


@pytest.mark.parametrize('name', mxnet_compat.FINANCIAL)
def test_financial_stubs_raise_naming_numpy_financial(name):
    module = fake_numpy()
    mxnet_compat.restore_names(module)
    with pytest.raises(NotImplementedError, match='numpy_financial.%s' % name):
        getattr(module, name)(0.1, [1.0, 2.0])


def test_leaves_a_complete_module_untouched():
    module = fake_numpy()
    sentinels = {name: object() for name in mxnet_compat.RESTORED}
    for name, value in sentinels.items():
        setattr(module, name, value)
    assert mxnet_compat.restore_names(module) == []
    assert all(getattr(module, name) is value for name, value in sentinels.items())


def test_a_name_served_by_module_getattr_counts_as_present():
    module = fake_numpy()
    served = object()
    module.__getattr__ = lambda name: served if name == 'mirr' else (_ for _ in ()).throw(
        AttributeError(name))
    restored = mxnet_compat.restore_names(module)
    assert 'mirr' not in restored and 'npv' in restored
    assert module.mirr is served


def mxnet_numpy_names():
    """The numpy names that the installed MXNet reads when imported: ``X = onp.X`` in
    mxnet/numpy/utils.py and fallback.py, and the names listed in numpy_dispatch_protocol."""
    mxnet_dir = os.path.dirname(importlib.util.find_spec('mxnet').origin)
    names = set()
    for path in ('numpy/utils.py', 'numpy/fallback.py'):
        with open(os.path.join(mxnet_dir, path)) as f:
            tree = ast.parse(f.read())
        names |= {node.value.attr for node in tree.body
                  if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute)
                  and getattr(node.value.value, 'id', None) == 'onp'}
    with open(os.path.join(mxnet_dir, 'numpy_dispatch_protocol.py')) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id.endswith('_LIST'):
            names |= {name for name in ast.literal_eval(node.value) if '.' not in name}
    return names


def test_installed_numpy_has_every_name_mxnet_reads():
    names = mxnet_numpy_names()
    assert {'PZERO', 'alltrue', 'mirr', 'sometrue', 'trapz'} <= names and len(names) > 150
    missing = [name for name in sorted(names | {'bool'}) if not mxnet_compat.has_name(np, name)]
    assert missing == []


def test_missing_distutils_is_one_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'distutils' else real(name, *a))
    with pytest.raises(ImportError, match='setuptools'):
        mxnet_compat.check_distutils()


def test_mxnet_imports_and_runs_after_lib_in_a_fresh_process():
    code = ('import lib, mxnet as mx; '
            'x = mx.nd.array([[1, 2], [3, 4]]); '
            'print(mx.__version__, mx.nd.dot(x, x).asnumpy().tolist())')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split('\n')[-2] == '1.9.1 [[7.0, 10.0], [15.0, 22.0]]'
