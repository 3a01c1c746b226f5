"""FCISSGD's size-grouped updates: the groups, and the same step as one update per weight."""
import mxnet as mx
import numpy as np

from fcis.core.module import FCISSGD, size_buckets


def test_size_buckets_hand_computed():
    # ascending: 1,1,1,2,3 | 100,200 | 50000,60000,125000; 100 after five small ones would
    # cost 6 x 100 = 600 > 2 x 108 elements
    sizes = [1, 1, 1, 100, 2, 200, 50000, 125000, 3, 60000]
    assert size_buckets(sizes) == [[0, 1, 2, 4, 8], [3, 5], [6, 9, 7]]
    assert size_buckets([]) == []
    assert size_buckets([7]) == [[0]]
    # every group's max(size) x count stays within twice its total
    for bucket in size_buckets(sizes):
        group = [sizes[i] for i in bucket]
        assert max(group) * len(group) <= 2 * sum(group)


def test_grouped_update_equals_numpy_momentum_step():
    rng = np.random.RandomState(0)
    shapes = [(3,), (490, 256, 1, 1), (16, 3, 7, 7), (5,), (128, 128, 3, 3), (2, 2)]
    names = ['p%d_weight' % i for i in range(len(shapes))]
    weights = [rng.randn(*s).astype(np.float32) for s in shapes]
    grads = [rng.randn(*s).astype(np.float32) for s in shapes]
    moms = [rng.randn(*s).astype(np.float32) for s in shapes]
    lr, wd, momentum = 0.05, 1e-3, 0.9
    opt = FCISSGD(learning_rate=lr, wd=wd, momentum=momentum, rescale_grad=1.0,
                  param_idx2name=dict(enumerate(names)))
    w_nd = [mx.nd.array(w) for w in weights]
    states = [mx.nd.array(m) for m in moms]
    opt.update_multi_precision(list(range(len(shapes))), w_nd, [mx.nd.array(g) for g in grads],
                               states)
    for w, g, m, got_w, got_m in zip(weights, grads, moms, w_nd, states):
        want_m = momentum * m - lr * (g + wd * w)
        np.testing.assert_allclose(got_m.asnumpy(), want_m, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_w.asnumpy(), w + want_m, rtol=1e-5, atol=1e-6)
    assert opt.num_update == 1
