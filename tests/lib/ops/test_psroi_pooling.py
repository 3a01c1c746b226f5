"""Our PSROIPooling against MXNet's built-in contrib.PSROIPooling and numeric gradients."""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet.test_utils import check_numeric_gradient

import setup
from lib.ops import load_ops, psroi_pooling

load_ops()



def random_rois(rng, num, batch, image_h, image_w):
    """(num, 5) ROIs on every batch item: inside, partly or wholly outside the image,
    tiny (under a feature pixel), inverted (x2 < x1) and on half pixels."""
    x1 = rng.uniform(-0.3 * image_w, 1.1 * image_w, num)
    y1 = rng.uniform(-0.3 * image_h, 1.1 * image_h, num)
    w = rng.uniform(1, 0.8 * image_w, num)
    h = rng.uniform(1, 0.8 * image_h, num)
    rois = np.stack([np.arange(num) % batch, x1, y1, x1 + w, y1 + h], axis=1)
    kind = np.arange(num) % 5
    rois[kind == 1, 3:5] = rois[kind == 1, 1:3] + rng.uniform(0, 3, (np.sum(kind == 1), 2))
    rois[kind == 2, 3:5] = rois[kind == 2, 1:3] - rng.uniform(0, 3, (np.sum(kind == 2), 2))
    rois[kind == 3, 1:5] = np.floor(rois[kind == 3, 1:5]) + 0.5
    rois[kind == 4, 1] = image_w + rng.uniform(5, 50, np.sum(kind == 4))  # right of the image
    return rois.astype(np.float32)


CASES = [  # (output_dim, pooled_size, group_size, spatial_scale, H, W)
    (3, 21, 7, 1 / 16.0, 10, 13),
    (4, 3, 3, 1 / 16.0, 9, 11),
    (2, 6, 3, 0.5, 7, 8),
    (5, 7, 7, 1 / 8.0, 12, 9),
]


@pytest.mark.parametrize('output_dim,pooled,group,scale,height,width', CASES)
def test_matches_contrib_forward_and_gradient(output_dim, pooled, group, scale, height, width,
                                              test_seed):
    seed = test_seed + 10
    rng = np.random.default_rng(seed)
    batch = 2
    data = mx.nd.array(rng.standard_normal((batch, output_dim * group * group, height, width)))
    rois = mx.nd.array(random_rois(rng, 40, batch, height / scale, width / scale))
    attrs = dict(spatial_scale=scale, output_dim=output_dim, pooled_size=pooled,
                 group_size=group)
    results = []
    for op in (mx.nd.contrib.PSROIPooling, mx.nd.PSROIPooling):
        x = data.copy()
        x.attach_grad()
        with mx.autograd.record():
            out = op(x, rois, **attrs)
        head = mx.nd.array(np.random.default_rng(seed).standard_normal(out.shape))
        out.backward(head)
        results.append((out.asnumpy(), x.grad.asnumpy()))
    (ref_out, ref_grad), (our_out, our_grad) = results
    assert our_out.shape == (40, output_dim, pooled, pooled)
    assert np.abs(ref_out).max() > 0, 'degenerate case: all outputs zero'
    assert np.abs(our_out - ref_out).max() <= 1e-5, 'forward differs, seed %d' % seed
    assert np.abs(our_grad - ref_grad).max() <= 1e-5, 'data gradient differs, seed %d' % seed


def test_rois_get_zero_gradient_and_bad_batch_index_gives_zero(test_seed):
    data = mx.nd.array(np.random.default_rng(test_seed).standard_normal((2, 8, 6, 6)))
    rois = mx.nd.array([[0, 0, 0, 40, 40], [2, 0, 0, 40, 40], [-1, 0, 0, 40, 40]])
    data.attach_grad()
    rois.attach_grad()
    with mx.autograd.record():
        out = psroi_pooling(data, rois, spatial_scale=0.125, output_dim=2, pooled_size=2)
    out.backward(mx.nd.ones_like(out))
    out = out.asnumpy()
    assert np.abs(out[0]).max() > 0
    assert np.all(out[1:] == 0), 'ROIs with a batch index outside [0, N) must give 0'
    assert np.all(rois.grad.asnumpy() == 0)
    # only ROI 0 (batch item 0) sends gradient
    assert np.all(data.grad.asnumpy()[1] == 0) and data.grad.asnumpy()[0].sum() > 0


