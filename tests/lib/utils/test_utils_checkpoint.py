"""Atomic checkpoint files: round trip, interrupted writes, corruption errors."""
import json
import os

import mxnet as mx
import numpy as np
import pytest

from lib.utils.checkpoint import (CheckpointError, checkpoint_paths, find_last_checkpoint,
                                  load_checkpoint, load_params, read_manifest, read_params,
                                  save_checkpoint, save_params)


def params(seed):
    rng = np.random.RandomState(seed)
    arg = {'conv_weight': mx.nd.array(rng.randn(4, 3, 3, 3)), 'conv_bias': mx.nd.array(rng.randn(4))}
    aux = {'bn_moving_mean': mx.nd.array(rng.randn(4))}
    return arg, aux


def test_round_trip_and_mxnet_layout(tmp_path, test_seed):
    arg, aux = params(test_seed)
    save_checkpoint(str(tmp_path), 'e2e', 3, arg, aux, b'opaque-states', {'num_update': 30})
    arg2, aux2, states, manifest = load_checkpoint(str(tmp_path), 'e2e', 3)
    for k in arg:
        np.testing.assert_array_equal(arg2[k].asnumpy(), arg[k].asnumpy())
    np.testing.assert_array_equal(aux2['bn_moving_mean'].asnumpy(), aux['bn_moving_mean'].asnumpy())
    assert open(states, 'rb').read() == b'opaque-states'
    assert manifest['meta'] == {'num_update': 30} and manifest['epoch'] == 3
    raw = mx.nd.load(checkpoint_paths(str(tmp_path), 'e2e', 3)['params'])  # MXNet's own loader
    assert sorted(raw) == ['arg:conv_bias', 'arg:conv_weight', 'aux:bn_moving_mean']
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]


def test_interrupted_write_falls_back_to_last_complete(tmp_path, test_seed):
    d = str(tmp_path)
    save_checkpoint(d, 'e2e', 1, *params(test_seed + 1), write_states=b's1')
    save_checkpoint(d, 'e2e', 2, *params(test_seed + 2), write_states=b's2')
    # epoch 3 killed mid-way: full params, truncated states, no manifest, and a stray .tmp
    p3 = checkpoint_paths(d, 'e2e', 3)
    mx.nd.save(p3['params'], {'arg:conv_weight': mx.nd.ones((2,))})
    with open(p3['states'], 'wb') as f:
        f.write(b'tru')
    with open(p3['manifest'] + '.tmp', 'w') as f:
        f.write('{"files": ')
    assert find_last_checkpoint(d, 'e2e') == 2
    arg, _, _, _ = load_checkpoint(d, 'e2e', 2)
    np.testing.assert_array_equal(arg['conv_bias'].asnumpy(),
                                  params(test_seed + 2)[0]['conv_bias'].asnumpy())
    assert find_last_checkpoint(str(tmp_path / 'absent'), 'e2e') is None
    assert find_last_checkpoint(d, 'other') is None


