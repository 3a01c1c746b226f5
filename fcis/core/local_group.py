"""Gradient sums between the training processes of one machine (``default.LOCAL_WORKERS``).

N worker processes train the same network, each on its own shard of every batch (worker r
takes device positions [r*D, (r+1)*D) of a global batch of N*D images, fcis.core.dist). Before
every update each worker calls :meth:`LocalGroup.sum_into` on its gradients: it copies them
into its slot of a shared file, waits at a barrier for the others, then writes the sum of
all N slots, added in rank order, into its own gradient arrays. Every worker therefore holds
the same summed gradients (the same bits: the same additions in the same order) and applies
the same optimizer step to identical parameters: the arithmetic of one process with N*D
devices (gradients summed, ``rescale_grad`` 1).

Shared file: float32 ``[2, N, size]``; exchange k uses half ``k % 2``, worker r writes row
r. A worker writes half h again at exchange k + 2, after passing the barrier of exchange
k + 1, which every other worker reaches only after reading half h of exchange k: no row is
overwritten while another worker reads it. Every worker makes the same sequence of
exchanges: two at the start (parameters, auxiliary states), one per update, one at the end
of every epoch (auxiliary states).
"""
import os
import threading
from dataclasses import dataclass
from typing import Any

import mxnet as mx
import numpy as np

from lib.utils.ndarray_copy import FlatLayout


class GroupStopped(RuntimeError):
    """Another worker of the group failed or stopped; it reports its own error."""


@dataclass(frozen=True)
class GroupSpec:
    """What every worker gets (picklable for multiprocessing's spawn).

    num_workers: N; folder: where the shared file lives (one per run); barrier: a
    multiprocessing Barrier(N) of the spawn context; update: 'sum' (one optimizer step on
    the summed gradients) or 'each' (one step per worker's gradient, in rank order)."""
    num_workers: int
    folder: str
    barrier: Any
    update: str = 'sum'

    @property
    def path(self):
        return os.path.join(self.folder, 'exchange.f32')


class LocalGroup(object):
    """Worker ``rank`` of a group described by ``spec`` (see the module docstring)."""

    def __init__(self, spec, rank):
        self.spec = spec
        self.rank = int(rank)
        self.num_workers = int(spec.num_workers)
        self._buffer = None      # float32 [2, N, size], a view of the shared file
        self._scratch = None     # float32 [size]: the sum of an exchange
        self._layouts = {}       # handles of a list of arrays -> its FlatLayout
        self._exchanges = 0

    def wait(self):
        """Barrier of the group; GroupStopped when another worker failed or stopped."""
        try:
            self.spec.barrier.wait()
        except threading.BrokenBarrierError:
            raise GroupStopped('another training worker stopped') from None

    def abort(self):
        """Release the others from the barrier (they raise GroupStopped)."""
        self.spec.barrier.abort()

    def attach(self, size):
        """Map the shared file for exchanges of up to ``size`` float32 values (each worker
        gives the same size; the file grows once, to the largest)."""
        shape = (2, self.num_workers, int(size))
        nbytes = int(np.prod(shape)) * 4
        with open(self.spec.path, 'a+b') as f:
            if os.fstat(f.fileno()).st_size < nbytes:
                f.truncate(nbytes)
        self._buffer = np.asarray(np.memmap(self.spec.path, dtype=np.float32, mode='r+',
                                            shape=shape))   # a plain view: cheap slicing
        self._layouts = {}
        self._scratch = np.empty(int(size), dtype=np.float32)

    def start(self, module):
        """Attach for a bound ``mx.mod.Module`` of one device and give every worker worker
        0's parameters and auxiliary states."""
        if len(module._context) != 1:
            raise ValueError('default.LOCAL_WORKERS > 1 trains one device per worker; got %d '
                             "devices (set num_cpu_devices=1 and gpus='')" % len(module._context))
        params, aux = _first_device(module._exec_group.param_arrays), \
            _first_device(module._exec_group.aux_arrays)
        self.attach(max(sum(a.size for a in arrays) for arrays in (params, aux)))
        self.broadcast_into(params)
        self.broadcast_into(aux)
        module._params_dirty = True

    def sum_gradients(self, module):
        """sum_into on the gradients of ``module`` (started with :meth:`start`)."""
        self.sum_into(_gradients(module))

    @property
    def updates_per_batch(self):
        """Optimizer steps per batch (steps_per_batch of this group)."""
        return steps_per_batch(self.num_workers, self.spec.update)

    def gradients_in_turn(self, module):
        """Exchange the gradients of ``module``, then put each worker's, in rank order, into
        its gradient arrays: a generator that yields the rank after each (the caller steps
        the optimizer there)."""
        arrays = _gradients(module)
        layout = self._layout(arrays)
        rows = self._exchange(layout)
        for rank in range(self.num_workers):
            layout.scatter(rows[rank])
            yield rank

    def average_aux(self, module):
        """average_into on the auxiliary states (BatchNorm statistics) of ``module``."""
        mx.nd.waitall()   # BatchNorm's backward writes them unseen by the engine (fit)
        self.average_into(_first_device(module._exec_group.aux_arrays))
        module._params_dirty = True

    def _layout(self, arrays):
        """The FlatLayout of ``arrays`` (made once per list of arrays)."""
        key = tuple(a.handle.value for a in arrays)
        if key not in self._layouts:
            layout = FlatLayout(arrays)
            if layout.size > self._scratch.size:
                raise ValueError('LocalGroup: %d values exceed the attached size %d'
                                 % (layout.size, self._scratch.size))
            self._layouts[key] = layout
        return self._layouts[key]

    def _exchange(self, layout, write=True):
        """Write the arrays of ``layout`` into this worker's row (if ``write``) and wait for
        every worker; returns the rows of this exchange, [N, size]."""
        rows = self._buffer[self._exchanges % 2]
        self._exchanges += 1
        if write:
            layout.gather(rows[self.rank])
        self.wait()
        return rows

    def sum_into(self, arrays):
        """Replace every worker's ``arrays`` (float32 NDArrays, same shapes on every worker)
        by their sum over the workers, added in rank order."""
        layout = self._layout(arrays)
        rows = self._exchange(layout)
        total = self._scratch[:layout.size]
        np.copyto(total, rows[0, :layout.size])
        for rank in range(1, self.num_workers):
            np.add(total, rows[rank, :layout.size], out=total)
        layout.scatter(total)

    def average_into(self, arrays):
        """Replace every worker's ``arrays`` by their mean over the workers."""
        self.sum_into(arrays)
        for target in arrays:
            target /= self.num_workers
        mx.nd.waitall()

    def broadcast_into(self, arrays):
        """Give every worker's ``arrays`` the values of worker 0's."""
        layout = self._layout(arrays)
        rows = self._exchange(layout, write=self.rank == 0)
        if self.rank != 0:
            layout.scatter(rows[0])


def steps_per_batch(num_workers, update):
    """Optimizer steps per batch of ``num_workers`` workers with rule ``update``: one per
    worker for 'each', else (and for one worker) 1."""
    return int(num_workers) if update == 'each' else 1


def _gradients(module):
    """The gradient arrays (device 0) of the trained parameters of ``module``."""
    return [g for g in _first_device(module._exec_group.grad_arrays) if g is not None]


def _first_device(per_device):
    """[arrays of device 0] of an executor group's [[array per device]] lists."""
    return [arrays[0] for arrays in per_device]


__all__ = ['GroupSpec', 'GroupStopped', 'LocalGroup', 'steps_per_batch']
