"""fcis.core.local_group: gradient sums between worker processes through a shared file.

Three spawned workers exchange arrays for many rounds with uneven delays (a fast worker may
run a round ahead): after every sum each holds the float32 sum of the three workers'
values added in rank order, bit for bit; broadcast gives worker 0's values, average the
mean. A worker that fails releases the others, which raise GroupStopped. fit's update step
with a group of two workers on a one-layer least-squares problem matches NumPy: 'sum' takes
one SGD step on the summed gradients, 'each' a step on worker 0's gradient and then one on
worker 1's (both computed before the first step).
"""
import multiprocessing
import queue
import shutil
import tempfile
import time

import numpy as np

from fcis.core.local_group import GroupSpec, GroupStopped, LocalGroup

SHAPES = [(3, 4), (5,), (2, 2, 2)]
WORKERS = 3
ROUNDS = 12


def values(seed, rank, round_index):
    """[float32 array per shape] worker ``rank`` contributes in round ``round_index``."""
    rng = np.random.RandomState(seed + 1000 * round_index + rank)
    return [(rng.standard_normal(s) * (rank + 1)).astype(np.float32) for s in SHAPES]


def worker(spec, rank, seed, fail_round, results):
    """Exchange ROUNDS rounds (failing at ``fail_round`` if it is this worker's), then a
    broadcast and an average; put (rank, what happened, [sums...]) on ``results``."""
    import lib  # noqa: F401  (prepares numpy for MXNet)
    import mxnet as mx
    group = LocalGroup(spec, rank)
    group.attach(sum(int(np.prod(s)) for s in SHAPES))
    arrays = [mx.nd.zeros(s) for s in SHAPES]     # the same arrays every round, as gradients
    delays = np.random.RandomState(seed + rank).uniform(0, 0.02, ROUNDS)
    sums = []
    try:
        for k in range(ROUNDS):
            if rank == fail_round[0] and k == fail_round[1]:
                group.abort()
                results.put((rank, 'failed', sums))
                return
            for array, value in zip(arrays, values(seed, rank, k)):
                array[:] = value
            time.sleep(delays[k])
            group.sum_into(arrays)
            sums.append([a.asnumpy() for a in arrays])
        for array, value in zip(arrays, values(seed, rank, ROUNDS)):
            array[:] = value
        group.broadcast_into(arrays)
        sums.append([a.asnumpy() for a in arrays])
        group.average_into(arrays)
        sums.append([a.asnumpy() for a in arrays])
    except GroupStopped:
        results.put((rank, 'stopped', sums))
        return
    results.put((rank, 'done', sums))


def run_workers(target, count, args, update='sum'):
    """{rank: what it reported} of ``count`` spawned ``target(spec, rank, *args, results)``
    (each puts one (rank, ...) tuple on ``results``)."""
    context = multiprocessing.get_context('spawn')
    folder = tempfile.mkdtemp(prefix='fcis-test-group-')
    results = context.Queue()
    spec = GroupSpec(count, folder, context.Barrier(count), update)
    processes = [context.Process(target=target, args=(spec, r) + tuple(args) + (results,))
                 for r in range(count)]
    try:
        for process in processes:
            process.start()
        out = {}
        for _ in processes:
            report = results.get(timeout=120)
            out[report[0]] = report[1:]
        return out
    except queue.Empty:
        raise AssertionError('a worker did not report within 120 s (a hang at the barrier?)')
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
        shutil.rmtree(folder, ignore_errors=True)


def run_group(seed, fail_round=(-1, -1)):
    """{rank: (what happened, sums)} of WORKERS spawned workers."""
    return run_workers(worker, WORKERS, (seed, fail_round))


def test_every_worker_holds_the_rank_order_sum_each_round(test_seed):
    out = run_group(test_seed)
    assert sorted(out) == list(range(WORKERS))
    assert all(what == 'done' for what, _ in out.values())
    for k in range(ROUNDS):
        contributions = [values(test_seed, r, k) for r in range(WORKERS)]
        for i in range(len(SHAPES)):
            expected = contributions[0][i] + contributions[1][i]
            for r in range(2, WORKERS):
                expected = expected + contributions[r][i]          # float32, rank order
            for rank in range(WORKERS):
                np.testing.assert_array_equal(out[rank][1][k][i], expected,
                                              err_msg='round %d array %d rank %d' % (k, i, rank))
    broadcast = values(test_seed, 0, ROUNDS)
    for rank in range(WORKERS):
        for i in range(len(SHAPES)):
            np.testing.assert_array_equal(out[rank][1][ROUNDS][i], broadcast[i])
            np.testing.assert_allclose(out[rank][1][ROUNDS + 1][i], broadcast[i], rtol=1e-6)


