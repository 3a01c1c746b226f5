"""NumPy -> NDArray copies without ``NDArray.__setitem__``, NDArray -> NumPy views
without a copy, and NumPy batch arrays that a Module copies straight into its inputs.

``mx.nd.array(a)`` and ``nd[:] = a`` go through MXNet's Python indexing code, which costs
~0.4 ms a call on a 2-core CPU whatever the size: a training iteration makes ~30 of them
(the batch arrays, the custom operators' outputs). These functions make the same copy with
one ``MXNDArraySyncCopyFromCPU`` call, so the values are the same bits.
"""
import ctypes

import mxnet as mx
import numpy as np
from mxnet.base import _LIB, check_call

_CTYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
           np.dtype(np.uint8): ctypes.c_uint8, np.dtype(np.int32): ctypes.c_int32,
           np.dtype(np.int64): ctypes.c_int64}


def host_array(nd):
    """NumPy array of the NDArray ``nd``: for a CPU NDArray a read-only view of its memory
    (no copy, after waiting for pending writes), else a copy (``asnumpy``). The view is
    valid while ``nd`` lives and nothing writes to it: for the inputs of a CustomOp's
    forward, where ``asnumpy()`` would copy them (a (1, K, H, W) mask stack is megabytes)."""
    if nd.context.device_type != 'cpu' or np.dtype(nd.dtype) not in _CTYPES:
        return nd.asnumpy()
    nd.wait_to_read()
    dtype = np.dtype(nd.dtype)
    pointer = ctypes.c_void_p()
    check_call(_LIB.MXNDArrayGetData(nd.handle, ctypes.byref(pointer)))
    buffer = (_CTYPES[dtype] * nd.size).from_address(pointer.value)
    view = np.ctypeslib.as_array(buffer).reshape(nd.shape)
    view.flags.writeable = False
    return view


def to_ndarray(array, ctx=None, dtype=np.float32):
    """NDArray (on ``ctx``, default the current context) holding a copy of the NumPy array
    ``array`` cast to ``dtype``: float32 unless told, as ``mx.nd.array`` gives."""
    array = np.ascontiguousarray(array, dtype=dtype)
    out = mx.nd.empty(array.shape, ctx=ctx, dtype=dtype)
    out._sync_copyfrom(array)
    return out


def write_into(dst, array):
    """Copy the NumPy ``array`` into the NDArray ``dst`` (same shape; cast to dst's dtype).

    Raises ValueError naming both shapes when they differ."""
    array = np.asarray(array)
    if array.shape != dst.shape:
        raise ValueError('cannot write an array of shape %s into an NDArray of shape %s'
                         % (array.shape, dst.shape))
    dst._sync_copyfrom(np.ascontiguousarray(array, dtype=dst.dtype))


class FlatLayout(object):
    """A list of float32 NDArrays laid out one after the other in a flat float32 NumPy
    array, with the copies both ways: one ``MXNDArraySyncCopyToCPU`` /
    ``MXNDArraySyncCopyFromCPU`` per array (what ``asnumpy`` and ``nd[:] = a`` do, without
    their per-call Python work: ~3 us an array instead of ~30).

    The arrays' handles are kept: the layout serves those very arrays while they live.
    """

    def __init__(self, arrays):
        if any(np.dtype(a.dtype) != np.float32 for a in arrays):
            raise ValueError('FlatLayout takes float32 NDArrays only')
        self.handles = [a.handle for a in arrays]
        self.sizes = [int(a.size) for a in arrays]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
        self.size = self.offsets[-1]

    def _checked_base(self, flat):
        if flat.dtype != np.float32 or not flat.flags.c_contiguous or flat.size < self.size:
            raise ValueError('FlatLayout needs a C-contiguous float32 array of at least %d '
                             'values, got %s %s' % (self.size, flat.dtype, flat.shape))
        return flat.ctypes.data

    def gather(self, flat):
        """Copy the arrays into ``flat[:size]`` (waits for pending writes to them)."""
        base = self._checked_base(flat)
        for handle, offset, size in zip(self.handles, self.offsets, self.sizes):
            check_call(_LIB.MXNDArraySyncCopyToCPU(handle, ctypes.c_void_p(base + 4 * offset),
                                                   ctypes.c_size_t(size)))

    def scatter(self, flat):
        """Copy ``flat[:size]`` back into the arrays."""
        base = self._checked_base(flat)
        for handle, offset, size in zip(self.handles, self.offsets, self.sizes):
            check_call(_LIB.MXNDArraySyncCopyFromCPU(handle, ctypes.c_void_p(base + 4 * offset),
                                                     ctypes.c_size_t(size)))


def assign_array(dst, req, array):
    """``CustomOp.assign(dst, req, array)`` for a NumPy ``array``: nothing for 'null', a copy
    for 'write' / 'inplace', an addition for 'add'."""
    if req == 'null':
        return
    if req in ('write', 'inplace'):
        write_into(dst, array)
    elif req == 'add':
        dst += to_ndarray(array, ctx=dst.context, dtype=dst.dtype)
    else:
        raise ValueError("unknown gradient request %r (expected 'null', 'write', 'inplace' "
                         "or 'add')" % (req,))


class HostArray(object):
    """A NumPy array in place of an NDArray in a ``DataBatch``.

    ``Module.forward`` loads each batch array into the executors' input arrays with
    ``src.copyto(dst)`` (after ``src[start:stop]`` when the batch is split over devices).
    With a HostArray that is one ``MXNDArraySyncCopyFromCPU`` from the NumPy memory: no
    temporary NDArray is allocated and the data is not copied twice. The values are the same
    bits as those of ``to_ndarray(array, dtype=dtype)``.

    ``array``: any NumPy array, cast to ``dtype`` (float32 unless told) and made contiguous.
    Supports what MXNet's Module and metrics use: ``shape``, ``dtype``, ``size``,
    ``context`` (the CPU), slicing along the first axis, ``copyto`` (an NDArray or a
    Context), ``as_in_context`` and ``asnumpy`` (a copy).
    """
    __slots__ = ('array',)

    def __init__(self, array, dtype=np.float32):
        self.array = np.ascontiguousarray(array, dtype=dtype)

    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        return self.array.dtype.type

    @property
    def size(self):
        return self.array.size

    @property
    def context(self):
        return mx.cpu()

    def __getitem__(self, key):
        """Basic slicing (an int or a slice) of the first axis, as ``NDArray[key]``."""
        if not isinstance(key, (int, slice)):
            raise TypeError('HostArray supports an int or a slice of the first axis, got %r'
                            % (key,))
        return HostArray(self.array[key], dtype=self.array.dtype)

    def copyto(self, other):
        """Copy into the NDArray ``other`` (same shape), or into a new NDArray on the Context
        ``other``; returns that NDArray."""
        if isinstance(other, mx.Context):
            return to_ndarray(self.array, ctx=other, dtype=self.array.dtype)
        write_into(other, self.array)
        return other

    def as_in_context(self, ctx):
        return self.copyto(ctx)

    def asnumpy(self):
        return self.array.copy()

    def __repr__(self):
        return 'HostArray(shape=%s, dtype=%s)' % (self.shape, self.array.dtype)
