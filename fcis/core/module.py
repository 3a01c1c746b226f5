"""Training loop of FCIS on MXNet's symbolic Module API, with variable input shapes.

Every batch may have its own input shapes (image size, number of GT instances). One base
``mx.mod.Module`` is bound once (to ``BindArgs.max_data_shapes`` if given, else to the first
batch); each other shape key gets a Module bound once and kept (``shape_cache.ShapeModules``)
that shares the base's parameter, gradient and auxiliary arrays, memory pool and optimizer,
so parameters and momentum are shared by all shapes and no batch pays for a rebind.

Optimizer: ``FCISSGD`` (fcis.core.optimizer, registered as 'fcissgd'). Gradients are summed
over devices (``rescale_grad=1.0`` by default, as the original: each loss is normalized per
image).
With a dist kvstore the sum runs over all devices of all workers and every worker applies
the step itself (:func:`init_optimizer`; docs/training.md).

Determinism and resuming: each epoch starts by reseeding Python ``random``, NumPy and MXNet
from (seed, epoch) and then resets the iterator (``train_iter.set_epoch(epoch)`` if it has
one, else ``train_iter.reset()``), so all randomness of an epoch depends only on (seed,
epoch). A checkpoint is written after every epoch (parameters, optimizer states, update
count); resuming from it with ``EpochArgs.begin_epoch``, ``EpochArgs.begin_num_update`` and
``CheckpointArgs.optimizer_states`` (fcis.core.fit_args) continues exactly like an
uninterrupted run.
"""
import functools
import logging
import os
import random
from dataclasses import dataclass
from typing import Any, Callable, Tuple

import mxnet as mx
import numpy as np

from .callback import BatchInfo, NonFiniteLossError, check_finite
from .checkpoint import restore_optimizer_states, save_training_checkpoint
from .dist import is_distributed
from .fit_args import BindArgs, FitArgs
from .local_group import LocalGroup
from .optimizer import FCISSGD  # noqa: F401  (registers 'fcissgd', which init_optimizer names)
from .shape_cache import ShapeModules

def epoch_seed(seed, epoch):
    """A 31-bit seed derived from (seed, epoch) (independent streams per epoch)."""
    return int(np.random.SeedSequence([int(seed), int(epoch) + 1]).generate_state(1)[0] >> 1)


def reseed(seed, epoch):
    """Seed Python random, NumPy and MXNet (all devices) from (seed, epoch)."""
    value = epoch_seed(seed, epoch)
    random.seed(value)
    np.random.seed(value)
    mx.random.seed(value)
    return value


def _epoch_size(train_iter, epoch_size):
    if epoch_size is not None:
        return int(epoch_size)
    try:
        return len(train_iter)
    except TypeError:
        pass
    if hasattr(train_iter, 'num_batches'):
        return int(train_iter.num_batches)
    raise ValueError('fit(): epoch_size (batches per epoch) is needed; the iterator %s has no '
                     'len() or num_batches' % type(train_iter).__name__)


def _check_params(symbol, data_names, label_names, arg_params, aux_params):
    """Error naming the parameters that are neither given nor initializable."""
    inputs = set(data_names) | set(label_names)
    missing = [n for n in symbol.list_arguments() if n not in inputs and n not in arg_params]
    missing += [n for n in symbol.list_auxiliary_states() if n not in aux_params]
    if missing:
        raise ValueError('fit(): no value for parameters %s; pass them in arg_params/aux_params '
                         'or give an initializer' % missing[:10])


def bind_module(symbol, train_iter, contexts, bind=BindArgs(), logger=None):
    """Create and bind the training Module (to the max shapes if given, else the first batch)."""
    data_names = [d.name for d in train_iter.provide_data]
    label_names = [d.name for d in train_iter.provide_label]
    module = mx.mod.Module(symbol, data_names=data_names, label_names=label_names,
                           context=contexts, logger=logger or logging,
                           fixed_param_names=list(bind.fixed_param_names))
    module.bind(data_shapes=bind.max_data_shapes or train_iter.provide_data,
                label_shapes=bind.max_label_shapes or train_iter.provide_label, for_training=True)
    return module


