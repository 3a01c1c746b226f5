"""Pretrained converters end to end: a full-size ResNet-101 file of each source (real names
and shapes, random values) is converted by the command line tool, loaded into the FCIS
symbol by name, and the converted trunk's stem + res2 + res3a outputs equal a NumPy
computation of the source network with the source's own semantics (Detectron: Caffe2
frozen BN y = x * s + b; detectron2's copy: BN with _bn_rm / _bn_riv statistics; both BGR
input and stride in the 1x1; torchvision: BN with running statistics, stride in the 3x3,
(x / 255 - mean) / std RGB input). Incomplete or misshapen files are refused by name."""
import functools
import importlib.util
import os
import pickle

import mxnet as mx
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from fcis.convert.pickle_reader import ConvertError
from fcis.convert.pretrained import convert
from fcis.core.params import load_params
from fcis.symbols import FCISArgs, TrunkArgs, get_test_symbol

TOOL = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis',
                    'convert_pretrained.py')
UNITS_101 = (3, 4, 23, 3)
EPS = 1e-5
TV_MEAN = np.array([0.485, 0.456, 0.406]) * 255  # torchvision's input normalization, RGB
TV_STD = np.array([0.229, 0.224, 0.225]) * 255
IMAGE = np.random.default_rng(3).uniform(0, 255, (32, 32, 3))  # (H, W, 3) RGB pixels


