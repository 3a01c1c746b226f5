"""A stand-in for gpu_check_lib.native.Harness that answers the harness's calls with the
project's CPU implementations (MXNet library ops, lib.nms, the Cython mask voting), reading
and writing the same ctypes pointers. With it the GPU check's whole Python side (argument
passing, shapes, comparisons, report) runs on a machine without a GPU."""
import ctypes

import mxnet as mx
import numpy as np

from lib.masks.mask_voting_cython import vote_region, vote_region_soft
from lib.nms import nms
from lib.ops import load_ops

load_ops()


def _array(ptr, count, ctype=ctypes.c_float):
    """NumPy view of `count` items at a ctypes pointer (c_void_p)."""
    return np.ctypeslib.as_array((ctype * count).from_address(ptr.value))


def _grad(op, inputs, out_grad):
    arrays = [mx.nd.array(a) for a in inputs]
    for a in arrays:
        a.attach_grad()
    with mx.autograd.record():
        out = op(*arrays)
    out.backward(mx.nd.array(out_grad))
    return out.asnumpy(), [a.grad.asnumpy() for a in arrays]


class FakeHarness:
    """corrupt: name of an entry point whose first output element is altered."""

    def __init__(self, corrupt=None):
        self.corrupt = corrupt

    def call(self, name, *args):
        getattr(self, '_' + name)(*args)

    def _spoil(self, name, out):
        if name == self.corrupt:
            out.reshape(-1)[0] += 1

    def _gc_psroi(self, backward, dims, scale, src, rois, out, rois_grad, warmup, repeats,
                  times):
        n, c, h, w, r, d, p, g = list(dims)
        data_shape, out_shape = (n, c, h, w), (r, d, p, p)
        rois_a = _array(rois, 5 * r).reshape(r, 5)

        def op(x, y):
            return mx.nd.PSROIPooling(x, y, spatial_scale=scale.value, output_dim=d,
                                      pooled_size=p, group_size=g)
        if backward.value:
            grad = _array(src, int(np.prod(out_shape))).reshape(out_shape)
            _, (dg, rg) = _grad(op, [np.zeros(data_shape, np.float32), rois_a], grad)
            _array(out, dg.size)[:] = dg.reshape(-1)
            _array(rois_grad, rg.size)[:] = rg.reshape(-1)
        else:
            data = _array(src, int(np.prod(data_shape))).reshape(data_shape)
            _array(out, r * d * p * p)[:] = op(mx.nd.array(data), mx.nd.array(rois_a)).asnumpy().reshape(-1)
        self._spoil('gc_psroi', _array(out, 1))
        _array(times, max(repeats.value, 1))[:] = 1.0

    def _gc_channel_op(self, backward, dims, data, pick_idx, fwd_out, out_grad, result,
                       pick_grad, warmup, repeats, times):
        op_type, pick_type, group, num, k, spatial = list(dims)
        x = _array(data, num * group * k * spatial).reshape(num, group * k, spatial)
        attrs = dict(op_type=['Group_Max', 'Group_Softmax', 'Group_Pick'][op_type], group=group)
        inputs = [x]
        if op_type == 2:
            attrs['pick_type'] = ['Label_Pick', 'Score_Pick'][pick_type]
            pick_n = num * (group if pick_type else 1)
            inputs.append(_array(pick_idx, pick_n).reshape(num, -1) if pick_type
                          else _array(pick_idx, pick_n))
        op = lambda *a: mx.nd.ChannelOperator(*a, **attrs)  # noqa: E731
        out = op(*[mx.nd.array(a) for a in inputs]).asnumpy()
        if backward.value:
            _, grads = _grad(op, inputs, _array(out_grad, out.size).reshape(out.shape))
            _array(result, grads[0].size)[:] = grads[0].reshape(-1)
            if op_type == 2:
                _array(pick_grad, grads[1].size)[:] = grads[1].reshape(-1)
        else:
            _array(result, out.size)[:] = out.reshape(-1)
        self._spoil('gc_channel_op', _array(result, 1))
        _array(times, max(repeats.value, 1))[:] = 1.0

    def _gc_spatial_mean(self, backward, dims, source, result, warmup, repeats, times):
        rows, count = list(dims)
        op = lambda x: mx.nd.SpatialMean(x)  # noqa: E731
        if backward.value:
            _, (grad,) = _grad(op, [np.zeros((rows, 1, count), np.float32)],
                               _array(source, rows).reshape(rows, 1))
            _array(result, grad.size)[:] = grad.reshape(-1)
        else:
            x = _array(source, rows * count).reshape(rows, 1, count)
            _array(result, rows)[:] = op(mx.nd.array(x)).asnumpy().reshape(-1)
        self._spoil('gc_spatial_mean', _array(result, 1))
        _array(times, max(repeats.value, 1))[:] = 1.0

    def _fcis_gpu_nms(self, keep, num, rows, n, dim, thresh, device):
        boxes = _array(rows, n.value * dim.value).reshape(n.value, dim.value)
        kept = nms(boxes, thresh.value)  # rows are sorted by score: positions = indices
        _array(keep, n.value, ctypes.c_int)[:len(kept)] = kept
        num._obj.value = len(kept)
        self._spoil('fcis_gpu_nms', _array(keep, 1, ctypes.c_int))

    def _vote(self, fn, out, out_ctype, masks, num_masks, src_h, src_w, extents, members,
              weights, num_members, x1, y1, x2, y2, thresh, binarize):
        """fn (vote_region or vote_region_soft) on the arrays behind the pointers, written
        into out as out_ctype items."""
        m, sh, sw, nm = num_masks.value, src_h.value, src_w.value, num_members.value
        res = fn(_array(masks, m * sh * sw).reshape(m, sh, sw),
                 _array(extents, 4 * m, ctypes.c_int).reshape(m, 4),
                 _array(members, nm, ctypes.c_int64).astype(np.intp), _array(weights, nm),
                 x1.value, y1.value, x2.value, y2.value, thresh.value, bool(binarize.value))
        _array(out, res.size, out_ctype)[:] = np.asarray(res).reshape(-1)
        return _array(out, 1, out_ctype)

    # args: the entry point's arguments after out, the last one (device_id) unused
    def _fcis_gpu_vote_region(self, out, *args):
        self._spoil('fcis_gpu_vote_region',
                    self._vote(vote_region, out, ctypes.c_uint8, *args[:-1]))

    def _fcis_gpu_vote_soft(self, out, *args):
        self._spoil('fcis_gpu_vote_soft',
                    self._vote(vote_region_soft, out, ctypes.c_double, *args[:-1]))

    def timer_start(self):
        pass

    def timer_stop(self):
        return 1.0

    def device_info(self):
        return 1, '00', 'fake (CPU ops)'