def fit(symbol, train_iter, contexts, arg_params=None, aux_params=None, args=FitArgs(),
        initializer=None, eval_metric=None, callbacks=(), logger=None, run_ops=None):
    """Train ``symbol`` on ``train_iter`` for the epochs of ``args``; returns the Module.

    Args:
        symbol: training symbol (its outputs feed ``eval_metric``).
        train_iter: mx.io.DataIter; batches may change shapes (DataBatch.provide_data/label).
            Optional methods: ``set_epoch(epoch)`` (else ``reset()`` is called at each epoch
            start), ``len()`` or ``num_batches`` (else give ``args.epochs.epoch_size``).
        contexts: list of mx.Context (data parallel, batch split along axis 0).
        arg_params, aux_params: {name: NDArray} initial values (pretrained or checkpoint).
        args: FitArgs (fcis.core.fit_args): optimizer, epochs, checkpoints, binding, kvstore
            (dist: see :func:`init_optimizer`); checked first (ValueError naming the argument).
        initializer: mx.init.Initializer for parameters missing from arg/aux_params (None:
            every parameter must be given).
        eval_metric: mx.metric.EvalMetric (e.g. metric.get_metrics(...)); checked for NaN/inf
            after every batch (callback.NonFiniteLossError, before the update). An operator
            failing while some parameters are NaN/inf (a diverged update; e.g. the proposal
            NMS refuses NaN boxes) is reported the same way, naming those parameters.
        callbacks: objects with optional epoch_begin(epoch), batch_end(info), epoch_end(info)
            (callback.TrainingMonitor).
        logger: logging.Logger (default: the root logger).
        run_ops: callable(fn) -> fn() that runs each batch's operators (forward, backward,
            metric, update) on the thread it chooses (lib.utils.thread_governor
            ThreadGovernor.run); None runs them on this thread.
    """
    args.check()
    logger = logger or logging.getLogger()
    arg_params, aux_params = dict(arg_params or {}), dict(aux_params or {})
    epochs = args.epochs
    epoch_size = _epoch_size(train_iter, epochs.epoch_size)
    num_update = (epochs.begin_epoch * epoch_size * updates_per_batch(args.kvstore)
                  if epochs.begin_num_update is None else int(epochs.begin_num_update))
    module = bind_module(symbol, train_iter, contexts, args.bind, logger)
    if initializer is None:
        _check_params(symbol, module.data_names, module.label_names, arg_params, aux_params)
    reseed(epochs.seed, epochs.begin_epoch)
    module.init_params(initializer=initializer or mx.init.Uniform(0.01), arg_params=arg_params,
                       aux_params=aux_params, allow_missing=initializer is not None,
                       force_init=True)
    init_optimizer(module, args.kvstore, args.optim.optimizer_params(num_update))
    if args.checkpoint.optimizer_states:
        restore_optimizer_states(module, args.checkpoint.optimizer_states)
    loop = _Loop(args, eval_metric or mx.metric.CompositeEvalMetric(), tuple(callbacks),
                 train_iter.batch_size * num_workers(module, args.kvstore),  # images per update
                 run_ops or _run_here)
    modules = ShapeModules(module)
    for epoch in range(epochs.begin_epoch, epochs.end_epoch):
        num_update, nbatch = _train_epoch(modules, train_iter, epoch, num_update, loop)
        if isinstance(args.kvstore, LocalGroup):
            loop.run_ops(functools.partial(args.kvstore.average_aux, module))
        if args.checkpoint.directory:
            # BatchNorm's backward writes the moving mean/var without telling MXNet's engine
            # (they are read-only inputs of _backward_BatchNorm), so get_params() could copy
            # them before the last batch's update: wait for every pending operation first.
            mx.nd.waitall()
            path = save_training_checkpoint(module, args.checkpoint.directory,
                                            args.checkpoint.prefix, epoch + 1, num_update,
                                            epochs.seed, {'epoch_size': epoch_size})
            logger.info('Epoch[%d] saved checkpoint %s', epoch, path)
        _call(loop.callbacks, 'epoch_end', loop.info(epoch, nbatch, num_update))
    return module


@dataclass(frozen=True)
class _Loop:
    """What every batch of fit's epochs shares: the arguments, the metric, the callbacks and
    the images per update (all workers)."""
    args: FitArgs
    eval_metric: Any
    callbacks: Tuple[Any, ...]
    batch_size: int
    run_ops: Callable[[Callable[[], Any]], Any]

    def info(self, epoch, nbatch, num_update):
        """BatchInfo for the callbacks after ``num_update`` updates."""
        return BatchInfo(epoch, nbatch, self.eval_metric, num_update,
                         self.args.optim.lr_at(num_update), self.batch_size)


