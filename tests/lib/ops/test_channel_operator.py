"""ChannelOperator (Group_Max, Group_Softmax, Group_Pick) against NumPy references."""
import mxnet as mx
import numpy as np
import pytest
from mxnet.test_utils import check_numeric_gradient

from lib.ops import group_max, group_pick, group_softmax, load_ops

load_ops()



# ---- NumPy references; x is (N, group*k, ...) ----

def grouped(x, group):
    """(N, group*k, ...) -> (N, group, k, ...)"""
    return x.reshape((x.shape[0], group, -1) + x.shape[2:])


def ref_group_max(x, dy, group):
    g = grouped(x, group)
    out = g.max(axis=2)  # (N, group, ...)
    first = np.argmax(g, axis=2)  # first maximum
    onehot = np.arange(g.shape[2]).reshape((1, 1, -1) + (1,) * (x.ndim - 2)) == first[:, :, None]
    dx = onehot * dy[:, :, None]  # (N, group, k, ...)
    return out, dx.reshape(x.shape)


def ref_group_softmax(x, dy, group):
    g = grouped(x, group).astype(np.float64)
    e = np.exp(g - g.max(axis=2, keepdims=True))
    y = e / e.sum(axis=2, keepdims=True)
    d = grouped(dy, group)
    dx = y * (d - (d * y).sum(axis=2, keepdims=True))
    return y.reshape(x.shape), dx.reshape(x.shape)


def ref_pick(x, dy, group, picked):
    g = grouped(x, group)
    n = np.arange(x.shape[0])
    out = g[n, picked]  # (N, k, ...)
    dx = np.zeros_like(g)
    dx[n, picked] = dy
    return out, dx.reshape(x.shape)


def run(op, x, dy, extra=None):
    """Forward and input gradient(s) through autograd."""
    inputs = [mx.nd.array(x)] + ([mx.nd.array(extra)] if extra is not None else [])
    for a in inputs:
        a.attach_grad()
    with mx.autograd.record():
        out = op(*inputs)
    out.backward(mx.nd.array(dy))
    return out.asnumpy(), [a.grad.asnumpy() for a in inputs]


@pytest.mark.parametrize('shape,group', [((3, 8, 5, 6), 4), ((4, 6, 7), 2), ((5, 9), 3)])
def test_group_max(shape, group, test_seed):
    seed = test_seed + 10
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    x[0, 1] = x[0, 0]  # a tie: the gradient must go to the first maximum
    dy = rng.standard_normal((shape[0], group) + shape[2:]).astype(np.float32)
    out, (dx,) = run(lambda d: group_max(d, group), x, dy)
    ref_out, ref_dx = ref_group_max(x, dy, group)
    assert out.shape == ref_out.shape
    np.testing.assert_array_equal(out, ref_out, err_msg='seed %d' % seed)
    np.testing.assert_array_equal(dx, ref_dx, err_msg='seed %d' % seed)


@pytest.mark.parametrize('shape,group', [((3, 8, 5, 6), 4), ((2, 6, 4, 4), 2), ((5, 9), 3)])
def test_group_softmax(shape, group, test_seed):
    seed = test_seed + 11
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal(shape)).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    out, (dx,) = run(lambda d: group_softmax(d, group), x, dy)
    ref_out, ref_dx = ref_group_softmax(x, dy, group)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6, err_msg='seed %d' % seed)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-6, err_msg='seed %d' % seed)


def test_group_pick_label(test_seed):
    seed = test_seed + 12
    rng = np.random.default_rng(seed)
    group, k = 5, 2
    x = rng.standard_normal((6, group * k, 3, 4)).astype(np.float32)
    labels = np.array([0, 3, 4, -1, 5, 2.0], np.float32)  # -1 and 5 are outside: group 0
    dy = rng.standard_normal((6, k, 3, 4)).astype(np.float32)
    out, (dx, dlabels) = run(lambda d, p: group_pick(d, p, group), x, dy, labels)
    ref_out, ref_dx = ref_pick(x, dy, group, np.array([0, 3, 4, 0, 0, 2]))
    np.testing.assert_array_equal(out, ref_out, err_msg='seed %d' % seed)
    np.testing.assert_array_equal(dx, ref_dx, err_msg='seed %d' % seed)
    assert np.all(dlabels == 0)


