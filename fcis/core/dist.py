"""Data-parallel training over several processes/machines with MXNet's ps-lite kvstore.

``default.kvstore`` selects the mode:

- 'device' / 'local': one process; the batch (one image per device) is split over the
  config's devices and the gradients are summed (``rescale_grad=1``).
- 'dist_sync' / 'dist_device_sync': one process per worker, started together with a
  scheduler and servers by ``experiments/fcis/tools/launch_dist.py`` (which sets the DMLC_*
  environment). Every worker trains on its own shard of each global batch
  (:func:`shard_plan`); gradients are summed over all devices of all workers by the
  servers; each worker then applies the same optimizer step locally, so all workers hold
  identical parameters (see fcis.core.module.fit).

Sharding: the epoch plan is drawn for a global batch of ``devices * workers`` images (same
seed on every worker, so every worker draws the same plan). Worker ``rank`` takes positions
``[rank * devices, (rank + 1) * devices)`` of every global batch. The shards are disjoint,
cover the image database, keep the aspect grouping (a global batch has one orientation),
and every worker has the same number of batches, which ``dist_sync`` requires. Worker r of
an N-worker run therefore sees exactly the images of devices [r*D, (r+1)*D) of a
one-process run with N*D devices.
"""
import collections
import contextlib
import logging
import os
import sys
import traceback

import mxnet as mx

from .local_group import LocalGroup

DIST_ENV = ('DMLC_ROLE', 'DMLC_PS_ROOT_URI', 'DMLC_PS_ROOT_PORT', 'DMLC_NUM_WORKER',
            'DMLC_NUM_SERVER')

_LAST_RANK = [0]  # rank of the most recent setup() in this process (see last_rank)

Distributed = collections.namedtuple('Distributed', 'kvstore rank num_workers')
Distributed.__doc__ = """kvstore: what fit() gets (an mx.kv.KVStore for dist types, else the
type string); rank: 0-based worker rank (0 in one process); num_workers: worker count."""


def is_distributed(kvstore):
    """True for 'dist_*' kvstore types (a type string or an mx.kv.KVStore)."""
    kv_type = kvstore if isinstance(kvstore, str) else getattr(kvstore, 'type', '')
    return bool(kv_type) and kv_type.startswith('dist')


def check_dist_environment(kvstore_type, env=None):
    """Raise RuntimeError (one line) when a dist kvstore is asked for without DMLC_* settings."""
    env = os.environ if env is None else env
    missing = [name for name in DIST_ENV if not env.get(name)]
    if missing:
        raise RuntimeError(
            "default.kvstore=%s needs the DMLC_* environment (missing %s); start the run with "
            "'python experiments/fcis/tools/launch_dist.py --workers N --servers M -- <train "
            "command>' or use default.kvstore=device for one process" % (kvstore_type, ', '.join(missing)))
    if env['DMLC_ROLE'] != 'worker':
        raise RuntimeError("DMLC_ROLE=%s: only workers run training (servers and the scheduler "
                           "run 'python -c \"import lib, mxnet\"')" % env['DMLC_ROLE'])


def setup(kvstore_type):
    """Create the kvstore of a run -> :data:`Distributed`.

    For dist types this joins the job (blocks until the scheduler, all servers and all
    workers are up) and returns the KVStore; otherwise the type string is passed on and
    fit() creates (or skips) the local kvstore itself.
    """
    _LAST_RANK[0] = 0
    if not is_distributed(kvstore_type):
        return Distributed(kvstore_type, 0, 1)
    if 'async' in kvstore_type:
        raise RuntimeError('default.kvstore=%s is not supported: the servers only sum gradients '
                           'and the workers update in step; use dist_sync (CPU) or '
                           'dist_device_sync (GPUs)' % kvstore_type)
    check_dist_environment(kvstore_type)
    kv = mx.kv.create(kvstore_type)
    _LAST_RANK[0] = int(kv.rank)
    return Distributed(kv, int(kv.rank), int(kv.num_workers))


def last_rank():
    """Worker rank of the last :func:`setup` in this process (0 if none or not distributed).

    For entry points that do more after training (e.g. testing): only worker 0 should.
    """
    return _LAST_RANK[0]


def barrier(dist):
    """Wait for all workers (no-op in one process)."""
    if is_distributed(dist.kvstore):
        dist.kvstore._barrier()  # pylint: disable=protected-access  (public in MXNet 2)
    elif isinstance(dist.kvstore, LocalGroup):
        dist.kvstore.wait()


def rank0_first(dist, fn):
    """Run ``fn()`` on worker 0, then on the other workers (e.g. dataset generation/caches).

    Returns ``fn()``'s result on every worker.
    """
    if dist.rank == 0:
        result = fn()
        barrier(dist)
        return result
    barrier(dist)
    return fn()


@contextlib.contextmanager
def exit_on_error(dist, logger=None):
    """Dist workers: an exception inside the block ends the process at once with status 1.

    A Python exit would destroy the KVStore, whose ps-lite finalization waits for every other
    worker (which are themselves waiting for this one): the job would hang instead of
    failing. Ending with ``os._exit(1)`` lets the launcher see the failure and stop the
    others. The traceback goes to ``logger`` (and stderr). Outside dist runs: no effect.
    """
    if not is_distributed(dist.kvstore):
        yield
        return
    try:
        yield
    except BaseException as err:  # pylint: disable=broad-except  (KeyboardInterrupt too)
        message = 'worker %d failed: %s' % (dist.rank, traceback.format_exc())
        (logger or logging.getLogger(__name__)).error('%s', message.rstrip())
        sys.stderr.write('error: worker %d: %s\n' % (dist.rank, err))
        for handler in (logger.handlers if logger else []):
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)  # pylint: disable=protected-access


def worker_log_name(filename, rank):
    """'train.log' for worker 0, 'train.worker3.log' for worker 3 (no two writers per file)."""
    if rank == 0:
        return filename
    stem, ext = os.path.splitext(filename)
    return '%s.worker%d%s' % (stem, rank, ext)


def check_shard(shard):
    """(rank, num_shards) as ints, checked: 0 <= rank < num_shards."""
    try:
        rank, count = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise ValueError('shard=%r must be a pair (rank, num_workers)' % (shard,))
    if count < 1 or not 0 <= rank < count:
        raise ValueError('shard=(%d, %d): need num_workers >= 1 and 0 <= rank < num_workers'
                         % (rank, count))
    return rank, count


def shard_plan(plan, rank, num_shards):
    """Worker ``rank``'s part of every global batch of an epoch plan.

    plan: list of (indices (num_shards * B,), pad, seed) from fcis.core.loader.epoch_plan,
        whose last ``pad`` indices of a batch are fillers repeating earlier images.
    Returns list of (indices (B,), pad within this part, seed): the seed is the global
    batch's (every worker draws the same scale for a step).
    """
    rank, num_shards = check_shard((rank, num_shards))
    out = []
    for indices, pad, seed in plan:
        size = len(indices)
        if size % num_shards:
            raise ValueError('shard_plan: batch of %d images cannot be split in %d equal parts'
                             % (size, num_shards))
        part = size // num_shards
        start, stop = rank * part, (rank + 1) * part
        first_filler = size - pad
        out.append((indices[start:stop], max(0, stop - max(start, first_filler)), seed))
    return out


__all__ = ['Distributed', 'is_distributed', 'check_dist_environment', 'setup', 'last_rank',
           'barrier', 'rank0_first', 'exit_on_error', 'worker_log_name', 'check_shard',
           'shard_plan']