def init_optimizer(module, kvstore, optimizer_params):
    """Install FCISSGD on ``module`` with ``kvstore`` ('device', 'dist_sync', a KVStore, ...).

    Distributed kvstores: the servers only sum the gradients of all workers (MXNet's
    ``update_on_kvstore=False``, set through MXNET_UPDATE_ON_KVSTORE for this call) and
    every worker applies the same optimizer step to its own copy, so the optimizer states
    stay on the workers (MXNet cannot save states held by dist servers) and worker 0 can
    checkpoint them. Every worker then takes worker 0's initial parameters from the store.

    A LocalGroup (fcis.core.local_group): no kvstore (one device per worker); every worker
    takes worker 0's parameters and auxiliary states from the group.
    """
    if isinstance(kvstore, LocalGroup):
        module.init_optimizer(kvstore='device', optimizer='fcissgd',
                              optimizer_params=optimizer_params)
        kvstore.start(module)
        return
    if not is_distributed(kvstore):
        module.init_optimizer(kvstore=kvstore, optimizer='fcissgd',
                              optimizer_params=optimizer_params)
        return
    saved = os.environ.get('MXNET_UPDATE_ON_KVSTORE')
    os.environ['MXNET_UPDATE_ON_KVSTORE'] = '0'
    try:
        module.init_optimizer(kvstore=kvstore, optimizer='fcissgd',
                              optimizer_params=optimizer_params)
    finally:
        if saved is None:
            del os.environ['MXNET_UPDATE_ON_KVSTORE']
        else:
            os.environ['MXNET_UPDATE_ON_KVSTORE'] = saved
    assert not module._update_on_kvstore, 'dist training must update on the workers'
    group = module._exec_group
    for name, arrays in zip(group.param_names, group.param_arrays):
        module._kvstore.pull(name, out=arrays)   # the value worker 0 stored by kvstore.init
    mx.nd.waitall()
    module._params_dirty = True


def num_workers(module, kvstore=None):
    """Number of workers of the run: of the LocalGroup ``kvstore``, else of ``module``'s
    kvstore (1 without a distributed one)."""
    if isinstance(kvstore, LocalGroup):
        return kvstore.num_workers
    kvstore = getattr(module, '_kvstore', None)
    return int(kvstore.num_workers) if is_distributed(kvstore) else 1


def _run_here(fn):
    return fn()


def _call(callbacks, method, arg):
    for c in callbacks:
        if hasattr(c, method):
            getattr(c, method)(arg)


def nonfinite_params(module):
    """[('parameter <name>', 'nan' or 'inf')] of the module's non-finite parameters/aux states.

    Reads the executors' arrays directly (after an operator failed, MXNet may refuse new
    computations such as get_params()' device sum); [] when even that fails.
    """
    group = module._exec_group
    named = list(zip(group.param_names, group.param_arrays))
    named += list(zip(group.aux_names, group.aux_arrays))
    bad = []
    try:
        for name, per_device in named:
            arrays = [a.asnumpy() for a in per_device]
            if not all(np.isfinite(a).all() for a in arrays):
                nan = any(np.isnan(a).any() for a in arrays)
                bad.append(('parameter ' + name, 'nan' if nan else 'inf'))
    except mx.base.MXNetError:
        return []
    return bad


def _forward_backward(module, batch, eval_metric):
    module.forward_backward(batch)
    module.update_metric(eval_metric, batch.label)


def updates_per_batch(kvstore):
    """Optimizer steps per batch: the LocalGroup's, else 1."""
    return kvstore.updates_per_batch if isinstance(kvstore, LocalGroup) else 1


def _update(modules, module, kvstore):
    """The optimizer steps of one batch: with a LocalGroup after summing the gradients,
    or one step per worker's gradient (update 'each')."""
    if updates_per_batch(kvstore) > 1:
        for _ in kvstore.gradients_in_turn(module):
            modules.update(module)
        return
    if isinstance(kvstore, LocalGroup):
        kvstore.sum_gradients(module)
    modules.update(module)


def _train_epoch(modules, train_iter, epoch, num_update, loop):
    """One epoch of forward/backward/update -> (update count after it, batches done).

    ``modules``: ShapeModules giving the Module bound to each batch's shapes; ``loop``: the
    _Loop of fit."""
    reseed(loop.args.epochs.seed, epoch)
    if hasattr(train_iter, 'set_epoch'):
        train_iter.set_epoch(epoch)
    else:
        train_iter.reset()
    loop.eval_metric.reset()
    _call(loop.callbacks, 'epoch_begin', epoch)
    nbatch = 0
    for batch in train_iter:
        module = modules.get(batch)
        try:
            loop.run_ops(functools.partial(_forward_backward, module, batch, loop.eval_metric))
        except mx.base.MXNetError as err:
            # e.g. the NMS of the proposal op refusing NaN boxes made by a diverged update
            bad = nonfinite_params(modules.base)
            if bad:
                raise NonFiniteLossError(epoch, nbatch + 1, bad[:5]) from err
            raise
        nbatch += 1
        check_finite(loop.eval_metric, epoch, nbatch)
        loop.run_ops(functools.partial(_update, modules, module, loop.args.kvstore))
        num_update += updates_per_batch(loop.args.kvstore)
        _call(loop.callbacks, 'batch_end', loop.info(epoch, nbatch, num_update))
    return num_update, nbatch
