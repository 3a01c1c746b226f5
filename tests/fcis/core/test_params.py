"""Pretrained loading by name into the FCIS symbol, initialization of the new layers, clear
errors for missing files / wrong shapes / missing trunk parameters, frozen names."""
import logging
import os

import mxnet as mx
import numpy as np
import pytest

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.params import (FCISInitializer, ParamsError, fixed_param_names, load_params,
                              params_path)
from fcis.symbols import NEW_LAYERS, get_test_symbol, get_train_symbol
from fcis.symbols.args import TrunkArgs
from fcis.symbols.resnet_v1 import resnet_v1_trunk

CFG_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis', 'cfgs')
VOC = os.path.join(CFG_DIR, 'resnet_v1_101_voc_sds_fcis_end2end.yaml')
DATA = {'data': (1, 3, 64, 96)}  # parameter shapes do not depend on the image size


@pytest.fixture(scope='module')
def voc_symbol():
    return get_train_symbol(network_args(load_config(VOC), is_train=True))


@pytest.fixture(scope='module')
def resnet101_file(tmp_path_factory):
    """A randomly initialized ResNet-v1-101 saved like the public model (+ an fc layer)."""
    conv4, conv5 = resnet_v1_trunk(mx.sym.Variable('data'), TrunkArgs(depth=101))
    arg_shapes, _, aux_shapes = conv5.infer_shape(**DATA)
    rng = np.random.default_rng(0)
    saved = {}
    for name, shape in zip(conv5.list_arguments(), arg_shapes):
        if name != 'data':
            saved['arg:' + name] = mx.nd.array(rng.standard_normal(shape, dtype=np.float32))
    for name, shape in zip(conv5.list_auxiliary_states(), aux_shapes):
        saved['aux:' + name] = mx.nd.array(rng.uniform(0.5, 1.5, shape))
    saved['arg:fc1000_weight'] = mx.nd.ones((1000, 2048))  # in the file, not in FCIS
    prefix = str(tmp_path_factory.mktemp('pretrained') / 'resnet_v1_101')
    mx.nd.save(params_path(prefix, 0), saved)
    return prefix, saved


def test_loads_trunk_by_name_and_initializes_new_layers(voc_symbol, resnet101_file, caplog):
    prefix, saved = resnet101_file
    with caplog.at_level(logging.WARNING):
        args, auxs = load_params(voc_symbol, DATA, prefix, 0)
    assert 'fc1000_weight' in caplog.text  # unused name reported
    params = [n for n in voc_symbol.list_arguments()
              if n not in ('data', 'im_info', 'gt_boxes', 'gt_masks', 'label', 'bbox_target',
                           'bbox_weight')]
    assert sorted(args) == sorted(params)
    assert sorted(auxs) == sorted(voc_symbol.list_auxiliary_states())
    for key, value in saved.items():
        kind, name = key.split(':')
        if name == 'fc1000_weight':
            continue
        loaded = (args if kind == 'arg' else auxs)[name]
        np.testing.assert_array_equal(loaded.asnumpy(), value.asnumpy(), name)
    for layer in NEW_LAYERS:
        w, b = args[layer + '_weight'].asnumpy(), args[layer + '_bias'].asnumpy()
        assert abs(w.std() - 0.01) < 0.002 and abs(w.mean()) < 0.002, layer
        assert not b.any(), layer
    assert args['fcis_cls_seg_weight'].shape == (2058, 1024, 1, 1)


def test_wrong_shape_names_the_parameter_and_both_shapes(voc_symbol, resnet101_file, tmp_path):
    _, saved = resnet101_file
    bad = dict(saved)
    bad['arg:res4b7_branch2b_weight'] = mx.nd.zeros((256, 256, 1, 1))
    prefix = str(tmp_path / 'bad')
    mx.nd.save(params_path(prefix, 0), bad)
    with pytest.raises(ParamsError) as err:
        load_params(voc_symbol, DATA, prefix, 0)
    message = str(err.value)
    assert 'res4b7_branch2b_weight' in message
    assert '(256, 256, 1, 1)' in message and '(256, 256, 3, 3)' in message


def test_missing_file_points_to_the_readme(voc_symbol, tmp_path):
    prefix = str(tmp_path / 'nowhere' / 'resnet_v1_101')
    with pytest.raises(ParamsError) as err:
        load_params(voc_symbol, DATA, prefix, 0)
    assert params_path(prefix, 0) in str(err.value) and 'model/README.md' in str(err.value)


def test_missing_trunk_parameter_is_an_error(voc_symbol, resnet101_file, tmp_path):
    _, saved = resnet101_file
    partial = {k: v for k, v in saved.items() if 'res5c_branch2a' not in k}
    prefix = str(tmp_path / 'partial')
    mx.nd.save(params_path(prefix, 0), partial)
    with pytest.raises(ParamsError, match='res5c_branch2a_weight'):
        load_params(voc_symbol, DATA, prefix, 0)


