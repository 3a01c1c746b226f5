"""ResNet-v1 trunk: public-model names, feature sizes, stride placement, dilation, frozen BN,
and the cost of the small trunk. Only infer_shape for ResNet-101 (no forward)."""
import mxnet as mx
import numpy as np
import pytest

from fcis.symbols.args import TrunkArgs
from fcis.symbols.resnet_v1 import image_norm, resnet_v1_trunk, unit_names

SMALL = TrunkArgs(depth=50, units=(1, 1, 1, 1), filters=(16, 32, 64, 128, 256))


def trunk(args):
    conv4, conv5 = resnet_v1_trunk(mx.sym.Variable('data'), args)
    return mx.sym.Group([conv4, conv5])


def internal_shape(sym, name, data_shape):
    out = sym.get_internals()[name]
    return out.infer_shape(data=data_shape)[1][0]


def expected_resnet101_units():
    """Unit names of the public resnet_v1_101 model, written out by stage."""
    units = ['2a', '2b', '2c', '3a', '3b1', '3b2', '3b3', '4a']
    units += ['4b%d' % i for i in range(1, 23)]
    return units + ['5a', '5b', '5c']


def test_resnet101_parameter_names_are_the_public_ones():
    sym = trunk(TrunkArgs(depth=101))
    expected = ['conv1_weight', 'bn_conv1_gamma', 'bn_conv1_beta']
    for unit in expected_resnet101_units():
        branches = ['branch1', 'branch2a', 'branch2b', 'branch2c'] if unit.endswith('a') \
            else ['branch2a', 'branch2b', 'branch2c']
        for b in branches:
            expected += ['res%s_%s_weight' % (unit, b), 'bn%s_%s_gamma' % (unit, b),
                         'bn%s_%s_beta' % (unit, b)]
    params = [n for n in sym.list_arguments() if n != 'data']
    assert sorted(params) == sorted(expected)
    aux = sym.list_auxiliary_states()
    bn_names = [n[:-len('_gamma')] for n in expected if n.endswith('_gamma')]
    assert sorted(aux) == sorted([b + '_moving_mean' for b in bn_names]
                                 + [b + '_moving_var' for b in bn_names])
    assert not any(n.endswith('_bias') for n in params)  # convs have no bias


def test_resnet50_uses_letters_in_every_stage():
    assert unit_names(4, 6, 50) == ['4a', '4b', '4c', '4d', '4e', '4f']
    assert unit_names(3, 4, 101) == ['3a', '3b1', '3b2', '3b3']
    assert unit_names(5, 3, 101) == ['5a', '5b', '5c']
    names = trunk(TrunkArgs(depth=50)).list_arguments()
    assert 'res4f_branch2c_weight' in names and 'res4b1_branch2a_weight' not in names


@pytest.mark.parametrize('height,width', [(600, 1000), (601, 999), (333, 517)])
def test_feature_sizes_follow_caffe_rounding(height, width):
    sym = trunk(TrunkArgs(depth=101))
    _, (c4, c5), _ = sym.infer_shape(data=(1, 3, height, width))

    def conv_out(n, k, s, p):
        return (n + 2 * p - k) // s + 1

    def pool_full(n):  # Caffe max pool 3x3/2, pad 0, ceil rounding
        return int(np.ceil((n - 3) / 2.0)) + 1

    sizes = []
    for n in (height, width):
        n = pool_full(conv_out(n, 7, 2, 3))
        n = conv_out(conv_out(n, 1, 2, 0), 1, 2, 0)  # res3a, res4a: 1x1 stride 2
        sizes.append(n)
    assert c4 == (1, 1024) + tuple(sizes)
    assert c5 == (1, 2048) + tuple(sizes)
    if (height, width) == (600, 1000):
        assert tuple(sizes) == (38, 63)


@pytest.mark.parametrize('stride_in_1x1', [True, False])
def test_stride_placement(stride_in_1x1):
    sym = trunk(TrunkArgs(depth=101, stride_in_1x1=stride_in_1x1))
    a = internal_shape(sym, 'res3a_branch2a_output', (1, 3, 224, 224))
    b = internal_shape(sym, 'res3a_branch2b_output', (1, 3, 224, 224))
    assert a[2:] == ((28, 28) if stride_in_1x1 else (56, 56))
    assert b[2:] == (28, 28)


