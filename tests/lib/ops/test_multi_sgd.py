"""MultiSGDMom against MXNet's own ``sgd_mom_update`` (bit for bit) and a NumPy float32
reference of the same arithmetic."""
import mxnet as mx
import numpy as np
import pytest

from lib.ops import load_ops, multi_sgd_mom_update

load_ops()

# sizes below, at and above the op's 8192-element work blocks, and shaped weights
SHAPES = [(3,), (16, 3, 3, 3), (8192,), (8193,), (250, 128, 1, 1), (1,), (20000,)]


def make_params(rng, shapes):
    """Weights, gradients (some beyond a clip of 0.5 after rescaling) and momenta."""
    weights = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [(rng.standard_normal(s) * 2).astype(np.float32) for s in shapes]
    moms = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]
    return weights, grads, moms


def mxnet_steps(weights, grads, moms, lrs, wds, scalars):
    """MXNet's sgd_mom_update, one parameter at a time -> (weights, moms) as NumPy."""
    w_nd, m_nd = [mx.nd.array(w) for w in weights], [mx.nd.array(m) for m in moms]
    kwargs = {'momentum': scalars['momentum'], 'rescale_grad': scalars['rescale_grad']}
    if scalars['clip_gradient'] >= 0:
        kwargs['clip_gradient'] = scalars['clip_gradient']
    for w, g, m, lr, wd in zip(w_nd, grads, m_nd, lrs, wds):
        mx.nd.sgd_mom_update(w, mx.nd.array(g), m, out=w, lr=lr, wd=wd, **kwargs)
    return [a.asnumpy() for a in w_nd], [a.asnumpy() for a in m_nd]


def numpy_step(w, g, m, lr, wd, scalars):
    """The documented arithmetic in float32, one rounding per operation, left to right."""
    f = np.float32
    lr, wd = f(lr), f(wd)
    momentum, rescale = f(scalars['momentum']), f(scalars['rescale_grad'])
    clip = f(scalars['clip_gradient'])
    if clip >= 0:
        new_m = momentum * m - lr * wd * w - lr * np.clip(rescale * g, -clip, clip)
    else:
        new_m = momentum * m - lr * wd * w - lr * rescale * g
    return w + new_m, new_m


def native_steps(weights, grads, moms, lrs, wds, scalars):
    w_nd, m_nd = [mx.nd.array(w) for w in weights], [mx.nd.array(m) for m in moms]
    multi_sgd_mom_update(w_nd, [mx.nd.array(g) for g in grads], m_nd, lrs, wds, **scalars)
    return [a.asnumpy() for a in w_nd], [a.asnumpy() for a in m_nd]


def same_bits(a, b):
    return a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.uint32),
                                                               b.view(np.uint32))


@pytest.mark.parametrize('clip', [-1.0, 0.5])
def test_same_bits_as_mxnet_sgd_mom_update(clip, test_seed):
    rng = np.random.default_rng(test_seed)
    weights, grads, moms = make_params(rng, SHAPES)
    lrs = [0.02, 0.2, 0.02, 0.002, 0.2, 0.02, 0.013]
    wds = [1e-4, 0.0, 1e-4, 5e-4, 1e-4, 0.0, 1e-4]
    scalars = {'momentum': 0.9, 'rescale_grad': 0.5, 'clip_gradient': clip}
    got_w, got_m = native_steps(weights, grads, moms, lrs, wds, scalars)
    want_w, want_m = mxnet_steps(weights, grads, moms, lrs, wds, scalars)
    for k in range(len(SHAPES)):
        assert same_bits(got_w[k], want_w[k]) and same_bits(got_m[k], want_m[k]), SHAPES[k]
        ref_w, ref_m = numpy_step(weights[k], grads[k], moms[k], lrs[k], wds[k], scalars)
        assert same_bits(got_w[k], ref_w) and same_bits(got_m[k], ref_m), SHAPES[k]
        assert not np.array_equal(got_w[k], weights[k])  # the step changed something
    if clip >= 0:  # some rescaled gradients were clipped
        assert any(np.abs(0.5 * g).max() > clip for g in grads)


def test_separate_output_leaves_the_weights():
    rng = np.random.default_rng(0)
    weights, grads, moms = make_params(rng, [(5, 4), (9000,)])
    w_nd, m_nd = [mx.nd.array(w) for w in weights], [mx.nd.array(m) for m in moms]
    outs = [mx.nd.zeros(w.shape) for w in weights]
    args = [a for t in zip(w_nd, [mx.nd.array(g) for g in grads], m_nd) for a in t]
    mx.nd.MultiSGDMom(*args, out=outs, num_weights=2, lrs='0.1,0.01', wds='0,0.001',
                      momentum=0.9)
    scalars = {'momentum': 0.9, 'rescale_grad': 1.0, 'clip_gradient': -1.0}
    for k, (lr, wd) in enumerate([(0.1, 0.0), (0.01, 0.001)]):
        ref_w, ref_m = numpy_step(weights[k], grads[k], moms[k], lr, wd, scalars)
        assert same_bits(outs[k].asnumpy(), ref_w) and same_bits(m_nd[k].asnumpy(), ref_m)
        assert same_bits(w_nd[k].asnumpy(), weights[k])


def test_bad_calls_name_the_problem():
    w, g, m = mx.nd.ones((3,)), mx.nd.ones((3,)), mx.nd.zeros((3,))
    with pytest.raises(ValueError, match='2 weights, 1 grads'):
        multi_sgd_mom_update([w, w], [g], [m, m], [0.1, 0.1], [0, 0], momentum=0.9)
    with pytest.raises(mx.base.MXNetError, match="'lrs' lists 2 numbers for num_weights=1"):
        mx.nd.MultiSGDMom(w, g, m, out=[w], num_weights=1, lrs='0.1,0.2', wds='0')
    with pytest.raises(mx.base.MXNetError, match='must have one shape'):
        mx.nd.MultiSGDMom(w, mx.nd.ones((4,)), m, out=[w], num_weights=1, lrs='0.1', wds='0')
    with pytest.raises(mx.base.MXNetError, match="unknown attribute 'lr'"):
        mx.nd.MultiSGDMom(w, g, m, out=[w], num_weights=1, lrs='0.1', wds='0', lr='0.1')