def test_from_scratch_initialization():
    cfg = load_config(VOC, ['network.TRUNK_FILTERS=[16, 64, 128, 256, 512]'])
    sym = get_test_symbol(network_args(cfg, is_train=False))
    args, auxs = load_params(sym, {'data': (1, 3, 64, 64)})
    w = args['res4b3_branch2b_weight'].asnumpy()  # 64 x 64 x 3 x 3: He std sqrt(2/576)
    assert w.shape == (64, 64, 3, 3)
    assert abs(w.std() - np.sqrt(2.0 / (64 * 9))) < 0.004
    assert abs(args['rpn_conv_3x3_weight'].asnumpy().std() - 0.01) < 0.002
    assert np.all(args['bn3a_branch2a_gamma'].asnumpy() == 1)
    assert not args['bn3a_branch2a_beta'].asnumpy().any()
    assert not auxs['bn3a_branch2a_moving_mean'].asnumpy().any()
    assert np.all(auxs['bn3a_branch2a_moving_var'].asnumpy() == 1)


def test_initializer_works_inside_module_init():
    """FCISInitializer is a regular mx.init.Initializer (usable by Module.init_params)."""
    init = FCISInitializer()
    arr = mx.nd.zeros((64, 32, 1, 1))
    init(mx.init.InitDesc('fcis_bbox_weight'), arr)
    assert abs(arr.asnumpy().std() - 0.01) < 0.002
    bias = mx.nd.ones((8,))
    init(mx.init.InitDesc('fcis_bbox_bias'), bias)
    assert not bias.asnumpy().any()


def test_msra_init_layers_are_he_normal_and_others_keep_0_01():
    """network.MSRA_INIT_LAYERS: the named new layers get std sqrt(2 / fan_in), the other new
    layers N(0, 0.01); biases stay 0."""
    init = FCISInitializer(['conv_new_1', 'fcis_cls_seg'])
    for name, shape in [('conv_new_1_weight', (256, 512, 1, 1)),
                        ('fcis_cls_seg_weight', (490, 256, 1, 1))]:
        arr = mx.nd.zeros(shape)
        init(mx.init.InitDesc(name), arr)
        assert abs(arr.asnumpy().std() - np.sqrt(2.0 / shape[1])) < 0.05 * np.sqrt(2.0 / shape[1])
    other = mx.nd.zeros((64, 256, 1, 1))
    init(mx.init.InitDesc('fcis_bbox_weight'), other)
    assert abs(other.asnumpy().std() - 0.01) < 0.001
    bias = mx.nd.ones((490,))
    init(mx.init.InitDesc('fcis_cls_seg_bias'), bias)
    assert not bias.asnumpy().any()


def test_msra_init_layers_from_config_reach_load_params():
    cfg = load_config(VOC, ['network.MSRA_INIT_LAYERS=[conv_new_1]'])
    assert cfg.network.MSRA_INIT_LAYERS == ['conv_new_1']
    assert load_config(VOC).network.MSRA_INIT_LAYERS == []  # paper default: all N(0, 0.01)
    sym = get_test_symbol(network_args(cfg, is_train=False))
    args, _ = load_params(sym, {'data': (1, 3, 64, 64)},
                          initializer=FCISInitializer(cfg.network.MSRA_INIT_LAYERS))
    w = args['conv_new_1_weight'].asnumpy()  # (1024, 2048, 1, 1)
    assert abs(w.std() - np.sqrt(2.0 / 2048)) < 0.002
    assert abs(args['fcis_cls_seg_weight'].asnumpy().std() - 0.01) < 0.001


def test_msra_init_unknown_layer_is_an_error_naming_the_key():
    with pytest.raises(ValueError, match=r'MSRA_INIT_LAYERS: res5a_branch2a not a new layer'):
        FCISInitializer(['res5a_branch2a'])


def test_fixed_param_names_are_prefixes(voc_symbol):
    """The release's rule: an entry freezes the names starting with it, so 'gamma' and
    'beta' match nothing and the BatchNorm scales/shifts of res3..res5 train."""
    names = voc_symbol.list_arguments()
    cfg = load_config(VOC)
    assert not cfg.network.FIXED_PARAMS_MATCH_SUFFIX
    fixed = set(fixed_param_names(names, cfg.network.FIXED_PARAMS))
    for name in ('conv1_weight', 'bn_conv1_gamma', 'res2a_branch1_weight', 'res2c_branch2c_weight',
                 'bn2b_branch2a_beta', 'bn2a_branch1_gamma'):
        assert name in fixed, name
    for name in ('res3a_branch2a_weight', 'res5c_branch2c_weight', 'rpn_conv_3x3_weight',
                 'conv_new_1_bias', 'data', 'label', 'gt_masks', 'bn4b22_branch2c_gamma',
                 'bn5a_branch1_beta', 'bn3a_branch2a_gamma'):
        assert name not in fixed, name
    expected = {n for n in names if n.startswith(('conv1', 'bn_conv1', 'res2', 'bn2'))}
    assert fixed == expected
    assert fixed_param_names(names, []) == []


def test_fixed_param_names_with_suffix_match(voc_symbol):
    names = voc_symbol.list_arguments()
    fixed = set(fixed_param_names(names, load_config(VOC).network.FIXED_PARAMS, True))
    for name in ('bn4b22_branch2c_gamma', 'bn5a_branch1_beta', 'bn3a_branch2a_gamma'):
        assert name in fixed, name
    assert 'res3a_branch2a_weight' not in fixed
