"""Training checkpoints of an MXNet Module: parameters + optimizer states + counters.

Built on :mod:`lib.utils.checkpoint` (atomic files, manifest written last). The manifest's
``meta`` holds ``num_update`` (optimizer updates done so far, so the lr schedule continues),
``seed`` (the run seed; every epoch reseeds from (seed, epoch)) and ``epoch``.

Epoch numbering follows MXNet/original FCIS: the checkpoint written after finishing the
epoch with 0-based index e is number e + 1, and resuming from checkpoint E means
``begin_epoch = E``. Parameters are saved as trained (box deltas still normalized by
TRAIN.BBOX_STDS); a tester must un-normalize the predicted deltas itself.
"""
import collections
import os

from lib.utils.checkpoint import (CheckpointError, find_last_checkpoint, load_checkpoint,
                                  save_checkpoint)

TrainingState = collections.namedtuple(
    'TrainingState', 'epoch arg_params aux_params states_path num_update seed manifest')
TrainingState.__doc__ = """A loaded checkpoint: epoch (= begin_epoch to resume), arg/aux dicts
of NDArrays, states_path (optimizer states file or None), num_update, seed, manifest dict."""


def save_training_checkpoint(module, directory, prefix, epoch, num_update, seed, extra_meta=None):
    """Save ``module``'s parameters and optimizer states as checkpoint ``epoch``.

    module: a bound mx.mod.Module with initialized optimizer. Returns the manifest path.
    """
    arg_params, aux_params = module.get_params()
    write_states = module.save_optimizer_states if module.optimizer_initialized else None
    meta = {'epoch': int(epoch), 'num_update': int(num_update), 'seed': int(seed)}
    meta.update(extra_meta or {})
    return save_checkpoint(directory, prefix, epoch, arg_params, aux_params, write_states, meta)


def load_training_state(directory, prefix, epoch=None):
    """Load checkpoint ``epoch`` (None: the last complete one) as a :class:`TrainingState`.

    Raises CheckpointError naming the folder when there is none, or the file when corrupt.
    """
    if epoch is None:
        epoch = find_last_checkpoint(directory, prefix)
        if epoch is None:
            raise CheckpointError("no complete checkpoint '%s-EEEE%s' in %s (train without "
                                  "TRAIN.RESUME first)" % (prefix, '.manifest.json', directory))
    arg_params, aux_params, states_path, manifest = load_checkpoint(directory, prefix, epoch)
    meta = manifest.get('meta', {})
    return TrainingState(epoch=int(epoch), arg_params=arg_params, aux_params=aux_params,
                         states_path=states_path, num_update=int(meta.get('num_update', 0)),
                         seed=meta.get('seed'), manifest=manifest)


def restore_optimizer_states(module, states_path):
    """Load optimizer states (momentum) from ``states_path`` into a module with an optimizer."""
    if not os.path.isfile(states_path):
        raise CheckpointError('optimizer states file not found: %s' % states_path)
    try:
        module.load_optimizer_states(states_path)
    except Exception as err:  # unpickling errors come in many types
        raise CheckpointError('cannot load optimizer states %s (corrupt, or saved with another '
                              'number of devices/kvstore): %s' % (states_path, err))


__all__ = ['CheckpointError', 'TrainingState', 'save_training_checkpoint',
           'load_training_state', 'restore_optimizer_states']
