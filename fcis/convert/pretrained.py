"""Convert an ImageNet-pretrained ResNet into the MXNet parameters of our trunk (the names
of the public ``resnet_v1_101-0000.params``, ``arg:``/``aux:`` prefixes).

    args, auxs, ignored = convert(read_source('R-101.pkl'), 'detectron', depth=101)
    lib.utils.checkpoint.save_params('model/pretrained_model/resnet_v1_101-0000.params',
                                     args, auxs)

Per layer (``fcis.convert.names``) the conv weight is copied and the BatchNorm becomes
our frozen BN y = (x - mean) / sqrt(var + eps) * gamma + beta (eps 1e-5):

* detectron (Caffe2 frozen BN y = x * s + b): gamma = s, beta = b, mean = 0,
  var = 1 - eps, so that sqrt(var + eps) = 1 and y = x * s + b exactly;
* detectron2's copy of the MSRA model (Caffe2 names plus _bn_rm / _bn_riv, the running mean
  and variance, eps 1e-5) and torchvision (BN with running statistics, eps 1e-5 like ours):
  gamma, beta, mean and variance are copied as they are.

conv1 is also adapted to the input the FCIS pipeline feeds (``input_order`` channels, 0-255
pixels minus ``pixel_means``): its input channels are reordered from the source's order,
and for torchvision (trained on (pixel / 255 - mean) / std) divided by 255 * std, the
remaining mean difference being moved into bn_conv1's moving mean. Inside the image this is
exact; in conv1's 3-pixel border the zero padding differs by (pixel_means - 255 * mean) /
(255 * std), about 0.01 of the ImageNet mean.

Every trunk tensor must come from the file with its exact shape, and every tensor of the file
must be used or be one the converter drops on purpose (``names.is_ignored``);
otherwise ConvertError names the tensors.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import mxnet as mx
import numpy as np

from fcis.convert import names
from fcis.convert.pickle_reader import ConvertError
from fcis.symbols.args import TrunkArgs
from fcis.symbols.resnet_v1 import BN_EPS, resnet_v1_trunk

DEFAULT_PIXEL_MEANS = (103.06, 115.90, 123.15)  # network.PIXEL_MEANS default, BGR order
INPUT_ORDERS = ('rgb', 'bgr')
_SHOWN = 8  # names listed in one message


@dataclass(frozen=True)
class SourceInput:
    """The input a source's conv1 was trained on: channel ``order`` and per-channel ``mean``
    and ``std`` of 0-255 pixels in that order (mean None: the pipeline's pixel_means)."""
    order: str
    mean: Optional[Tuple[float, ...]]
    std: Tuple[float, ...]


SOURCE_INPUT = {
    # MSRA's Caffe model: BGR, minus the mean image (whose channel means are PIXEL_MEANS)
    'detectron': SourceInput('bgr', None, (1.0, 1.0, 1.0)),
    # torchvision: RGB in [0, 1], normalized by the ImageNet mean / std
    'torchvision': SourceInput('rgb', (0.485 * 255, 0.456 * 255, 0.406 * 255),
                               (0.229 * 255, 0.224 * 255, 0.225 * 255)),
}


def trunk_shapes(depth):
    """({arg name: shape}, {aux name: shape}) of the ResNet-v1 ``depth`` trunk."""
    _, conv5 = resnet_v1_trunk(mx.sym.Variable('data'), TrunkArgs(depth=depth))
    arg_shapes, _, aux_shapes = conv5.infer_shape(data=(1, 3, 64, 64))
    args = {n: tuple(s) for n, s in zip(conv5.list_arguments(), arg_shapes) if n != 'data'}
    return args, {n: tuple(s) for n, s in zip(conv5.list_auxiliary_states(), aux_shapes)}


def keeps_bn_stats(source, arrays):
    """True when the source keeps BatchNorm statistics (always for torchvision)."""
    return source == 'torchvision' or names.has_detectron_stats(arrays)


def expected_source_shapes(source, depth, with_stats=False):
    """{source tensor name: shape} the conversion of a ``depth`` trunk needs."""
    arg_shapes, _ = trunk_shapes(depth)
    expected = {}
    for layer in names.trunk_layers(depth):
        target = names.target_names(layer)
        channels = arg_shapes[target['gamma']]
        for role, name in names.source_names(source, layer, with_stats).items():
            expected[name] = arg_shapes[target['weight']] if role == 'weight' else channels
    return expected


def _listed(items):
    """'a, b, c' of at most _SHOWN items, with ' ...' when cut."""
    items = list(items)
    return ', '.join(items[:_SHOWN]) + (' ...' if len(items) > _SHOWN else '')


def check_source(arrays, source, depth, path='the source'):
    """Raise ConvertError unless ``arrays`` ({name: array}) maps completely onto the trunk.

    Returns the sorted names dropped on purpose (classifier, solver state, BN counters).
    """
    expected = expected_source_shapes(source, depth, keeps_bn_stats(source, arrays))
    missing = sorted(n for n in expected if n not in arrays)
    bad = ['%s %s (expected %s)' % (n, tuple(arrays[n].shape), s)
           for n, s in sorted(expected.items()) if n in arrays and tuple(arrays[n].shape) != s]
    ignored = sorted(n for n in arrays if n not in expected and names.is_ignored(source, n))
    unknown = sorted(n for n in arrays if n not in expected and n not in ignored)
    problems = []
    if missing:
        problems.append('%d tensor(s) missing: %s' % (len(missing), _listed(missing)))
    if bad:
        problems.append('%d tensor(s) of the wrong shape: %s' % (len(bad), _listed(bad)))
    if unknown:
        problems.append('%d tensor(s) that map to no trunk layer: %s'
                        % (len(unknown), _listed(unknown)))
    if problems:
        raise ConvertError('%s is not a %s ResNet-%d: %s (is --from / --depth right?)'
                           % (path, source, depth, '; '.join(problems)))
    return ignored


def layer_params(source, arrays, layer):
    """(weight, gamma, beta, mean, var) float32 arrays of our ``layer`` from the source."""
    src = {role: np.asarray(arrays[n], dtype=np.float32) for role, n in
           names.source_names(source, layer, keeps_bn_stats(source, arrays)).items()}
    if source == 'detectron':
        src['gamma'], src['beta'] = src['scale'], src['bias']
        if 'mean' not in src:  # y = x * s + b  ==  (x - 0) / sqrt((1 - eps) + eps) * s + b
            src['mean'] = np.zeros(src['scale'].shape, np.float32)
            src['var'] = np.full(src['scale'].shape, 1.0 - BN_EPS, np.float32)
    return src['weight'], src['gamma'], src['beta'], src['mean'], src['var']


def fold_input(weight, mean, spec, input_order, pixel_means):
    """Adapt conv1 (weight (64, 3, 7, 7)) and bn_conv1's mean (64,) to our input.

    Our input channel t (``input_order``) is z_t = x_t - p_t (``pixel_means`` given in BGR);
    the source expects u_c = (x_c - M_c) / S_c in its order, c = source channel of t. Then
    conv(u) = conv'(z) + delta with conv' = weight[:, c] / S_c and delta_k = sum over t, i, j
    of weight[k, c, i, j] * (p_t - M_c) / S_c, which bn_conv1 absorbs as mean - delta.
    """
    if input_order not in INPUT_ORDERS:
        raise ConvertError('input order %r is not one of %s' % (input_order, INPUT_ORDERS))
    source_channel = [0, 1, 2] if input_order == spec.order else [2, 1, 0]  # of channel t
    means_bgr = np.asarray(pixel_means, dtype=np.float64)
    p = means_bgr if input_order == 'bgr' else means_bgr[::-1]  # (3,) in our order
    std = np.asarray(spec.std, dtype=np.float64)[source_channel]  # (3,) in our order
    src_mean = p if spec.mean is None else np.asarray(spec.mean)[source_channel]
    w = weight.astype(np.float64)[:, source_channel] / std[None, :, None, None]  # (64, 3, 7, 7)
    delta = np.einsum('ktij,t->k', w, p - src_mean)  # (64,)
    return w.astype(np.float32), (mean.astype(np.float64) - delta).astype(np.float32)


def convert(arrays, source, depth=101, input_order='rgb', pixel_means=DEFAULT_PIXEL_MEANS,
            path='the source'):
    """{source name: array} -> ({arg name: array}, {aux name: array}, ignored names).

    Raises ConvertError (naming the tensors) when the source does not map completely.
    """
    if source not in names.SOURCES:
        raise ConvertError('unknown source %r (use one of %s)' % (source, names.SOURCES))
    if len(pixel_means) != 3:
        raise ConvertError('pixel means must be 3 numbers (B, G, R), got %r' % (pixel_means,))
    ignored = check_source(arrays, source, depth, path)
    args, auxs = {}, {}
    for layer in names.trunk_layers(depth):
        weight, gamma, beta, mean, var = layer_params(source, arrays, layer)
        if layer.branch == names.STEM:
            weight, mean = fold_input(weight, mean, SOURCE_INPUT[source], input_order,
                                      pixel_means)
        target = names.target_names(layer)
        args.update({target['weight']: weight, target['gamma']: gamma, target['beta']: beta})
        auxs.update({target['moving_mean']: mean, target['moving_var']: var})
    return args, auxs, ignored

