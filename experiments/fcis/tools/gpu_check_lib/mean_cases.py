"""SpatialMean cases: the CPU side (``make_mean``, MXNet + the project's library op) and the
GPU side (``run_mean``, the harness; NumPy + ctypes only).

Both directions are compared bit for bit: the forward is spatial_mean.h's kahan_mean (float
additions and subtractions in row order, one IEEE division; nothing nvcc could contract),
the backward one IEEE division per row.
"""
import ctypes

import numpy as np

from .compare import compare, result
from .ops_cases import _backward, _ptr, _repeats
from .store import get_input, put_expected, put_input, synth_input

MEAN_CASES = {
    # FCIS COCO test: 300 ROIs x 81 class scores averaged over 21x21 bins (cls_score).
    'mean_coco': dict(shape=(300, 81, 21, 21), seed=31, timed=True),
    # 15 rows (not a multiple of the CPU's 8-row blocks), rows of magnitudes 1e-3 .. 1e3.
    'mean_edge': dict(shape=(3, 5, 2, 3), seed=32, timed=False),
}


def _op(mx):
    return lambda x: mx.nd.SpatialMean(x)


def make_mean(mx, store, name, a):
    """CPU results of case `name` (attributes a) into store."""
    shape = a['shape']
    data = synth_input(store, name + '.data', a['seed'], shape)
    if name == 'mean_edge':
        scale = np.array([1e-3, 1.0, 1e3], np.float32)[np.arange(shape[0] * shape[1]) % 3]
        data = data * scale.reshape(shape[:2] + (1,) * (len(shape) - 2))
        put_input(store, name + '.data', data)
    out_grad = synth_input(store, name + '.out_grad', a['seed'] + 1, shape[:2], -1.0, 1.0)
    out, (data_grad,) = _backward(mx, _op(mx), [data], out_grad)
    put_expected(store, name + '.out', out)
    put_expected(store, name + '.data_grad', data_grad)


def run_mean(harness, npz, name, a, timing):
    """Forward and backward of case `name` on the GPU; result rows."""
    data = np.ascontiguousarray(get_input(npz, name + '.data'))
    out_grad = np.ascontiguousarray(get_input(npz, name + '.out_grad'))
    rows_n, count = out_grad.size, data.size // out_grad.size
    dims = (ctypes.c_int64 * 2)(rows_n, count)
    warmup, repeats = _repeats(a, timing)
    rows = []
    for backward, source, key in ((0, data, '.out'), (1, out_grad, '.data_grad')):
        got = np.zeros(data.shape if backward else out_grad.shape, np.float32)
        times = np.zeros(max(repeats, 1), np.float32)
        harness.call('gc_spatial_mean', ctypes.c_int(backward), dims, _ptr(source), _ptr(got),
                     ctypes.c_int(warmup), ctypes.c_int(repeats), _ptr(times))
        rows.append(result('%s %s' % (name, 'backward' if backward else 'forward'),
                           'bit-identical', *compare(npz, name + key, got, 'bit-identical'),
                           times[:repeats].tolist()))
    return rows


def run_mean_mxnet(mx, npz, name, a, timing, ctx, timed_call):
    """The op through MXNet on ctx (forward + backward); result rows."""
    data, out_grad = get_input(npz, name + '.data'), get_input(npz, name + '.out_grad')
    (out, (data_grad,)), times = timed_call(
        mx, lambda: _backward(mx, _op(mx), [data], out_grad, ctx), timing, a['timed'])
    return [result(name + ' forward (mxnet)', 'bit-identical',
                   *compare(npz, name + '.out', out, 'bit-identical')),
            result(name + ' fwd+bwd (mxnet)', 'bit-identical',
                   *compare(npz, name + '.data_grad', data_grad, 'bit-identical'), times)]
