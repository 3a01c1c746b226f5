"""TrunkArgs.fuse_bn_relu (network.FUSE_BN_RELU): the trunk with contrib.BatchNormWithReLU
gives the bits of BatchNorm + Activation('relu'), forward and backward, with batch and with
moving statistics; the config turns it on only where the fused operator runs."""
import json
import os

import mxnet as mx
import numpy as np
import pytest

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.symbols.args import TrunkArgs
from fcis.symbols.resnet_v1 import resnet_v1_trunk
from lib.utils.mxnet_env import mxnet_has_onednn

pytestmark = pytest.mark.skipif(not mxnet_has_onednn(), reason='MXNet built without oneDNN')

SHAPES_CFG = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis',
                          'cfgs', 'shapes_fcis_end2end.yaml')
TRUNK = dict(depth=50, units=(1, 2, 1, 1), filters=(8, 16, 32, 32, 64), stride_in_1x1=False)


def trunk(args):
    conv4, conv5 = resnet_v1_trunk(mx.sym.Variable('data'), args)
    return mx.sym.Group([conv4, conv5])


def op_counts(sym):
    counts = {}
    for node in json.loads(sym.tojson())['nodes']:
        counts[node['op']] = counts.get(node['op'], 0) + 1
    return counts


def run(sym, values, out_grads, is_train):
    """{name: array} of the outputs ('out0', 'out1'), the gradients ('grad:' + argument) and
    the moving statistics ('aux:' + name) after one forward (+ backward when training) from
    ``values`` (name -> array)."""
    ex = sym.simple_bind(mx.cpu(), data=values['data'].shape)
    for name, arr in list(ex.arg_dict.items()) + list(ex.aux_dict.items()):
        arr[:] = values[name]
    result = {'out%d' % i: o.asnumpy() for i, o in enumerate(ex.forward(is_train=is_train))}
    if is_train:
        ex.backward([mx.nd.array(g) for g in out_grads])
        result.update(('grad:' + n, g.asnumpy()) for n, g in ex.grad_dict.items())
        result.update(('aux:' + n, a.asnumpy()) for n, a in ex.aux_dict.items())
    return result


@pytest.mark.parametrize('global_stats', [False, True])
def test_fused_trunk_gives_the_same_bits(global_stats, test_seed):
    plain = trunk(TrunkArgs(bn_use_global_stats=global_stats, **TRUNK))
    fused = trunk(TrunkArgs(bn_use_global_stats=global_stats, fuse_bn_relu=True, **TRUNK))
    assert fused.list_arguments() == plain.list_arguments()
    assert fused.list_auxiliary_states() == plain.list_auxiliary_states()
    # bn_conv1 and the branch2a/2b BatchNorms of the 5 units fuse; the 5 branch2c and the 4
    # branch1 ones are followed by a sum, not a ReLU; the 5 ReLUs after the sums stay
    assert op_counts(fused).get('_contrib_BatchNormWithReLU') == 11
    assert op_counts(fused)['BatchNorm'] == 9 and op_counts(fused)['Activation'] == 5
    assert op_counts(plain)['BatchNorm'] == 20 and op_counts(plain)['Activation'] == 16

    rng = np.random.RandomState(test_seed)
    shapes, out_shapes, aux_shapes = plain.infer_shape(data=(1, 3, 96, 128))
    names = plain.list_arguments() + plain.list_auxiliary_states()
    values = {n: rng.randn(*s).astype(np.float32) for n, s in zip(names, shapes + aux_shapes)}
    for n in plain.list_auxiliary_states():
        values[n] = np.abs(values[n]) + 0.5 if n.endswith('_var') else values[n]
    out_grads = [rng.randn(*s).astype(np.float32) for s in out_shapes]
    for is_train in (True, False):
        want = run(plain, values, out_grads, is_train)
        got = run(fused, values, out_grads, is_train)
        assert sorted(got) == sorted(want) and len(want) == (2 + len(values) if is_train else 2)
        for name, w in want.items():
            assert got[name].dtype == w.dtype and np.array_equal(got[name], w), name
        if is_train:  # the backward reached the first layer
            assert np.any(want['grad:conv1_weight'] != 0)


def test_fusion_follows_the_key_and_the_device():
    cfg = load_config(SHAPES_CFG)
    assert network_args(cfg, is_train=True).trunk.fuse_bn_relu
    assert not network_args(cfg, is_train=True, on_cpu=False).trunk.fuse_bn_relu
    assert not network_args(load_config(SHAPES_CFG, ['network.FUSE_BN_RELU=false']),
                            is_train=True).trunk.fuse_bn_relu
    gpu_cfg = load_config(SHAPES_CFG, ['gpus=0', 'default.LOCAL_WORKERS=1'])
    assert not network_args(gpu_cfg, is_train=True).trunk.fuse_bn_relu
    assert network_args(gpu_cfg, is_train=True, on_cpu=True).trunk.fuse_bn_relu


def test_image_stats_test_trunk_keeps_image_norm_and_relu():
    args = TrunkArgs(bn_use_global_stats=False, bn_image_stats=True, fuse_bn_relu=True, **TRUNK)
    counts = op_counts(trunk(args))
    assert '_contrib_BatchNormWithReLU' not in counts
    assert counts['LayerNorm'] == 20 and counts['Activation'] == 16
