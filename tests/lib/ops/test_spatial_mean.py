"""SpatialMean against MXNet's own ``mean`` (bit for bit) and a NumPy float64 reference."""
import mxnet as mx
import numpy as np
import pytest
from mxnet.test_utils import check_numeric_gradient

from lib.ops import load_ops, spatial_mean

load_ops()


def mixed_scale_data(rng, shape):
    """Values whose rows span 1e-3 .. 1e3: float32 sums that depend on the order and on
    the compensation, so a different summation would show in the bits."""
    scale = rng.choice([1e-3, 1.0, 1e3], size=shape[:2] + (1,) * (len(shape) - 2))
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def forward_backward(op, x, dy):
    """op(x) and d(sum(op(x) * dy))/dx through autograd."""
    data = mx.nd.array(x)
    data.attach_grad()
    with mx.autograd.record():
        out = op(data)
    out.backward(mx.nd.array(dy))
    return out.asnumpy(), data.grad.asnumpy()


@pytest.mark.parametrize('shape', [(105, 8, 21, 21), (3, 6, 7, 7), (2, 4, 5), (2, 3, 2, 3, 4),
                                   (4, 2, 1, 1)])
def test_same_bits_as_mxnet_mean(shape, test_seed):
    rng = np.random.default_rng(test_seed)
    x = mixed_scale_data(rng, shape)
    dy = rng.standard_normal(shape[:2]).astype(np.float32)
    axes = tuple(range(2, len(shape)))
    out, dx = forward_backward(spatial_mean, x, dy)
    ref_out, ref_dx = forward_backward(lambda d: mx.nd.mean(d, axis=axes), x, dy)
    assert out.shape == shape[:2] and dx.shape == shape
    assert np.array_equal(out.view(np.uint32), ref_out.view(np.uint32))
    assert np.array_equal(dx.view(np.uint32), ref_dx.view(np.uint32))
    # and close to the exact mean (float64), so the bits above are a mean, not a copy
    rows = x.reshape(shape[0] * shape[1], -1).astype(np.float64)
    np.testing.assert_allclose(out.ravel(), rows.mean(axis=1), rtol=1e-5,
                               atol=1e-6 * np.abs(rows).max())
    np.testing.assert_array_equal(
        dx, np.broadcast_to((dy / np.float32(np.prod(shape[2:])))
                            .reshape(shape[:2] + (1,) * len(axes)), shape))


def test_compensated_sum_by_hand():
    """One row [1, 1e-8 x 7]: a plain float32 sum drops every 1e-8 against 1 (half an ulp
    of 1 is 2^-24 ~ 6e-8) and gives 1, mean 0.125. The compensated sum carries them: at the
    sixth, 1 + 6e-8 rounds up to 1 + 2^-23, which stays, so the mean is (1 + 2^-23) / 8."""
    x = np.array([1] + [1e-8] * 7, np.float32).reshape(1, 1, 2, 4)
    assert spatial_mean(mx.nd.array(x)).asnumpy()[0, 0] == np.float32(0.125 + 2.0 ** -26)
    plain = np.float32(0)
    for v in x.ravel():
        plain = np.float32(plain + v)
    assert plain / np.float32(8) == np.float32(0.125)


def test_symbol_and_numeric_gradient(test_seed):
    rng = np.random.default_rng(test_seed + 1)
    data = mx.sym.var('data')
    sym = spatial_mean(data, name='m')
    assert sym.list_outputs() == ['m_output']
    _, out_shapes, _ = sym.infer_shape(data=(3, 4, 5, 6))
    assert out_shapes == [(3, 4)]
    check_numeric_gradient(sym, {'data': rng.standard_normal((2, 3, 4, 4)).astype(np.float32)},
                           numeric_eps=1e-2, rtol=1e-2, atol=1e-4)


def test_bad_input_raises_mxnet_error():
    with pytest.raises(mx.base.MXNetError, match='at least 3 axes'):
        mx.nd.SpatialMean(mx.nd.zeros((2, 3))).wait_to_read()