@pytest.mark.parametrize('score_shape', ['2d', '4d'])
def test_group_pick_score(score_shape, test_seed):
    seed = test_seed + 13
    rng = np.random.default_rng(seed)
    group, k, n = 4, 2, 5
    x = rng.standard_normal((n, group * k, 3, 3)).astype(np.float32)
    scores = rng.uniform(0, 1, (n, group)).astype(np.float32)
    scores[0] = [0.9, 0.05, 0.03, 0.02]  # background best: still a foreground group (1)
    scores[1] = [0.1, 0.3, 0.3, 0.3]  # tie: the lowest index (1)
    picked = np.argmax(scores[:, 1:], axis=1) + 1
    assert picked[0] == 1 and picked[1] == 1
    pick_idx = scores if score_shape == '2d' else scores.reshape(n, group, 1, 1)
    dy = rng.standard_normal((n, k, 3, 3)).astype(np.float32)
    out, (dx, dscores) = run(lambda d, p: group_pick(d, p, group, 'Score_Pick'), x, dy, pick_idx)
    ref_out, ref_dx = ref_pick(x, dy, group, picked)
    np.testing.assert_array_equal(out, ref_out, err_msg='seed %d' % seed)
    np.testing.assert_array_equal(dx, ref_dx, err_msg='seed %d' % seed)
    assert np.all(dscores == 0)


def test_numeric_gradients(test_seed):
    rng = np.random.default_rng(test_seed + 2)
    data = mx.sym.var('data')
    # Group_Max: members at least 0.5 apart, so +-eps never changes the argmax
    x = rng.permutation(np.arange(2 * 6 * 3 * 3)).reshape(2, 6, 3, 3).astype(np.float32) * 0.5
    check_numeric_gradient(mx.sym.ChannelOperator(data, op_type='Group_Max', group=3),
                           {'data': x}, numeric_eps=1e-2, rtol=1e-2, atol=1e-3)
    x = rng.standard_normal((2, 6, 3, 3)).astype(np.float32)
    check_numeric_gradient(mx.sym.ChannelOperator(data, op_type='Group_Softmax', group=2),
                           {'data': x}, numeric_eps=1e-3, rtol=2e-2, atol=1e-3)
    pick = mx.sym.ChannelOperator(data, mx.sym.var('label'), op_type='Group_Pick', group=3,
                                  pick_type='Label_Pick')
    check_numeric_gradient(pick, {'data': x, 'label': np.array([2, 1], np.float32)},
                           grad_nodes=['data'], numeric_eps=1e-2, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize('inputs,attrs,word', [
    ([(2, 6, 3, 3)], dict(op_type='Group_Max', group=4), "'group'"),
    ([(2, 6, 3, 3)], dict(op_type='Group_Min', group=3), "'op_type'"),
    ([(2, 6, 3, 3)], dict(op_type='Group_Max', group=0), "'group'"),
    ([(2, 6, 3, 3), (2,)], dict(op_type='Group_Pick', group=3, pick_type='Best'), "'pick_type'"),
    ([(2, 6, 3, 3), (3,)], dict(op_type='Group_Pick', group=3), "'pick_idx'"),
    ([(2, 6, 3, 3), (2, 2)], dict(op_type='Group_Pick', group=3, pick_type='Score_Pick'),
     "'pick_idx'"),
])
def test_bad_attributes_raise_mxnet_error(inputs, attrs, word):
    arrays = [mx.nd.zeros(s) for s in inputs]
    with pytest.raises(mx.base.MXNetError, match=word):
        mx.nd.ChannelOperator(*arrays, **attrs)
