"""NumPy -> NDArray copies: the values and dtypes mx.nd.array and CustomOp.assign give."""
import mxnet as mx
import numpy as np
import pytest

from lib.utils.ndarray_copy import (FlatLayout, HostArray, assign_array, host_array, to_ndarray,
                                     write_into)


@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.int32, np.uint8])
def test_to_ndarray_equals_mx_nd_array(dtype, rng):
    source = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    ours, theirs = to_ndarray(source), mx.nd.array(source)
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == source.shape
    np.testing.assert_array_equal(ours.asnumpy(), theirs.asnumpy())
    kept = to_ndarray(source, dtype=dtype)
    assert kept.dtype == dtype
    np.testing.assert_array_equal(kept.asnumpy(), source)


def test_to_ndarray_of_a_strided_view_and_a_scalar_shape(rng):
    source = rng.standard_normal((6, 8)).astype(np.float32)[::2, ::-1]
    np.testing.assert_array_equal(to_ndarray(source).asnumpy(), source)
    assert to_ndarray(np.zeros((0, 5), np.float32)).shape == (0, 5)


def test_write_into_casts_and_checks_the_shape(rng):
    dst = mx.nd.zeros((2, 3))
    source = rng.standard_normal((2, 3))  # float64 into float32, as dst[:] = source
    write_into(dst, source)
    np.testing.assert_array_equal(dst.asnumpy(), source.astype(np.float32))
    with pytest.raises(ValueError, match=r'shape \(3, 2\) into an NDArray of shape \(2, 3\)'):
        write_into(dst, np.zeros((3, 2)))


def test_assign_array_follows_the_gradient_request():
    dst = mx.nd.ones((2, 2))
    assign_array(dst, 'null', np.full((2, 2), 5.0))
    assert dst.asnumpy().tolist() == [[1, 1], [1, 1]]
    assign_array(dst, 'write', np.full((2, 2), 5.0))
    assert dst.asnumpy().tolist() == [[5, 5], [5, 5]]
    assign_array(dst, 'add', np.full((2, 2), 2.0))
    assert dst.asnumpy().tolist() == [[7, 7], [7, 7]]
    with pytest.raises(ValueError, match="unknown gradient request 'sum'"):
        assign_array(dst, 'sum', np.zeros((2, 2)))


@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.uint8, np.int32, np.int64])
def test_host_array_is_a_read_only_view_of_the_ndarray(dtype, rng):
    values = (rng.standard_normal((2, 3, 4)) * 50).astype(dtype)
    nd = mx.nd.array(values, dtype=dtype)
    view = host_array(nd)
    assert view.dtype == dtype and view.shape == (2, 3, 4)
    np.testing.assert_array_equal(view, values)
    assert not view.flags.writeable
    nd[:] = 7  # the same memory: the view shows the write, a copy would not
    assert (view == 7).all()


def test_host_array_copies_what_it_cannot_view():
    half = mx.nd.array([[1.5, -2.0]], dtype=np.float16)
    out = host_array(half)
    assert out.dtype == np.float16 and out.tolist() == [[1.5, -2.0]]


def test_host_array_copies_slices_and_converts_like_to_ndarray(rng):
    source = (rng.standard_normal((4, 3, 5)) * 50).astype(np.float64)[:, ::-1]
    host = HostArray(source)
    assert host.shape == (4, 3, 5) and host.dtype == np.float32 and host.size == 60
    reference = to_ndarray(source)
    dst = mx.nd.zeros((4, 3, 5))
    assert host.copyto(dst) is dst
    np.testing.assert_array_equal(dst.asnumpy(), reference.asnumpy())
    part = host[1:3]
    assert isinstance(part, HostArray) and part.shape == (2, 3, 5)
    np.testing.assert_array_equal(part.copyto(mx.cpu()).asnumpy(), reference[1:3].asnumpy())
    np.testing.assert_array_equal(host[2].asnumpy(), reference[2].asnumpy())
    copy = host.asnumpy()
    copy[:] = 0  # asnumpy gives a copy, as NDArray.asnumpy does
    assert np.abs(host.array).sum() > 0
    with pytest.raises(TypeError, match='an int or a slice of the first axis'):
        host[:, 1]
    with pytest.raises(ValueError, match=r'shape \(4, 3, 5\) into an NDArray of shape \(2, 2\)'):
        host.copyto(mx.nd.zeros((2, 2)))


