"""fcis.core.local_group: gradient sums between worker processes through a shared file.

Three spawned workers exchange arrays for many rounds with uneven delays (a fast worker may
run a round ahead): after every sum each holds the float32 sum of the three workers'
values added in rank order, bit for bit; broadcast gives worker 0's values, average the
mean. A worker that fails releases the others, which raise GroupStopped.
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


def run_group(seed, fail_round=(-1, -1)):
    """{rank: (what happened, sums)} of WORKERS spawned workers."""
    context = multiprocessing.get_context('spawn')
    folder = tempfile.mkdtemp(prefix='fcis-test-group-')
    results = context.Queue()
    spec = GroupSpec(WORKERS, folder, context.Barrier(WORKERS))
    processes = [context.Process(target=worker, args=(spec, r, seed, fail_round, results))
                 for r in range(WORKERS)]
    try:
        for process in processes:
            process.start()
        out = {}
        for _ in processes:
            rank, what, sums = results.get(timeout=120)
            out[rank] = (what, sums)
        return out
    except queue.Empty:
        raise AssertionError('a worker did not report within 120 s (a hang at the barrier?)')
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
        shutil.rmtree(folder, ignore_errors=True)


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
