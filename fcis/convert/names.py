"""Layer names of the ResNet-v1 trunk (public MXNet ``resnet_v1_101`` names) and of the two
pretrained sources the converter reads. Pure functions, no arrays.

Every trunk layer is a bias-free convolution followed by a BatchNorm:

    ours (MXNet)                 detectron (Caffe2 R-101.pkl)       torchvision (resnet101)
    conv1 / bn_conv1             conv1_w / res_conv1_bn_{s,b}       conv1 / bn1
                                 (detectron2: also _bn_{rm,riv})
    res2a_branch1 / bn2a_branch1 res2_0_branch1_w / _bn_{s,b}       layer1.0.downsample.{0,1}
    res2a_branch2a / bn2a_...    res2_0_branch2a_w / _bn_{s,b}      layer1.0.conv1 / bn1
    res2a_branch2b               res2_0_branch2b_*                  layer1.0.conv2 / bn2
    res2a_branch2c               res2_0_branch2c_*                  layer1.0.conv3 / bn3
    res4b22_branch2c             res4_22_branch2c_*                 layer3.22.conv3 / bn3

i.e. unit u (0-based) of stage s is ``res{s}_{u}`` in Caffe2 and ``layer{s-1}.{u}`` in
torchvision; our unit letters come from ``fcis.symbols.resnet_v1.unit_names``.
"""
from dataclasses import dataclass

from fcis.symbols.args import RESNET_UNITS
from fcis.symbols.resnet_v1 import unit_names

SOURCES = ('detectron', 'torchvision')
BRANCHES = ('branch1', 'branch2a', 'branch2b', 'branch2c')
STEM = 'stem'

# torchvision module names of a unit's conv / bn per branch
_TORCHVISION_BRANCH = {'branch1': ('downsample.0', 'downsample.1'), 'branch2a': ('conv1', 'bn1'),
                       'branch2b': ('conv2', 'bn2'), 'branch2c': ('conv3', 'bn3')}

# Roles of the source tensors of one layer. Detectron's BatchNorm is folded into an affine
# y = x * s + b ('scale', 'bias'); detectron2's copy of the same MSRA model keeps the
# statistics too (_bn_rm running mean, _bn_riv running variance: 'mean', 'var').
DETECTRON_ROLES = ('weight', 'scale', 'bias')
DETECTRON_STATS_ROLES = DETECTRON_ROLES + ('mean', 'var')
TORCHVISION_ROLES = ('weight', 'gamma', 'beta', 'mean', 'var')
DETECTRON_STATS_SUFFIXES = ('_bn_rm', '_bn_riv')


@dataclass(frozen=True)
class Layer:
    """One conv + BatchNorm of the trunk.

    conv, bn: our names ('res2a_branch2a', 'bn2a_branch2a'); stage: 1 for the stem, 2..5;
    unit: 0-based unit index in the stage; branch: 'stem' or one of BRANCHES.
    """
    conv: str
    bn: str
    stage: int
    unit: int
    branch: str


def trunk_layers(depth=101):
    """All conv+BN layers of the standard ResNet-v1 ``depth`` (50, 101, 152), in order."""
    if depth not in RESNET_UNITS:
        raise ValueError('no standard ResNet of depth %r (use one of %s)'
                         % (depth, sorted(RESNET_UNITS)))
    layers = [Layer('conv1', 'bn_conv1', 1, 0, STEM)]
    for stage, count in zip((2, 3, 4, 5), RESNET_UNITS[depth]):
        for index, unit in enumerate(unit_names(stage, count, depth)):
            for branch in (BRANCHES if index == 0 else BRANCHES[1:]):
                layers.append(Layer('res%s_%s' % (unit, branch), 'bn%s_%s' % (unit, branch),
                                    stage, index, branch))
    return layers


def target_names(layer):
    """Our parameter names of a layer: {'weight', 'gamma', 'beta'} -> arg names and
    {'moving_mean', 'moving_var'} -> aux names."""
    return {'weight': layer.conv + '_weight', 'gamma': layer.bn + '_gamma',
            'beta': layer.bn + '_beta', 'moving_mean': layer.bn + '_moving_mean',
            'moving_var': layer.bn + '_moving_var'}


def detectron_names(layer, with_stats=False):
    """{role: Caffe2 blob name} for DETECTRON_ROLES (DETECTRON_STATS_ROLES with_stats)."""
    if layer.branch == STEM:
        conv, bn = 'conv1', 'res_conv1_bn'
    else:
        conv = 'res%d_%d_%s' % (layer.stage, layer.unit, layer.branch)
        bn = conv + '_bn'
    found = {'weight': conv + '_w', 'scale': bn + '_s', 'bias': bn + '_b'}
    if with_stats:
        found.update({'mean': bn + '_rm', 'var': bn + '_riv'})
    return found


def has_detectron_stats(source_names_):
    """True when a Caffe2 file keeps BatchNorm statistics (detectron2's copy of the MSRA
    models) rather than Detectron's folded affine: some name ends in _bn_rm or _bn_riv."""
    return any(n.endswith(DETECTRON_STATS_SUFFIXES) for n in source_names_)


def torchvision_names(layer):
    """{role: state-dict key} for TORCHVISION_ROLES."""
    if layer.branch == STEM:
        conv, bn = 'conv1', 'bn1'
    else:
        unit = 'layer%d.%d.' % (layer.stage - 1, layer.unit)
        conv, bn = (unit + part for part in _TORCHVISION_BRANCH[layer.branch])
    return {'weight': conv + '.weight', 'gamma': bn + '.weight', 'beta': bn + '.bias',
            'mean': bn + '.running_mean', 'var': bn + '.running_var'}


def source_names(source, layer, with_stats=False):
    """{role: source tensor name} of ``layer`` in ``source`` ('detectron' or 'torchvision');
    with_stats: the detectron file keeps BatchNorm statistics (``has_detectron_stats``)."""
    if source == 'detectron':
        return detectron_names(layer, with_stats)
    if source == 'torchvision':
        return torchvision_names(layer)
    raise ValueError('unknown pretrained source %r (use one of %s)' % (source, SOURCES))


def is_ignored(source, name):
    """True for source tensors that are not part of the trunk and are dropped on purpose:
    the ImageNet classifier (detectron 'pred_w'/'pred_b' or 'fc1000_w'/'fc1000_b',
    torchvision 'fc.weight'/'fc.bias'), Caffe2 solver state ('*_momentum') and torchvision's
    BatchNorm counters ('*.num_batches_tracked')."""
    if source == 'detectron':
        return name in ('pred_w', 'pred_b', 'fc1000_w', 'fc1000_b') or name.endswith('_momentum')
    return name in ('fc.weight', 'fc.bias') or name.endswith('.num_batches_tracked')