def test_symbol_wrapper_shape_and_default_group():
    sym = psroi_pooling(mx.sym.var('data'), mx.sym.var('rois'), spatial_scale=0.0625,
                        output_dim=4, pooled_size=3, name='psroi')
    _, out_shapes, _ = sym.infer_shape(data=(1, 36, 8, 8), rois=(7, 5))
    assert out_shapes == [(7, 4, 3, 3)]
    assert sym.name == 'psroi'


THREADS_SCRIPT = """
import sys
import lib  # prepares numpy for MXNet
import mxnet as mx, numpy as np
from lib.ops import psroi_pooling
rng = np.random.default_rng(int(sys.argv[2]))
data = mx.nd.array(rng.standard_normal((2, 98, 20, 30)))
rois = np.stack([np.arange(64) % 2, rng.uniform(0, 200, 64), rng.uniform(0, 120, 64),
                 rng.uniform(200, 480, 64), rng.uniform(120, 320, 64)], axis=1)
data.attach_grad()
with mx.autograd.record():
    out = psroi_pooling(data, mx.nd.array(rois), 1 / 16.0, 2, 21, 7)
out.backward(mx.nd.array(rng.standard_normal(out.shape)))
np.savez(sys.argv[1], out=out.asnumpy(), grad=data.grad.asnumpy())
"""


def test_results_do_not_depend_on_thread_count(tmp_path, test_seed):
    results = []
    for threads in ('1', '3'):
        path = str(tmp_path / ('threads%s.npz' % threads))
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        subprocess.run([sys.executable, '-c', THREADS_SCRIPT, path, str(test_seed + 7)],
                       check=True, env=env, cwd=setup.ROOT)
        results.append(np.load(path))
    assert np.array_equal(results[0]['out'], results[1]['out'])
    assert np.array_equal(results[0]['grad'], results[1]['grad'])
    assert np.abs(results[0]['grad']).max() > 0