@pytest.mark.parametrize('kernel', [1, 3, 5, 7])
@pytest.mark.parametrize('height,width', [(384, 544), (385, 547)])
def test_stem_kernel_keeps_the_feature_sizes(kernel, height, width):
    """conv1 KxK/2 with padding K // 2: out = (n + 2 (K // 2) - K) // 2 + 1 = (n - 1) // 2 + 1
    for odd K, ResNet's 7x7 size."""
    args = TrunkArgs(depth=50, units=(1, 1, 1, 1), filters=(16, 32, 64, 128, 256),
                     stem_kernel=kernel)
    sym = trunk(args)
    arg_shapes, (c4, c5), _ = sym.infer_shape(data=(1, 3, height, width))
    assert dict(zip(sym.list_arguments(), arg_shapes))['conv1_weight'] == (16, 3, kernel, kernel)
    conv1 = internal_shape(sym, 'conv1_output', (1, 3, height, width))
    assert conv1[2:] == ((height - 1) // 2 + 1, (width - 1) // 2 + 1)
    _, (r4, r5), _ = trunk(SMALL).infer_shape(data=(1, 3, height, width))
    assert (c4, c5) == (r4, r5)


@pytest.mark.parametrize('kernel', [0, 4, -3])
def test_bad_stem_kernel_is_named(kernel):
    with pytest.raises(ValueError, match='STEM_KERNEL'):
        trunk(TrunkArgs(depth=50, units=(1, 1, 1, 1), filters=(16, 32, 64, 128, 256),
                        stem_kernel=kernel))


@pytest.mark.parametrize('height,width', [(192, 272), (193, 275)])
def test_stem_without_pool_has_stride_8(height, width):
    """Without pool1 the maps after conv1 keep conv1's size: res2 at (n - 1) // 2 + 1 and
    res4/res5 at the size the stride-16 trunk gives for an input twice as large."""
    args = TrunkArgs(depth=50, units=(1, 1, 1, 1), filters=(16, 32, 64, 128, 256),
                     stem_kernel=3, stem_pool=False)
    sym = trunk(args)
    assert not any(n.startswith('pool1') for n in sym.get_internals().list_outputs())
    conv1 = internal_shape(sym, 'conv1_output', (1, 3, height, width))
    res2 = internal_shape(sym, 'res2a_relu_output', (1, 3, height, width))
    side = ((height - 1) // 2 + 1, (width - 1) // 2 + 1)
    assert (conv1, res2) == ((1, 16) + side, (1, 32) + side)
    _, (c4, c5), _ = sym.infer_shape(data=(1, 3, height, width))
    assert c4[2:] == c5[2:] == (-(-height // 8), -(-width // 8))
    pooled = TrunkArgs(depth=50, units=(1, 1, 1, 1), filters=(16, 32, 64, 128, 256),
                       stem_kernel=3)
    _, (p4, _), _ = trunk(pooled).infer_shape(data=(1, 3, 2 * height, 2 * width))
    assert (p4 == c4) == (height % 16 == 0 and width % 16 == 0)  # padded inputs: the same maps
    assert (args.feature_stride(), pooled.feature_stride()) == (8, 16)


def test_res5_is_dilated_with_stride_one():
    sym = trunk(TrunkArgs(depth=101))
    attrs = sym.attr_dict()
    for unit in ('5a', '5b', '5c'):
        conv = attrs['res%s_branch2b' % unit]
        assert conv['dilate'] == '(2, 2)' and conv['pad'] == '(2, 2)' and conv['stride'] == '(1, 1)'
    assert attrs['res5a_branch1']['stride'] == '(1, 1)'
    assert attrs['res4b5_branch2b']['dilate'] == '(1, 1)'


@pytest.mark.parametrize('frozen', [True, False])
def test_batchnorm_frozen_uses_moving_statistics(frozen, test_seed):
    """In training mode, a frozen BN normalizes with the moving stats (NumPy reference);
    a trainable one with the batch statistics."""
    args = TrunkArgs(depth=50, units=(1, 1, 1, 1), filters=(8, 16, 16, 16, 16),
                     bn_use_global_stats=frozen)
    sym = trunk(args).get_internals()
    # grad_req 'write': an all-'null' bind is an inference graph (oneDNN folds BN into conv)
    ex = sym['bn_conv1_output'].simple_bind(mx.cpu(), data=(2, 3, 32, 32))
    rng = np.random.RandomState(test_seed + 1)
    for name, arr in ex.arg_dict.items():
        arr[:] = rng.randn(*arr.shape)
    mean, var = rng.randn(8), rng.rand(8) + 0.5
    ex.aux_dict['bn_conv1_moving_mean'][:] = mean
    ex.aux_dict['bn_conv1_moving_var'][:] = var
    bn = ex.forward(is_train=True)[0].asnumpy()
    conv = mx.nd.Convolution(ex.arg_dict['data'], ex.arg_dict['conv1_weight'], num_filter=8,
                             kernel=(7, 7), stride=(2, 2), pad=(3, 3), no_bias=True).asnumpy()
    gamma = ex.arg_dict['bn_conv1_gamma'].asnumpy()[None, :, None, None]
    beta = ex.arg_dict['bn_conv1_beta'].asnumpy()[None, :, None, None]
    if frozen:
        m, v = mean[None, :, None, None], var[None, :, None, None]
    else:
        m, v = conv.mean(axis=(0, 2, 3), keepdims=True), conv.var(axis=(0, 2, 3), keepdims=True)
    expected = (conv - m) / np.sqrt(v + 1e-5) * gamma + beta
    np.testing.assert_allclose(bn, expected, rtol=1e-3, atol=1e-3)
    assert sym.attr_dict()['bn_conv1']['fix_gamma'] == 'False'


def test_bn_image_stats_matches_training_mode_batchnorm_per_image(test_seed):
    """TEST.BN_IMAGE_STATS: the test trunk (image_norm on the same gamma/beta, inference
    mode) gives each image what the training trunk's BatchNorm (batch statistics) gives it
    alone, through the whole trunk; a NumPy reference checks the per-image normalization."""
    kw = dict(depth=50, units=(1, 2, 1, 1), filters=(8, 16, 16, 32, 32))
    train_sym = trunk(TrunkArgs(bn_use_global_stats=False, **kw))
    test_sym = trunk(TrunkArgs(bn_use_global_stats=False, bn_image_stats=True, **kw))
    assert test_sym.list_arguments() == train_sym.list_arguments()
    assert test_sym.list_auxiliary_states() == []
    rng = np.random.RandomState(test_seed + 2)
    data = rng.randn(2, 3, 48, 64) * np.array([1., 5., 20.])[None, :, None, None] + 3
    train_ex = train_sym.simple_bind(mx.cpu(), data=(1, 3, 48, 64))
    test_ex = test_sym.simple_bind(mx.cpu(), data=(2, 3, 48, 64), grad_req='null')
    for name, arr in train_ex.arg_dict.items():
        if name != 'data':
            arr[:] = rng.randn(*arr.shape) * (0.3 if name.endswith('weight') else 1.0)
            test_ex.arg_dict[name][:] = arr
    for arr in train_ex.aux_dict.values():  # moving stats the image-stats trunk must ignore
        arr[:] = rng.rand(*arr.shape) + 5
    test_ex.arg_dict['data'][:] = data
    test_outs = [o.asnumpy() for o in test_ex.forward(is_train=False)]
    for i in range(2):
        train_ex.arg_dict['data'][:] = data[i:i + 1]
        train_outs = [o.asnumpy() for o in train_ex.forward(is_train=True)]
        for got, want in zip(test_outs, train_outs):
            np.testing.assert_allclose(got[i:i + 1], want, rtol=1e-3, atol=1e-3)
    internals = test_sym.get_internals()
    ex = internals['bn_conv1_output'].simple_bind(mx.cpu(), data=(2, 3, 48, 64), grad_req='null')
    for name in ex.arg_dict:
        ex.arg_dict[name][:] = test_ex.arg_dict[name]
    bn = ex.forward(is_train=False)[0].asnumpy()
    conv = mx.nd.Convolution(ex.arg_dict['data'], ex.arg_dict['conv1_weight'], num_filter=8,
                             kernel=(7, 7), stride=(2, 2), pad=(3, 3), no_bias=True).asnumpy()
    gamma = ex.arg_dict['bn_conv1_gamma'].asnumpy()[None, :, None, None]
    beta = ex.arg_dict['bn_conv1_beta'].asnumpy()[None, :, None, None]
    m, v = conv.mean(axis=(2, 3), keepdims=True), conv.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(bn, (conv - m) / np.sqrt(v + 1e-5) * gamma + beta,
                               rtol=1e-3, atol=1e-3)


def test_bn_image_stats_only_in_the_test_symbol():
    import os
    from fcis.config import load_config
    from fcis.config.symbol_args import network_args
    cfg_file = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis',
                            'cfgs', 'shapes_fcis_end2end.yaml')
    cfg = load_config(cfg_file, ['TEST.BN_IMAGE_STATS=true'])
    assert network_args(cfg, is_train=False).trunk.bn_image_stats
    assert not network_args(cfg, is_train=True).trunk.bn_image_stats
    cfg = load_config(cfg_file, ['TEST.BN_IMAGE_STATS=false'])
    assert not network_args(cfg, is_train=False).trunk.bn_image_stats


def test_small_trunk_trains_at_a_fraction_of_resnet101s_cost(test_seed):
    """The SMALL trunk's convolutions take under 1% of ResNet-101's multiply-adds at the same
    input (counted from the layers' shapes), and its training graph runs to finite values."""
    from experiments.fcis.tools.bench.common import conv_flops
    shape = (1, 3, 256, 256)
    small = sum(conv_flops(trunk(SMALL), shape).values())
    resnet101 = sum(conv_flops(trunk(TrunkArgs(depth=101)), shape).values())
    # conv1 alone: 2 x (128 x 128 outputs) x 16 filters x (3 x 7 x 7) inputs
    assert small > 2.0 * 128 * 128 * 16 * 3 * 7 * 7
    assert small < 0.01 * resnet101
    sym = trunk(SMALL)
    loss = mx.sym.Group([mx.sym.MakeLoss(mx.sym.mean(s)) for s in sym])
    ex = loss.simple_bind(mx.cpu(), data=shape)
    for name, arr in ex.arg_dict.items():
        arr[:] = np.random.RandomState(test_seed).randn(*arr.shape) * 0.1
    ex.forward(is_train=True)
    ex.backward()
    assert all(np.isfinite(g.asnumpy()).all() for g in ex.grad_arrays if g is not None)
    assert ex.outputs[1].size == 1


@pytest.mark.parametrize('shape', [(1, 3, 5, 7), (2, 4, 6, 3)])
def test_image_norm_matches_numpy_and_instance_norm(shape, test_seed):
    """image_norm: each image's per-channel mean/variance over (H, W), eps 1e-5, then the
    channel's gamma and beta: a NumPy reference in float64 and MXNet's InstanceNorm."""
    rng = np.random.RandomState(test_seed + 7)
    n, c, h, w = shape
    data = (rng.randn(*shape) * rng.uniform(0.1, 20, (1, c, 1, 1)) + 4).astype(np.float32)
    gamma = rng.uniform(-2, 2, c).astype(np.float32)
    beta = rng.randn(c).astype(np.float32)
    sym = image_norm(mx.sym.Variable('data'), 'bn', c)
    assert sym.list_arguments() == ['data', 'bn_gamma', 'bn_beta']
    ex = sym.simple_bind(mx.cpu(), data=shape, grad_req='null')
    ex.arg_dict['data'][:] = data
    ex.arg_dict['bn_gamma'][:] = gamma
    ex.arg_dict['bn_beta'][:] = beta
    got = ex.forward(is_train=False)[0].asnumpy()
    x = data.astype(np.float64)
    mean, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-5) * gamma[None, :, None, None] \
        + beta[None, :, None, None]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    instance = mx.nd.InstanceNorm(mx.nd.array(data), mx.nd.array(gamma), mx.nd.array(beta),
                                  eps=1e-5).asnumpy()
    np.testing.assert_allclose(got, instance, rtol=1e-4, atol=1e-4)