def load_tool():
    spec = importlib.util.spec_from_file_location('convert_pretrained_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def resnet101_convs():
    """(stage, unit, branch, weight shape) of every conv of ResNet-101, stem = (1, 0, 'stem')."""
    convs = [(1, 0, 'stem', (64, 3, 7, 7))]
    channels = 64
    for stage, count in zip((2, 3, 4, 5), UNITS_101):
        width = 64 * 2 ** (stage - 2)
        for unit in range(count):
            convs += [(stage, unit, 'branch2a', (width, channels, 1, 1)),
                      (stage, unit, 'branch2b', (width, width, 3, 3)),
                      (stage, unit, 'branch2c', (4 * width, width, 1, 1))]
            if unit == 0:
                convs.append((stage, unit, 'branch1', (4 * width, channels, 1, 1)))
            channels = 4 * width
    return convs


def caffe2_prefix(stage, unit, branch):
    if branch == 'stem':
        return 'conv1', 'res_conv1_bn'
    conv = 'res%d_%d_%s' % (stage, unit, branch)
    return conv, conv + '_bn'


def torchvision_prefix(stage, unit, branch):
    if branch == 'stem':
        return 'conv1', 'bn1'
    unit_name = 'layer%d.%d.' % (stage - 1, unit)
    conv, bn = {'branch1': ('downsample.0', 'downsample.1'), 'branch2a': ('conv1', 'bn1'),
                'branch2b': ('conv2', 'bn2'), 'branch2c': ('conv3', 'bn3')}[branch]
    return unit_name + conv, unit_name + bn


def he_normal(rng, shape):
    """float32 N(0, 2 / fan_in) conv weights (activations stay O(1) through the units)."""
    return rng.standard_normal(shape, np.float32) * np.float32(np.sqrt(2 / np.prod(shape[1:])))


def detectron_blobs(rng, stats=False):
    """Detectron R-101.pkl blobs: conv weights *_w and frozen BN *_bn_s / *_bn_b (stats:
    detectron2's copy, also *_bn_rm / *_bn_riv), plus the classifier and solver state the
    converter drops."""
    blobs = {}
    for stage, unit, branch, shape in resnet101_convs():
        conv, bn = caffe2_prefix(stage, unit, branch)
        blobs[conv + '_w'] = he_normal(rng, shape)
        blobs[bn + '_s'] = rng.uniform(0.5, 1.5, shape[0]).astype(np.float32)
        blobs[bn + '_b'] = rng.normal(0, 0.5, shape[0]).astype(np.float32)
        if stats:
            blobs[bn + '_rm'] = rng.normal(0, 0.5, shape[0]).astype(np.float32)
            blobs[bn + '_riv'] = rng.uniform(0.5, 2.0, shape[0]).astype(np.float32)
    blobs['pred_w'] = np.zeros((1000, 2048), np.float32)
    blobs['pred_b'] = np.zeros(1000, np.float32)
    blobs['res2_0_branch2a_w_momentum'] = np.zeros((64, 64, 1, 1), np.float32)
    return blobs


def torchvision_state(rng):
    """torchvision resnet101 state dict as arrays (BN with running stats and counters, fc)."""
    state = {}
    for stage, unit, branch, shape in resnet101_convs():
        conv, bn = torchvision_prefix(stage, unit, branch)
        state[conv + '.weight'] = he_normal(rng, shape)
        c = shape[0]
        state[bn + '.weight'] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        state[bn + '.bias'] = rng.normal(0, 0.5, c).astype(np.float32)
        state[bn + '.running_mean'] = rng.normal(0, 0.5, c).astype(np.float32)
        state[bn + '.running_var'] = rng.uniform(0.5, 2.0, c).astype(np.float32)
        state[bn + '.num_batches_tracked'] = np.array(1000, np.int64)
    state['fc.weight'] = np.zeros((1000, 2048), np.float32)
    state['fc.bias'] = np.zeros(1000, np.float32)
    return state


KINDS = ('detectron', 'detectron2', 'torchvision')  # detectron2: Caffe2 names + BN stats


def tool_source(kind):
    """--from value of a kind of file."""
    return 'torchvision' if kind == 'torchvision' else 'detectron'


@functools.lru_cache(maxsize=None)
def _source_arrays(kind):
    rng = np.random.default_rng(11)
    if kind == 'torchvision':
        return torchvision_state(rng)
    return detectron_blobs(rng, stats=kind == 'detectron2')


def source_arrays(kind):
    """A fresh dict (shared arrays, not to be changed in place) of a random source file."""
    return dict(_source_arrays(kind))


# ---- NumPy reference of the source networks (float64) ------------------------------------

def conv2d(x, w, stride=1, pad=0):
    """x (C, H, W), w (K, C, kh, kw) -> (K, H', W') cross-correlation, zero padding."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x, w.shape[2:], axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum('chwij,kcij->khw', windows, w.astype(np.float64))  # (K, H', W')


def max_pool_caffe(x):
    """3x3 stride 2, no padding, ceil rounding (the trunk's pool1). (C, H, W) -> (C, H', W')."""
    c, h, w = x.shape
    oh, ow = (int(np.ceil((n - 3) / 2)) + 1 for n in (h, w))
    padded = np.full((c, 2 * oh + 1, 2 * ow + 1), -np.inf)
    padded[:, :h, :w] = x
    return sliding_window_view(padded, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(3, 4))


class SourceNet:
    """stem, res2 and res3a of ResNet-101 computed from a source dict with its semantics."""

    def __init__(self, kind, arrays):
        self.source, self.a = tool_source(kind), arrays

    def conv_bn(self, x, stage, unit, branch, stride=1, pad=0):
        if self.source == 'detectron':
            conv, bn = caffe2_prefix(stage, unit, branch)
            y = conv2d(x, self.a[conv + '_w'], stride, pad)
            if bn + '_rm' in self.a:  # detectron2: y = (x - rm) / sqrt(riv + eps) * s + b
                y = (y - self.a[bn + '_rm'][:, None, None]) / np.sqrt(
                    self.a[bn + '_riv'][:, None, None] + EPS)
            return y * self.a[bn + '_s'][:, None, None] + self.a[bn + '_b'][:, None, None]
        conv, bn = torchvision_prefix(stage, unit, branch)
        y = conv2d(x, self.a[conv + '.weight'], stride, pad)
        p = {k: self.a[bn + '.' + k][:, None, None].astype(np.float64)
             for k in ('weight', 'bias', 'running_mean', 'running_var')}
        return (y - p['running_mean']) / np.sqrt(p['running_var'] + EPS) * p['weight'] + p['bias']

    def input(self, image_rgb):
        """(H, W, 3) RGB pixels -> the (3, H, W) input the source was trained on."""
        if self.source == 'detectron':  # BGR minus the MSRA mean (= network.PIXEL_MEANS)
            return (image_rgb[:, :, ::-1] - [103.06, 115.90, 123.15]).transpose(2, 0, 1)
        return ((image_rgb - TV_MEAN) / TV_STD).transpose(2, 0, 1)

    def stem(self, image_rgb):
        x = self.conv_bn(self.input(image_rgb), 1, 0, 'stem', stride=2, pad=3)
        return x, max_pool_caffe(np.maximum(x, 0))

    def unit(self, x, stage, unit, stride):
        s1, s3 = (stride, 1) if self.source == 'detectron' else (1, stride)
        y = np.maximum(self.conv_bn(x, stage, unit, 'branch2a', stride=s1), 0)
        y = np.maximum(self.conv_bn(y, stage, unit, 'branch2b', stride=s3, pad=1), 0)
        y = self.conv_bn(y, stage, unit, 'branch2c')
        short = self.conv_bn(x, stage, unit, 'branch1', stride=stride) if unit == 0 else x
        return np.maximum(short + y, 0)

    def forward(self, image_rgb):
        """-> {'bn_conv1': .., 'res2c_relu': .., 'res3a_relu': ..} each (C, H, W)."""
        bn1, x = self.stem(image_rgb)
        for unit in range(3):
            x = self.unit(x, 2, unit, 1)
        return {'bn_conv1': bn1, 'res2c_relu': x, 'res3a_relu': self.unit(x, 3, 0, 2)}


# ---- the converted file in the FCIS symbol -----------------------------------------------

def mxnet_trunk_outputs(params_file, stride_in_1x1, pixel_means_bgr, names):
    """Load ``params_file`` into the FCIS test symbol by name and run its trunk on IMAGE.

    One bind per output: MXNet 1.9's oneDNN subgraph pass computes wrong values for later
    layers when a fused internal output (bn_conv1) is grouped with them."""
    args = FCISArgs(num_classes=21, trunk=TrunkArgs(depth=101, stride_in_1x1=stride_in_1x1))
    sym = get_test_symbol(args)
    prefix = params_file[:-len('-0000.params')]
    arg_params, aux_params = load_params(sym, {'data': (1, 3, 64, 64)}, prefix, 0)
    data = (IMAGE[:, :, ::-1] - pixel_means_bgr)[:, :, ::-1]  # RGB pixels minus the means
    outputs = {}
    for name in names:
        part = sym.get_internals()[name + '_output']
        feed = {'data': mx.nd.array(data.transpose(2, 0, 1)[None])}  # (1, 3, 32, 32)
        feed.update({n: arg_params[n] for n in part.list_arguments() if n != 'data'})
        ex = part.bind(mx.cpu(), args=feed,
                       aux_states={n: aux_params[n] for n in part.list_auxiliary_states()})
        outputs[name] = ex.forward(is_train=False)[0].asnumpy()[0]
    return outputs


def write_source(tmp_path_factory, kind, arrays):
    path = tmp_path_factory.mktemp(kind) / ('resnet101.npz' if kind == 'torchvision'
                                            else 'R-101.pkl')
    if kind != 'torchvision':
        with open(path, 'wb') as f:
            pickle.dump({'blobs': arrays}, f, protocol=2)
    else:
        np.savez(path, **arrays)
    return str(path)


@pytest.fixture(scope='module', params=KINDS)
def converted(request, tmp_path_factory):
    """(kind, source arrays, converted .params path, pixel means used)."""
    kind = request.param
    arrays = source_arrays(kind)
    src = write_source(tmp_path_factory, kind, arrays)
    # torchvision with PIXEL_MEANS = its own mean: the zero padding of conv1 agrees exactly
    means = tuple(TV_MEAN[::-1]) if kind == 'torchvision' else (103.06, 115.90, 123.15)
    out = os.path.join(os.path.dirname(src), 'out', 'resnet_v1_101-0000.params')
    load_tool().main(['--from', tool_source(kind), src, out,
                      '--pixel-means', ','.join(repr(float(m)) for m in means)])
    return kind, arrays, out, means


def test_converted_trunk_computes_the_source_network(converted):
    kind, arrays, out, means = converted
    names = ['bn_conv1', 'res2c_relu', 'res3a_relu']
    got = mxnet_trunk_outputs(out, kind != 'torchvision', np.array(means), names)
    want = SourceNet(kind, arrays).forward(IMAGE)
    for name in names:
        assert got[name].shape == want[name].shape, name
        scale = np.abs(want[name]).max()
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4 * scale,
                                   err_msg=name)
    assert want['res3a_relu'].shape == (512, 4, 4)


def test_converted_file_has_exactly_the_trunk_names(converted):
    _, _, out, _ = converted
    saved = mx.nd.load(out)
    assert len(saved) == 104 * 5  # 104 conv+BN layers: weight, gamma, beta, mean, var
    assert saved['arg:res4b22_branch2c_weight'].shape == (1024, 256, 1, 1)
    assert saved['aux:bn5c_branch2c_moving_var'].dtype == np.float32
    assert not any('fc' in k or 'pred' in k or 'momentum' in k for k in saved)


def test_batchnorm_values_are_folded_or_copied(converted):
    kind, arrays, out, _ = converted
    saved = {k: v.asnumpy() for k, v in mx.nd.load(out).items()}
    gamma, var = saved['arg:bn2a_branch2b_gamma'], saved['aux:bn2a_branch2b_moving_var']
    if kind == 'detectron2':
        np.testing.assert_array_equal(var, arrays['res2_0_branch2b_bn_riv'])
        np.testing.assert_array_equal(saved['aux:bn2a_branch2b_moving_mean'],
                                      arrays['res2_0_branch2b_bn_rm'])
        np.testing.assert_array_equal(gamma, arrays['res2_0_branch2b_bn_s'])
    elif kind == 'detectron':  # frozen y = x * s + b: mean 0, sqrt(var + eps) exactly 1
        assert np.all(np.sqrt(var + np.float32(EPS)) == np.float32(1))
        assert np.all(saved['aux:bn2a_branch2b_moving_mean'] == 0)
        np.testing.assert_array_equal(gamma, arrays['res2_0_branch2b_bn_s'])
        np.testing.assert_array_equal(saved['arg:bn2a_branch2b_beta'],
                                      arrays['res2_0_branch2b_bn_b'])
    else:  # running statistics as they are
        np.testing.assert_array_equal(var, arrays['layer1.0.bn2.running_var'])
        np.testing.assert_array_equal(gamma, arrays['layer1.0.bn2.weight'])
        np.testing.assert_array_equal(saved['aux:bn2a_branch2b_moving_mean'],
                                      arrays['layer1.0.bn2.running_mean'])


def test_torchvision_with_the_pipeline_means_is_exact_inside_the_image(tmp_path):
    """Default PIXEL_MEANS differ from torchvision's mean: the difference goes into
    bn_conv1's mean, so conv1 + bn matches wherever the 7x7 window is inside the image."""
    arrays = source_arrays('torchvision')
    args, auxs, _ = convert(arrays, 'torchvision', 101)  # rgb, default PIXEL_MEANS
    z = (IMAGE - [123.15, 115.90, 103.06]).transpose(2, 0, 1)  # what the pipeline feeds
    y = conv2d(z, args['conv1_weight'], stride=2, pad=3)
    got = ((y - auxs['bn_conv1_moving_mean'][:, None, None])
           / np.sqrt(auxs['bn_conv1_moving_var'][:, None, None] + EPS)
           * args['bn_conv1_gamma'][:, None, None] + args['bn_conv1_beta'][:, None, None])
    want = SourceNet('torchvision', arrays).stem(IMAGE)[0]
    inside = (slice(None), slice(2, 15), slice(2, 15))  # windows 2i-3..2i+3 within 0..31
    np.testing.assert_allclose(got[inside], want[inside], rtol=1e-4,
                               atol=1e-4 * np.abs(want).max())
    assert not np.allclose(got[:, 0], want[:, 0], rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_bgr_input_order_swaps_conv1_channels():
    arrays = source_arrays('detectron')
    rgb, _, _ = convert(arrays, 'detectron', 101, input_order='rgb')
    bgr, _, _ = convert(arrays, 'detectron', 101, input_order='bgr')
    np.testing.assert_array_equal(bgr['conv1_weight'], arrays['conv1_w'])  # Caffe2 is BGR
    np.testing.assert_array_equal(rgb['conv1_weight'], arrays['conv1_w'][:, ::-1])


@pytest.mark.parametrize('source,name,change', [
    ('detectron', 'res4_17_branch2b_bn_s', 'drop'),
    ('detectron', 'res3_0_branch1_w', 'shape'),
    ('detectron', 'res5_3_branch2a_w', 'add'),
    ('detectron2', 'res4_5_branch2a_bn_riv', 'drop'),
    ('detectron2', 'res_conv1_bn_rm', 'shape'),
    ('torchvision', 'layer3.22.bn3.running_var', 'drop'),
    ('torchvision', 'layer1.0.downsample.0.weight', 'shape'),
    ('torchvision', 'layer4.0.se.weight', 'add'),
])
def test_incomplete_or_misshapen_sources_are_refused_by_name(source, name, change):
    arrays = source_arrays(source)
    if change == 'drop':
        del arrays[name]
    elif change == 'shape':
        arrays[name] = arrays[name][..., :-1]
    else:
        arrays[name] = np.zeros(3, np.float32)
    kind = {'drop': 'missing', 'shape': 'wrong shape', 'add': 'map to no trunk layer'}[change]
    with pytest.raises(ConvertError, match='%s: %s' % (kind, name.replace('.', r'\.'))):
        convert(arrays, tool_source(source), 101)


@pytest.mark.parametrize('source,name', [('detectron', 'res2_1_branch2c_w'),
                                         ('torchvision', 'layer2.3.bn1.weight')])
def test_tool_refuses_a_file_with_a_missing_tensor_in_one_line(tmp_path, source, name):
    arrays = source_arrays(source)
    del arrays[name]
    src = tmp_path / 'broken.npz'
    np.savez(src, **arrays)
    out = tmp_path / 'out-0000.params'
    with pytest.raises(SystemExit) as exit_info:
        load_tool().main(['--from', source, str(src), str(out)])
    message = str(exit_info.value)
    assert message.startswith('error: %s is not a %s ResNet-101: 1 tensor(s) missing: %s '
                              % (src, source, name)) and '\n' not in message
    assert not out.exists()


def test_wrong_depth_is_refused():
    arrays = source_arrays('detectron')
    with pytest.raises(ConvertError, match=r'ResNet-50: 153 tensor.*map to no trunk layer: res4_'):
        convert(arrays, 'detectron', 50)