def test_numeric_gradient_wrt_data(test_seed):
    rng = np.random.default_rng(test_seed + 1)
    sym = mx.sym.PSROIPooling(mx.sym.var('data'), mx.sym.var('rois'), spatial_scale=0.5,
                              output_dim=2, pooled_size=4, group_size=2)
    data = rng.standard_normal((2, 8, 5, 6)).astype(np.float32)
    rois = np.array([[0, 1, 1, 9, 7], [1, -2, 3, 4, 12], [0, 3, 2, 5.5, 4]], np.float32)
    check_numeric_gradient(sym, {'data': data, 'rois': rois}, grad_nodes=['data'],
                           numeric_eps=1e-2, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize('attrs,channels,rois_shape,word', [
    (dict(spatial_scale=0.0625, output_dim=2, pooled_size=0), 18, (3, 5), "'pooled_size'"),
    (dict(spatial_scale=0.0625, output_dim=2, pooled_size=3, group_size=-1), 18, (3, 5),
     "'group_size'"),
    (dict(spatial_scale=-1.0, output_dim=2, pooled_size=3), 18, (3, 5), "'spatial_scale'"),
    (dict(spatial_scale=0.0625, output_dim=3, pooled_size=3), 18, (3, 5), 'output_dim'),
    (dict(spatial_scale=0.0625, output_dim=2, pooled_size=3), 18, (3, 4), "'rois'"),
    (dict(spatial_scale=0.0625, output_dim=2, pooled_size=3, grup_size=3), 18, (3, 5),
     "'grup_size'"),
])
def test_bad_attributes_raise_mxnet_error(attrs, channels, rois_shape, word):
    with pytest.raises(mx.base.MXNetError, match=word):
        mx.nd.PSROIPooling(mx.nd.zeros((1, channels, 4, 4)), mx.nd.zeros(rois_shape), **attrs)


def test_in_place_and_channels_last_forward_give_the_same_bits(test_seed):
    """A few ROIs on a large map are pooled in place, many ROIs from a channels-last copy
    of the data: the ROIs both calls share get identical values, equal to contrib's."""
    seed = test_seed + 11
    rng = np.random.default_rng(seed)
    attrs = dict(spatial_scale=1 / 16.0, output_dim=5, pooled_size=21, group_size=7)
    data = mx.nd.array(rng.standard_normal((2, 5 * 49, 40, 60)))
    rois = random_rois(rng, 200, 2, 40 * 16, 60 * 16)
    few = mx.nd.PSROIPooling(data, mx.nd.array(rois[:3]), **attrs).asnumpy()
    many = mx.nd.PSROIPooling(data, mx.nd.array(rois), **attrs).asnumpy()
    ref = mx.nd.contrib.PSROIPooling(data, mx.nd.array(rois), **attrs).asnumpy()
    assert np.abs(ref).max() > 0
    np.testing.assert_array_equal(few, many[:3], err_msg='seed %d' % seed)
    np.testing.assert_array_equal(many, ref, err_msg='seed %d' % seed)


def _data_grad(data, rois, attrs, head_seed):
    x = data.copy()
    x.attach_grad()
    with mx.autograd.record():
        out = mx.nd.PSROIPooling(x, mx.nd.array(rois), **attrs)
    out.backward(mx.nd.array(np.random.default_rng(head_seed).standard_normal(out.shape)))
    return x.grad.asnumpy()


def test_in_place_and_channels_last_backward_give_the_same_bits(test_seed):
    """The same ROIs on a small map (many bins for its size: the channels-last backward)
    and on that map padded to 8x its sides (few bins: the in-place backward) give identical
    gradients on the small map's pixels and zero beyond; both within 1e-5 of contrib's."""
    seed = test_seed + 12
    rng = np.random.default_rng(seed)
    attrs = dict(spatial_scale=1 / 16.0, output_dim=6, pooled_size=21, group_size=7)
    small = rng.standard_normal((2, 6 * 49, 9, 12)).astype(np.float32)
    rois = random_rois(rng, 60, 2, 9 * 16, 12 * 16)
    rois[:, 1:] = np.clip(rois[:, 1:], 0, 8 * 16)  # bins end inside the small map
    padded = np.zeros((2, 6 * 49, 72, 96), np.float32)
    padded[:, :, :9, :12] = small
    grad_small = _data_grad(mx.nd.array(small), rois, attrs, seed)
    grad_padded = _data_grad(mx.nd.array(padded), rois, attrs, seed)
    ref = mx.nd.contrib.PSROIPooling
    x = mx.nd.array(small)
    x.attach_grad()
    with mx.autograd.record():
        out = ref(x, mx.nd.array(rois), **attrs)
    out.backward(mx.nd.array(np.random.default_rng(seed).standard_normal(out.shape)))
    assert np.abs(grad_small).max() > 0
    np.testing.assert_array_equal(grad_small, grad_padded[:, :, :9, :12],
                                  err_msg='seed %d' % seed)
    assert not grad_padded[:, :, 9:].any() and not grad_padded[:, :, :, 12:].any()
    assert np.abs(grad_small - x.grad.asnumpy()).max() <= 1e-5, 'seed %d' % seed


def _data_grad_with_head(data, rois, attrs, head):
    x = mx.nd.array(data)
    x.attach_grad()
    with mx.autograd.record():
        out = mx.nd.PSROIPooling(x, mx.nd.array(rois), **attrs)
    out.backward(mx.nd.array(head))
    return x.grad.asnumpy()


@pytest.mark.parametrize('map_hw', [(9, 12), (72, 96)])  # channels-last and in-place backward
def test_rois_without_gradient_change_no_bit(map_hw, test_seed):
    """ROIs whose output gradient is all zeros (+0 or -0, as OHEM leaves the unpicked ones)
    are skipped: the data gradient equals, bit for bit, that of a call with only the other
    ROIs; a NaN gradient still reaches the data."""
    seed = test_seed + 13
    rng = np.random.default_rng(seed)
    attrs = dict(spatial_scale=1 / 16.0, output_dim=6, pooled_size=21, group_size=7)
    height, width = map_hw
    data = rng.standard_normal((2, 6 * 49, height, width)).astype(np.float32)
    rois = random_rois(rng, 60, 2, 9 * 16, 12 * 16)
    head = rng.standard_normal((60, 6, 21, 21)).astype(np.float32)
    silent = rng.permutation(60)[:25]
    head[silent] = 0.0
    head[silent[0]] = -0.0
    active = np.setdiff1d(np.arange(60), silent)
    grad_all = _data_grad_with_head(data, rois, attrs, head)
    grad_active = _data_grad_with_head(data, rois[active], attrs, head[active])
    assert np.abs(grad_all).max() > 0
    np.testing.assert_array_equal(grad_all, grad_active, err_msg='seed %d' % seed)
    inside = np.flatnonzero((rois[:, 0] == 0) & (rois[:, 3] > rois[:, 1] + 40)
                            & (rois[:, 1] < 100) & (rois[:, 2] < 100))
    head[inside[0], 0, 0, 0] = np.nan
    assert np.isnan(_data_grad_with_head(data, rois, attrs, head)).any(), 'seed %d' % seed
