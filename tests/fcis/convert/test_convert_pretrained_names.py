"""Name mapping of the pretrained converters on the full ResNet-101 list, checked against the
trunk symbol's own names and against the Caffe2 / torchvision key lists written out here;
and the network.STRIDE_IN_1X1 key reaching the trunk."""
import os

import mxnet as mx
import pytest

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.convert import names
from fcis.symbols.args import TrunkArgs
from fcis.symbols.resnet_v1 import resnet_v1_trunk

UNITS_101 = (3, 4, 23, 3)
CFG = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis', 'cfgs',
                   'resnet_v1_101_voc_sds_fcis_end2end.yaml')


def caffe2_resnet101_blobs(stats=False):
    """Blob names of Detectron's R-101.pkl trunk (conv weights and frozen-BN scale/bias;
    detectron2's copy also has the BN running mean / variance _bn_rm / _bn_riv)."""
    bn_parts = ['_bn_s', '_bn_b'] + (['_bn_rm', '_bn_riv'] if stats else [])
    blobs = ['conv1_w'] + ['res_conv1' + part for part in bn_parts]
    for stage, count in zip((2, 3, 4, 5), UNITS_101):
        for unit in range(count):
            branches = ['branch2a', 'branch2b', 'branch2c'] + (['branch1'] if unit == 0 else [])
            for branch in branches:
                prefix = 'res%d_%d_%s' % (stage, unit, branch)
                blobs += [prefix + '_w'] + [prefix + part for part in bn_parts]
    return blobs


def torchvision_resnet101_keys():
    """state_dict() keys of torchvision's resnet101 without fc and num_batches_tracked."""
    def bn(prefix):
        return [prefix + s for s in ('.weight', '.bias', '.running_mean', '.running_var')]
    keys = ['conv1.weight'] + bn('bn1')
    for layer, count in enumerate(UNITS_101, start=1):
        for block in range(count):
            p = 'layer%d.%d.' % (layer, block)
            for i in (1, 2, 3):
                keys += [p + 'conv%d.weight' % i] + bn(p + 'bn%d' % i)
            if block == 0:
                keys += [p + 'downsample.0.weight'] + bn(p + 'downsample.1')
    return keys


def test_trunk_layers_are_exactly_the_symbol_parameters():
    layers = names.trunk_layers(101)
    assert len(layers) == 1 + 3 * sum(UNITS_101) + 4  # stem, 3 convs per unit, 4 shortcuts
    sym = resnet_v1_trunk(mx.sym.Variable('data'), TrunkArgs(depth=101))[1]
    args = sorted(n for n in sym.list_arguments() if n != 'data')
    targets = [names.target_names(layer) for layer in layers]
    assert sorted(t[r] for t in targets for r in ('weight', 'gamma', 'beta')) == args
    assert sorted(t[r] for t in targets for r in ('moving_mean', 'moving_var')) \
        == sorted(sym.list_auxiliary_states())


@pytest.mark.parametrize('source,stats,expected', [
    ('detectron', False, caffe2_resnet101_blobs()),
    ('detectron', True, caffe2_resnet101_blobs(stats=True)),
    ('torchvision', False, torchvision_resnet101_keys())])
def test_source_names_cover_the_published_key_lists_once(source, stats, expected):
    mapped = [n for layer in names.trunk_layers(101)
              for n in names.source_names(source, layer, stats).values()]
    assert len(mapped) == len(set(mapped))  # one source tensor per target tensor
    assert sorted(mapped) == sorted(expected)


def _unit_index(name):
    """Unit index from a Caffe2 ('res4_22_branch2c_w') or torchvision ('layer3.22.conv3')
    name, -1 for the stem."""
    if name.startswith('res') and name[4] == '_':
        return int(name.split('_')[1])
    if name.startswith('layer'):
        return int(name.split('.')[1])
    return -1


def test_each_layer_pairs_the_same_unit_and_branch_in_all_three_namings():
    branch_of_torchvision = {'conv1': 'branch2a', 'conv2': 'branch2b', 'conv3': 'branch2c',
                             'downsample': 'branch1'}
    for layer in names.trunk_layers(101):
        caffe2 = names.detectron_names(layer)['weight']
        torch = names.torchvision_names(layer)['weight']
        if layer.branch == names.STEM:
            assert (layer.conv, caffe2, torch) == ('conv1', 'conv1_w', 'conv1.weight')
            continue
        stage, unit = layer.conv[3], layer.conv[4:].split('_')[0]  # '4', 'b22'
        index = 0 if unit == 'a' else (int(unit[1:]) if unit[1:] else ord(unit) - ord('a'))
        assert caffe2.startswith('res%s_' % stage)
        assert torch.startswith('layer%d.' % (int(stage) - 1))
        assert _unit_index(caffe2) == _unit_index(torch) == index == layer.unit
        assert caffe2.endswith(layer.branch + '_w') and layer.conv.endswith(layer.branch)
        assert branch_of_torchvision[torch.split('.')[2]] == layer.branch
        assert layer.bn == 'bn' + layer.conv[3:]


def test_spot_checks_of_the_mapping():
    by_conv = {layer.conv: layer for layer in names.trunk_layers(101)}
    assert names.detectron_names(by_conv['res4b22_branch2c']) == {
        'weight': 'res4_22_branch2c_w', 'scale': 'res4_22_branch2c_bn_s',
        'bias': 'res4_22_branch2c_bn_b'}
    assert names.torchvision_names(by_conv['res3a_branch1'])['var'] == \
        'layer2.0.downsample.1.running_var'
    assert names.torchvision_names(by_conv['res2c_branch2b'])['gamma'] == 'layer1.2.bn2.weight'
    assert names.detectron_names(by_conv['conv1'])['scale'] == 'res_conv1_bn_s'
    assert names.target_names(by_conv['res5c_branch2a'])['moving_var'] == \
        'bn5c_branch2a_moving_var'


def test_detectron2_statistics_are_recognized():
    assert names.has_detectron_stats(caffe2_resnet101_blobs(stats=True))
    assert names.has_detectron_stats(['conv1_w', 'res4_3_branch2b_bn_riv'])
    assert not names.has_detectron_stats(caffe2_resnet101_blobs())


def test_ignored_names_are_only_the_classifier_solver_state_and_counters():
    assert names.is_ignored('detectron', 'pred_w') and names.is_ignored('detectron', 'fc1000_b')
    assert names.is_ignored('detectron', 'res2_0_branch2a_w_momentum')
    assert not names.is_ignored('detectron', 'res2_0_branch2a_w')
    assert names.is_ignored('torchvision', 'fc.weight')
    assert names.is_ignored('torchvision', 'layer1.0.bn1.num_batches_tracked')
    assert not names.is_ignored('torchvision', 'layer1.0.bn1.running_var')
    with pytest.raises(ValueError, match='depth 34'):
        names.trunk_layers(34)


@pytest.mark.parametrize('value', [True, False])
def test_stride_in_1x1_config_key_reaches_the_trunk(value):
    cfg = load_config(CFG, ['network.STRIDE_IN_1X1=%s' % value])
    assert network_args(cfg, is_train=False).trunk.stride_in_1x1 is value
    assert load_config(CFG).network.STRIDE_IN_1X1 is True  # the original's layout by default
