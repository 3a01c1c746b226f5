"""Module checkpoints: parameters + momentum + counters, interrupted and corrupt files."""
import os
import pickle

import mxnet as mx
import numpy as np
import pytest

from fcis.core.checkpoint import (CheckpointError, load_training_state,
                                  restore_optimizer_states, save_training_checkpoint)
from lib.utils.checkpoint import checkpoint_paths


def trained_module(steps, seed=0):
    """FullyConnected + softmax trained ``steps`` SGD-momentum steps on fixed random data."""
    data, label = mx.sym.Variable('data'), mx.sym.Variable('label')
    sym = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=3, name='fc'), label,
                               name='softmax')
    mod = mx.mod.Module(sym, data_names=['data'], label_names=['label'], context=mx.cpu())
    mod.bind([('data', (4, 5))], [('label', (4,))])
    mx.random.seed(seed)
    mod.init_params(mx.init.Uniform(0.5))
    mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.1, 'momentum': 0.9})
    rng = np.random.RandomState(seed)
    for _ in range(steps):
        batch = mx.io.DataBatch([mx.nd.array(rng.randn(4, 5))], [mx.nd.array(rng.randint(0, 3, 4))])
        mod.forward_backward(batch)
        mod.update()
    return mod


def momentum(path):
    states = pickle.loads(open(path, 'rb').read())
    return {k: v.asnumpy() for k, v in states.items()}


def test_save_then_restore_parameters_and_momentum(tmp_path, test_seed):
    d = str(tmp_path)
    mod = trained_module(3, test_seed)
    save_training_checkpoint(mod, d, 'e2e', 1, num_update=3, seed=11, extra_meta={'note': 'x'})
    state = load_training_state(d, 'e2e')
    assert (state.epoch, state.num_update, state.seed) == (1, 3, 11)
    assert state.manifest['meta']['note'] == 'x'
    arg, _ = mod.get_params()
    for k in arg:
        np.testing.assert_array_equal(state.arg_params[k].asnumpy(), arg[k].asnumpy())
    fresh = trained_module(0, test_seed + 5)                 # other parameters, zero momentum
    fresh.set_params(state.arg_params, state.aux_params)
    restore_optimizer_states(fresh, state.states_path)
    resaved = str(tmp_path / 'resaved.states')
    fresh.save_optimizer_states(resaved)
    saved, restored = momentum(state.states_path), momentum(resaved)
    assert sorted(saved) == sorted(restored) and len(saved) == 2
    for k in saved:
        assert np.abs(saved[k]).max() > 0                # a real momentum, not zeros
        np.testing.assert_array_equal(restored[k], saved[k])


def test_interrupted_epoch_is_skipped(tmp_path):
    d = str(tmp_path)
    save_training_checkpoint(trained_module(1), d, 'e2e', 1, 1, 3)
    save_training_checkpoint(trained_module(2), d, 'e2e', 2, 2, 3)
    # epoch 3 interrupted before its manifest: params written, states truncated
    mod = trained_module(3)
    paths = checkpoint_paths(d, 'e2e', 3)
    arg, aux = mod.get_params()
    mx.nd.save(paths['params'], {'arg:' + k: v for k, v in arg.items()})
    open(paths['states'], 'wb').write(b'\x80\x04trunc')
    state = load_training_state(d, 'e2e')
    assert state.epoch == 2 and state.num_update == 2


def test_corrupt_and_missing_checkpoints_are_clear_errors(tmp_path):
    d = str(tmp_path)
    with pytest.raises(CheckpointError, match=d):
        load_training_state(d, 'e2e')                # nothing saved yet: the folder is named
    save_training_checkpoint(trained_module(2), d, 'e2e', 1, 2, 3)
    paths = checkpoint_paths(d, 'e2e', 1)
    size = os.path.getsize(paths['states'])
    with open(paths['states'], 'r+b') as f:
        f.truncate(size - 7)
    with pytest.raises(CheckpointError, match=paths['states']):
        load_training_state(d, 'e2e')
    with pytest.raises(CheckpointError, match='e2e-0004'):
        load_training_state(d, 'e2e', epoch=4)
    bad = str(tmp_path / 'garbage.states')
    open(bad, 'wb').write(b'not a pickle')
    with pytest.raises(CheckpointError, match='garbage.states'):
        restore_optimizer_states(trained_module(0), bad)