def test_corrupt_params_file_is_named(tmp_path, test_seed):
    d = str(tmp_path)
    save_checkpoint(d, 'e2e', 1, *params(test_seed + 1), write_states=b'states')
    path = checkpoint_paths(d, 'e2e', 1)['params']
    data = bytearray(open(path, 'rb').read())
    data[len(data) // 2] ^= 0xFF                      # same size, one byte flipped
    open(path, 'wb').write(bytes(data))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(d, 'e2e', 1)
    assert path in str(err.value) and 'corrupt' in str(err.value)


def test_truncated_params_and_missing_files_are_named(tmp_path, test_seed):
    d = str(tmp_path)
    save_checkpoint(d, 'e2e', 1, *params(test_seed + 1), write_states=b'states')
    paths = checkpoint_paths(d, 'e2e', 1)
    data = open(paths['params'], 'rb').read()
    open(paths['params'], 'wb').write(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=paths['params']):
        read_manifest(d, 'e2e', 1)
    with pytest.raises(CheckpointError, match=paths['params']):
        load_params(paths['params'])                   # MXNet's reader fails: wrapped, named
    os.remove(paths['states'])
    open(paths['params'], 'wb').write(data)
    with pytest.raises(CheckpointError, match=paths['states']):
        load_checkpoint(d, 'e2e', 1)
    with pytest.raises(CheckpointError, match='e2e-0007'):
        load_checkpoint(d, 'e2e', 7)


def test_corrupt_manifest_is_named(tmp_path, test_seed):
    d = str(tmp_path)
    save_checkpoint(d, 'e2e', 1, *params(test_seed + 1))
    path = checkpoint_paths(d, 'e2e', 1)['manifest']
    open(path, 'w').write('{"files": {')
    with pytest.raises(CheckpointError, match=path):
        load_checkpoint(d, 'e2e', 1)


def test_rewriting_an_epoch_keeps_it_consistent(tmp_path, test_seed):
    d = str(tmp_path)
    save_checkpoint(d, 'e2e', 1, *params(test_seed + 1))
    save_checkpoint(d, 'e2e', 1, *params(test_seed + 5))
    manifest = json.load(open(checkpoint_paths(d, 'e2e', 1)['manifest']))
    assert 'states' not in manifest['files']
    arg, _, states, _ = load_checkpoint(d, 'e2e', 1)
    assert states is None
    np.testing.assert_array_equal(arg['conv_bias'].asnumpy(),
                                  params(test_seed + 5)[0]['conv_bias'].asnumpy())


def test_save_params_writes_numpy_arrays_with_their_dtype(tmp_path):
    path = str(tmp_path / 'converted-0000.params')
    weight = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    mean = np.array([1.5, -2.0, 0.25], np.float16)
    assert save_params(path, {'conv_weight': weight}, {'bn_moving_mean': mean}) == path
    raw = mx.nd.load(path)                             # MXNet's own loader
    assert sorted(raw) == ['arg:conv_weight', 'aux:bn_moving_mean']
    assert raw['arg:conv_weight'].dtype == np.float32
    assert raw['aux:bn_moving_mean'].dtype == np.float16
    np.testing.assert_array_equal(raw['arg:conv_weight'].asnumpy(), weight)
    np.testing.assert_array_equal(raw['aux:bn_moving_mean'].asnumpy(), mean)
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]


def test_read_params_splits_prefixed_and_plain_keys(tmp_path):
    path = str(tmp_path / 'mixed.params')
    mx.nd.save(path, {'arg:w': mx.nd.array([1, 2]), 'aux:m': mx.nd.array([3]),
                      'plain_w': mx.nd.array([4]), 'arg:': mx.nd.array([5])})
    args, auxs, unprefixed = read_params(path)
    assert sorted(args) == ['w'] and sorted(auxs) == ['m']
    assert sorted(unprefixed) == ['arg:', 'plain_w']
    np.testing.assert_array_equal(args['w'].asnumpy(), [1, 2])
    np.testing.assert_array_equal(unprefixed['plain_w'].asnumpy(), [4])
    with pytest.raises(CheckpointError, match="has key 'arg:' without"):
        load_params(path)                              # the strict reader refuses plain keys


def test_read_params_names_unreadable_and_unnamed_files(tmp_path):
    missing = str(tmp_path / 'none.params')
    with pytest.raises(CheckpointError, match='parameter file not found: %s' % missing):
        read_params(missing)
    garbage = tmp_path / 'garbage.params'
    garbage.write_bytes(b'not a params file' * 10)
    with pytest.raises(CheckpointError, match='cannot read parameter file %s' % garbage):
        read_params(str(garbage))
    unnamed = str(tmp_path / 'list.params')
    mx.nd.save(unnamed, [mx.nd.ones((2,))])
    with pytest.raises(CheckpointError, match='unnamed NDArray list'):
        read_params(unnamed)
