"""benchmark.py's random weights: calibrate_trunk gives every trunk BatchNorm the statistics
of its input (NumPy reference through an unfused trunk), also when the trunk's BatchNorms are
fused with their ReLUs."""
import dataclasses

import mxnet as mx
import numpy as np
import pytest

from experiments.fcis.tools.bench import common
from fcis.symbols.args import TrunkArgs
from fcis.symbols.resnet_v1 import resnet_v1_trunk
from fcis.core.params import load_params

TRUNK = TrunkArgs(depth=50, units=(1, 1, 1, 1), filters=(8, 16, 16, 32, 32),
                  stride_in_1x1=False)


@pytest.mark.parametrize('fused', [False, True])
def test_calibrate_trunk_sets_every_batchnorm(fused):
    args = dataclasses.replace(TRUNK, fuse_bn_relu=fused)
    _, conv5 = resnet_v1_trunk(mx.sym.Variable('data'), args)
    image = common.random_image((1, 3, 64, 96), seed=1)
    mx.random.seed(0)
    arg_params, aux_params = load_params(conv5, {'data': image.shape}, '', 0)
    common.calibrate_trunk(args, arg_params, aux_params, image)

    # reference: bn_conv1's input is conv1 of the image, computed here by MXNet's Convolution
    conv1 = mx.nd.Convolution(image, arg_params['conv1_weight'], num_filter=8, kernel=(7, 7),
                              stride=(2, 2), pad=(3, 3), no_bias=True).asnumpy()
    np.testing.assert_allclose(aux_params['bn_conv1_moving_mean'].asnumpy(),
                               conv1.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(aux_params['bn_conv1_moving_var'].asnumpy(),
                               conv1.var(axis=(0, 2, 3)), rtol=1e-3)
    means = [n for n in aux_params if n.endswith('_moving_mean')]
    assert len(means) == 1 + 3 * 4 + 4  # bn_conv1, 3 per unit, 4 shortcuts
    for name in means:  # none left at the initial mean 0 / variance 1
        assert np.any(aux_params[name].asnumpy() != 0), name
        var = aux_params[name.replace('_mean', '_var')].asnumpy()
        assert not np.allclose(var, 1.0), name
