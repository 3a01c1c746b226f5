"""default_feat_shape and symbol_feat_shape_fn against the res4 map of the ResNet-v1 trunk
that fcis.symbols.resnet_v1 builds (MXNet's infer_shape), and against hand-computed sides."""
import os

import mxnet as mx
import pytest

from fcis.config import load_config
from fcis.config.symbol_args import trunk_args
from fcis.core.minibatch import conv_out_size, default_feat_shape, symbol_feat_shape_fn
from fcis.symbols.args import TrunkArgs
from fcis.symbols.resnet_v1 import resnet_v1_trunk

SHAPES_CFG = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis',
                          'cfgs', 'shapes_fcis_end2end.yaml')
SIDES = range(32, 97)


def res4(args):
    """The trunk's conv4 (res4) output symbol for a TrunkArgs."""
    conv4, _ = resnet_v1_trunk(mx.sym.Variable('data'), args)
    return conv4


@pytest.fixture(scope='module', params=['shapes', 'resnet50', 'resnet101'])
def trunk_res4(request):
    if request.param == 'shapes':  # its small trunk with ResNet's pool1 (the config has none)
        return res4(trunk_args(load_config(SHAPES_CFG, ['network.STEM_POOL=True'])))
    return res4(TrunkArgs(depth={'resnet50': 50, 'resnet101': 101}[request.param]))


def test_every_side_from_32_to_96_matches_the_trunk(trunk_res4):
    # each side once as the height and once as the width (the axes are independent)
    for side in SIDES:
        height, width = side, 128 - side
        out = trunk_res4.infer_shape(data=(1, 3, height, width))[1][0]
        assert default_feat_shape(height, width) == tuple(out[2:]), (height, width)


@pytest.mark.parametrize('size', [(600, 1000), (601, 999), (17, 33), (64, 100), (95, 48)])
def test_default_feat_shape_matches_mxnet(size):
    sym = res4(TrunkArgs(depth=101))
    _, out, _ = sym.infer_shape(data=(1, 3) + size)
    assert default_feat_shape(*size) == tuple(out[0][2:])
    assert symbol_feat_shape_fn(sym)(*size) == tuple(out[0][2:])


def test_hand_computed_sides():
    # 34 px: conv1 (34 + 6 - 7) // 2 + 1 = 17, pool1 ceil((17 - 3) / 2) + 1 = 8, res3 4, res4 2
    # (a pool1 with pad 1 and floor rounding would give 9, 5, 3)
    assert conv_out_size(17, 3, 2, 0, ceil=True) == 8 and conv_out_size(17, 3, 2, 1) == 9
    assert default_feat_shape(34, 33) == (2, 2)
    # 600 x 1000: conv1 300 x 500, pool1 150 x 250, res3 75 x 125, res4 38 x 63
    assert default_feat_shape(600, 1000) == (38, 63)
    assert default_feat_shape(32, 48) == (2, 3) and default_feat_shape(35, 51) == (3, 4)
