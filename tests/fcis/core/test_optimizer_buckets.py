"""FCISSGD's grouped updates (one native call on the CPU, size groups elsewhere): the groups,
and the same step as one MXNet update per weight."""
import mxnet as mx
import numpy as np

from fcis.core.optimizer import FCISSGD, NATIVE_UPDATE, size_buckets


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


def test_size_buckets_hold_at_most_max_count():
    assert size_buckets([5] * 7, max_count=3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert [len(b) for b in size_buckets([1] * 100)] == [45, 45, 10]


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


class _StockPath(FCISSGD):
    """FCISSGD that always takes MXNet's SGD._update_impl, bucket by bucket (the reference
    for the cached fast path)."""

    def _update_impl(self, indices, weights, grads, states, multi_precision=False):
        for bucket in size_buckets([w.size for w in weights]):
            mx.optimizer.SGD._update_impl(self, [indices[i] for i in bucket],
                                          [weights[i] for i in bucket],
                                          [grads[i] for i in bucket],
                                          [states[i] for i in bucket], multi_precision)


def _three_updates(cls, clip_gradient):
    rng = np.random.RandomState(1)
    shapes = [(3,), (64, 32, 1, 1), (16, 3, 7, 7), (5,), (8, 8, 3, 3), (2, 2), (4000,)]
    names = ['a_weight', 'b_weight', 'c_weight', 'd_bias', 'e_gamma', 'f_beta', 'g_weight']
    sched = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5)
    opt = cls(learning_rate=0.1, wd=1e-3, momentum=0.9, rescale_grad=0.5,
              clip_gradient=clip_gradient, lr_scheduler=sched,
              param_idx2name=dict(enumerate(names)))
    opt.set_lr_mult({'b_weight': 3.0})
    weights = [mx.nd.array(rng.randn(*s)) for s in shapes]
    states = [opt.create_state(i, w) for i, w in enumerate(weights)]
    for _ in range(3):
        grads = [mx.nd.array(rng.randn(*s) * 4) for s in shapes]
        opt.update_multi_precision(tuple(range(len(shapes))), tuple(weights), tuple(grads),
                                   states)
    return [w.asnumpy() for w in weights + states], opt.num_update


class _BucketPath(FCISSGD):
    """FCISSGD taking the size groups of MXNet's multi_sgd_mom_update (its path off the
    CPU) on the CPU too."""
    native_cpu_update = False


def test_fast_paths_give_the_bits_of_mxnets_sgd():
    for cls in (FCISSGD, _BucketPath):
        for clip in (0, 0.7):
            got, got_count = _three_updates(cls, clip)
            want, want_count = _three_updates(_StockPath, clip)
            assert got_count == want_count == 3
            for g, w in zip(got, want):
                assert np.array_equal(g.view(np.uint32), w.view(np.uint32)), (cls, clip)


def test_fast_paths_only_for_dense_float32_with_momentum():
    opt = FCISSGD(learning_rate=0.1, momentum=0.9)
    dense = [mx.nd.ones((3,)), mx.nd.ones((4,))]
    assert opt._update_plan([0, 1], dense, dense, False) is NATIVE_UPDATE
    assert _BucketPath(learning_rate=0.1, momentum=0.9)._update_plan(
        [0, 1], dense, dense, False) == [[0, 1]]
    assert opt._update_plan([0, 1], dense, dense, True) is None
    assert opt._update_plan(0, dense[0], dense[0], False) is None
    half = [a.astype(np.float16) for a in dense]
    assert opt._update_plan([2, 3], half, half, False) is None
    assert FCISSGD(learning_rate=0.1)._update_plan([0, 1], dense, dense, False) is None