def _two_input_module(contexts):
    data, label = mx.sym.var('data'), mx.sym.var('label')
    hidden = mx.sym.FullyConnected(data, num_hidden=3, name='fc')
    out = mx.sym.LinearRegressionOutput(hidden, label, name='out')
    module = mx.mod.Module(out, data_names=['data'], label_names=['label'], context=contexts)
    module.bind(data_shapes=[('data', (4, 5))], label_shapes=[('label', (4, 3))])
    module.init_params(mx.init.Uniform(0.5))
    return module


@pytest.mark.parametrize('devices', [1, 2])
def test_module_trains_on_host_arrays_as_on_ndarrays(devices, rng):
    """Module.forward/backward/update_metric on a batch of HostArrays give the gradients and
    metric of the same batch as NDArrays, on one context and split over two."""
    contexts = [mx.cpu(i) for i in range(devices)]
    data = rng.standard_normal((4, 5)).astype(np.float32)
    label = rng.standard_normal((4, 3)).astype(np.float32)
    results = []
    for wrap in (to_ndarray, HostArray):
        mx.random.seed(0)
        module = _two_input_module(contexts)
        batch = mx.io.DataBatch(data=[wrap(data)], label=[wrap(label)])
        module.forward_backward(batch)
        metric = mx.metric.MSE()
        module.update_metric(metric, batch.label)
        group = module._exec_group
        grads = [g.asnumpy() for per_device in group.grad_arrays for g in per_device]
        inputs = [e.arg_dict['data'].asnumpy() for e in group.execs]
        results.append((grads, inputs, metric.get()[1]))
    (grads_nd, inputs_nd, mse_nd), (grads_host, inputs_host, mse_host) = results
    for a, b in zip(grads_nd + inputs_nd, grads_host + inputs_host):
        np.testing.assert_array_equal(a, b)
    assert mse_nd == mse_host
    np.testing.assert_array_equal(np.concatenate(inputs_host), data)


def test_flat_layout_gathers_and_scatters_in_order(rng):
    shapes = [(3, 4), (7,), (2, 1, 5), (1,)]
    arrays = [mx.nd.array(rng.standard_normal(s)) for s in shapes]
    layout = FlatLayout(arrays)
    assert layout.size == sum(int(np.prod(s)) for s in shapes) == layout.offsets[-1]
    flat = np.full(layout.size + 3, -7.0, np.float32)        # longer than needed
    layout.gather(flat)
    np.testing.assert_array_equal(flat[:layout.size],
                                  np.concatenate([a.asnumpy().ravel() for a in arrays]))
    assert (flat[layout.size:] == -7).all()                     # the tail is left alone
    values = rng.standard_normal(layout.size).astype(np.float32)
    layout.scatter(values)
    for array, start, end in zip(arrays, layout.offsets, layout.offsets[1:]):
        np.testing.assert_array_equal(array.asnumpy(), values[start:end].reshape(array.shape))


def test_flat_layout_refuses_other_dtypes_and_short_buffers():
    with pytest.raises(ValueError, match='float32'):
        FlatLayout([mx.nd.zeros((2,), dtype=np.float64)])
    layout = FlatLayout([mx.nd.zeros((4,))])
    for bad in (np.zeros(3, np.float32), np.zeros(4, np.float64), np.zeros(8, np.float32)[::2]):
        with pytest.raises(ValueError, match='at least 4'):
            layout.gather(bad)