def test_a_failing_worker_releases_the_others(test_seed):
    out = run_group(test_seed, fail_round=(2, 5))
    assert out[2][0] == 'failed'
    for rank in (0, 1):
        what, sums = out[rank]
        assert what == 'stopped'
        # the rounds before the failure were summed; an abort right after the barrier of
        # round 4 may reach a worker before it saw that barrier open
        assert len(sums) in (4, 5), len(sums)


# ---- the optimizer steps of fit's update with a group: 'sum' and 'each' ------------------

LR, WD = 0.1, 0.1
INPUTS, OUTPUTS = 4, 3


def tiny_problem(seed, rank):
    """(x (1, INPUTS), y (1, OUTPUTS)) of worker ``rank``, and the shared W0 (OUTPUTS,
    INPUTS), b0 (OUTPUTS,)."""
    rng = np.random.RandomState(seed)
    w0, b0 = rng.standard_normal((OUTPUTS, INPUTS)), rng.standard_normal(OUTPUTS)
    data = np.random.RandomState(seed + 1 + rank)
    x, y = data.standard_normal((1, INPUTS)), data.standard_normal((1, OUTPUTS))
    return [a.astype(np.float32) for a in (x, y, w0, b0)]


def update_worker(spec, rank, seed, results):
    """One forward/backward of loss = sum((W x + b - y)^2) on this worker's (x, y), then
    fit's update step through the group; puts (rank, W, b)."""
    import lib  # noqa: F401  (prepares numpy for MXNet)
    import mxnet as mx
    from fcis.core import module as fcis_module
    from fcis.core.shape_cache import ShapeModules
    x, y, w0, b0 = tiny_problem(seed, rank)
    data, label = mx.sym.Variable('data'), mx.sym.Variable('label')
    fc = mx.sym.FullyConnected(data, num_hidden=OUTPUTS, name='fc')
    loss = mx.sym.MakeLoss(mx.sym.sum(mx.sym.square(fc - label)))
    module = mx.mod.Module(loss, data_names=['data'], label_names=['label'], context=mx.cpu())
    module.bind(data_shapes=[('data', x.shape)], label_shapes=[('label', y.shape)])
    start = {'fc_weight': mx.nd.array(w0 * (rank + 1)), 'fc_bias': mx.nd.array(b0)}
    module.init_params(arg_params=start)          # worker 0's values win in start()
    group = LocalGroup(spec, rank)
    fcis_module.init_optimizer(module, group, {'learning_rate': LR, 'momentum': 0.0, 'wd': WD,
                                               'rescale_grad': 1.0})
    module.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
    fcis_module._update(ShapeModules(module), module, group)
    params = module.get_params()[0]
    results.put((rank, params['fc_weight'].asnumpy(), params['fc_bias'].asnumpy()))


def numpy_gradients(w, b, x, y):
    """dL/dW, dL/db of sum((W x + b - y)^2) for one sample (float64)."""
    residual = 2.0 * (w @ x[0] + b - y[0])
    return np.outer(residual, x[0]), residual


def run_update(seed, mode):
    """{rank: (W, b)} after update_worker in a group of two with rule ``mode``."""
    return run_workers(update_worker, 2, (seed,), update=mode)


def test_sum_takes_one_step_and_each_one_step_per_worker_in_rank_order(test_seed):
    x0, y0, w0, b0 = [a.astype(np.float64) for a in tiny_problem(test_seed, 0)]
    x1, y1 = [a.astype(np.float64) for a in tiny_problem(test_seed, 1)[:2]]
    g0, g1 = numpy_gradients(w0, b0, x0, y0), numpy_gradients(w0, b0, x1, y1)  # both at W0
    # 'sum': one step on g0 + g1; 'each': a step on g0, then one on g1 (computed at W0)
    w_sum = w0 - LR * (g0[0] + g1[0] + WD * w0)
    b_sum = b0 - LR * (g0[1] + g1[1])                  # no weight decay on biases
    w_mid = w0 - LR * (g0[0] + WD * w0)
    w_each = w_mid - LR * (g1[0] + WD * w_mid)
    b_each = b0 - LR * g0[1] - LR * g1[1]
    for mode, (w_expected, b_expected) in (('sum', (w_sum, b_sum)), ('each', (w_each, b_each))):
        out = run_update(test_seed, mode)
        np.testing.assert_array_equal(out[0][0], out[1][0])
        np.testing.assert_array_equal(out[0][1], out[1][1])
        np.testing.assert_allclose(out[0][0], w_expected, rtol=0, atol=1e-5, err_msg=mode)
        np.testing.assert_allclose(out[0][1], b_expected, rtol=0, atol=1e-5, err_msg=mode)
    # the two rules differ by far more than the tolerance (weight decay on the moved W)
    assert np.abs(w_sum - w_each).max() > 1e-4
