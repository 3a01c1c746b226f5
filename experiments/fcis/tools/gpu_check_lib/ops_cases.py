"""PSROIPooling and ChannelOperator cases: the CPU side (``make_*``, MXNet + the project's
library ops) and the GPU side (``run_*``, the harness; NumPy + ctypes only).

Case attributes live in the npz ``meta``; every array key starts with the case name.
"""
import ctypes

import numpy as np

from .compare import compare, result
from .store import get_input, put_expected, put_input, synth_input

# name -> attributes. "timed": also measured (COCO sizes).
PSROI_CASES = {
    # FCIS COCO test: res5 map of a 600x1000 image (stride 16), 300 ROIs, 2 * 81 classes.
    'psroi_coco': dict(batch=1, height=38, width=63, output_dim=162, group=7, pooled=21,
                       scale=1.0 / 16, num_rois=300, image=(608, 1008), seed=11, timed=True),
    # Edge cases: two images, pooled != group, ROIs outside, tiny, inverted, bad batch index.
    'psroi_edge': dict(batch=2, height=10, width=12, output_dim=4, group=3, pooled=6,
                       scale=0.25, num_rois=40, image=(40, 48), seed=12, timed=False),
}
EDGE_ROIS = [[0, 4, 4, 30, 20], [1, 0, 0, 47, 39], [0, -20, -10, 10, 8], [0, 60, 50, 90, 80],
             [0, -50, -50, -10, -10], [0, 10, 10, 10, 10], [1, 13.4, 7.6, 13.6, 7.4],
             [0, 5, 5, 4, 4], [-1, 4, 4, 30, 20], [2, 4, 4, 30, 20], [0, 0, 0, 1000, 1000],
             [0, 2.5, 3.5, 20.5, 30.5], [1, 47, 39, 47, 39], [0, -0.5, -0.5, 0.49, 0.49]]

OP_TYPES = {'Group_Max': 0, 'Group_Softmax': 1, 'Group_Pick': 2}
PICK_TYPES = {'Label_Pick': 0, 'Score_Pick': 1}
# (op_type, pick_type or None, forward rule, backward rule)
CHANNEL_OPS = [('Group_Max', None, 'bit-identical', 'bit-identical'),
               ('Group_Softmax', None, 'softmax', 'softmax-backward'),
               ('Group_Pick', 'Label_Pick', 'bit-identical', 'bit-identical'),
               ('Group_Pick', 'Score_Pick', 'bit-identical', 'bit-identical')]
CHANNEL_CASES = {
    # FCIS COCO test: 2 x 300 ROIs, 81 classes x (outside, inside), 21x21 masks.
    'chan_coco': dict(shape=(600, 162, 21, 21), group=81, seed=21, timed=True),
    # k = 3 (the general softmax loop), coarse values (ties), odd labels and tied scores.
    'chan_edge': dict(shape=(5, 12, 2, 3), group=4, seed=22, timed=False),
    # data without spatial axes (N, C).
    'chan_flat': dict(shape=(7, 6), group=3, seed=23, timed=False),
}


def _random_rois(rng, num, image_h, image_w):
    """(num, 5) [0, x1, y1, x2, y2] boxes of 8..image-size pixels inside the image."""
    w = rng.uniform(8, image_w * 0.8, num)
    h = rng.uniform(8, image_h * 0.8, num)
    x1 = rng.uniform(0, image_w - w)
    y1 = rng.uniform(0, image_h - h)
    return np.stack([np.zeros(num), x1, y1, x1 + w, y1 + h], axis=1).astype(np.float32)


def _backward(mx, op, inputs, out_grad, ctx=None):
    """(output, [input grads]) of op(*inputs) through autograd on ctx (default CPU)."""
    ctx = ctx or mx.cpu()
    arrays = [mx.nd.array(a, ctx=ctx) for a in inputs]
    for a in arrays:
        a.attach_grad()
    with mx.autograd.record():
        out = op(*arrays)
    out.backward(mx.nd.array(out_grad, ctx=ctx))
    return out.asnumpy(), [a.grad.asnumpy() for a in arrays]


def make_psroi(mx, store, name, a):
    """CPU results of case `name` (attributes a) into store."""
    rng = np.random.RandomState(a['seed'])
    rois = _random_rois(rng, a['num_rois'], *a['image'])
    if name == 'psroi_edge':
        rois[:len(EDGE_ROIS)] = np.array(EDGE_ROIS, np.float32)
        rois[len(EDGE_ROIS):, 0] = rng.randint(0, a['batch'], a['num_rois'] - len(EDGE_ROIS))
    channels = a['output_dim'] * a['group'] ** 2
    data = synth_input(store, name + '.data', a['seed'], (a['batch'], channels, a['height'],
                                                          a['width']))
    out_shape = (a['num_rois'], a['output_dim'], a['pooled'], a['pooled'])
    out_grad = synth_input(store, name + '.out_grad', a['seed'] + 1, out_shape, -1.0, 1.0)
    put_input(store, name + '.rois', rois)

    def op(d, r):
        return mx.nd.PSROIPooling(d, r, spatial_scale=a['scale'], output_dim=a['output_dim'],
                                  pooled_size=a['pooled'], group_size=a['group'])

    out, (data_grad, rois_grad) = _backward(mx, op, [data, rois], out_grad)
    _, (abs_grad, _) = _backward(mx, op, [data, rois], np.abs(out_grad))
    put_expected(store, name + '.out', out)
    put_expected(store, name + '.data_grad', data_grad)
    put_expected(store, name + '.data_grad_abs', abs_grad)  # tolerance scale A
    put_expected(store, name + '.rois_grad', rois_grad)


def _ptr(array):
    return array.ctypes.data_as(ctypes.c_void_p)


def _repeats(a, timing):
    return (timing['warmup'], timing['repeats']) if a['timed'] else (0, 0)


def run_psroi(harness, npz, name, a, timing):
    """Forward and backward of case `name` on the GPU; list of result rows."""
    data = get_input(npz, name + '.data')
    rois = get_input(npz, name + '.rois')
    out_grad = get_input(npz, name + '.out_grad')
    dims = (ctypes.c_int * 8)(*data.shape, a['num_rois'], a['output_dim'], a['pooled'],
                              a['group'])
    warmup, repeats = _repeats(a, timing)
    rows = []
    for backward in (0, 1):
        got = np.zeros(data.shape if backward else out_grad.shape, np.float32)
        rois_grad = np.zeros(rois.shape, np.float32)
        times = np.zeros(max(repeats, 1), np.float32)
        harness.call('gc_psroi', ctypes.c_int(backward), dims, ctypes.c_float(a['scale']),
                     _ptr(out_grad if backward else data), _ptr(rois), _ptr(got),
                     _ptr(rois_grad), ctypes.c_int(warmup), ctypes.c_int(repeats),
                     _ptr(times))
        times = times[:repeats].tolist()
        if backward:
            ok, detail = compare(npz, name + '.data_grad', got, 'psroi-backward',
                                 scale_key=name + '.data_grad_abs')
            rows.append(result(name + ' backward', 'psroi-backward', ok, detail, times))
            ok, detail = compare(npz, name + '.rois_grad', rois_grad, 'bit-identical')
            rows.append(result(name + ' backward rois_grad', 'bit-identical', ok, detail))
        else:
            ok, detail = compare(npz, name + '.out', got, 'bit-identical')
            rows.append(result(name + ' forward', 'bit-identical', ok, detail, times))
    return rows


def _pick_input(rng, name, group, num, pick_type):
    """Label_Pick: (num,) float labels; Score_Pick: (num, group) scores (ties included)."""
    if pick_type == 'Label_Pick':
        labels = rng.randint(0, group, num).astype(np.float32)
        if name == 'chan_edge':
            labels[:] = [-1, group, 1.5, np.nan, group - 1]
        return labels
    scores = np.round(rng.rand(num, group) * 4) / 4  # quarter steps: frequent ties
    scores[0] = 0.5  # all tied: the lowest foreground group
    scores[1, 0] = 2.0  # background best: never picked
    return scores.astype(np.float32)


def _op_key(name, op_type, pick_type):
    return '%s.%s' % (name, pick_type or op_type)


def make_channel(mx, store, name, a):
    """CPU results of every op type of case `name` (attributes a) into store."""
    rng = np.random.RandomState(a['seed'])
    shape, group = a['shape'], a['group']
    data = synth_input(store, name + '.data', a['seed'], shape)
    if name == 'chan_edge':
        data = np.round(data)  # integer values: ties between members
        put_input(store, name + '.data', data)
    for i, (op_type, pick_type, _, _) in enumerate(CHANNEL_OPS):
        key = _op_key(name, op_type, pick_type)
        inputs = [data]
        attrs = dict(op_type=op_type, group=group)
        if pick_type:
            inputs.append(_pick_input(rng, name, group, shape[0], pick_type))
            put_input(store, key + '.pick_idx', inputs[1])
            attrs['pick_type'] = pick_type
        out = mx.nd.ChannelOperator(*[mx.nd.array(x) for x in inputs], **attrs)
        out_grad = synth_input(store, key + '.out_grad', a['seed'] * 10 + i, out.shape, -1.0,
                               1.0)
        out, grads = _backward(mx, lambda *x: mx.nd.ChannelOperator(*x, **attrs), inputs,
                               out_grad)
        put_expected(store, key + '.out', out)
        put_expected(store, key + '.data_grad', grads[0])
        if pick_type:
            put_expected(store, key + '.pick_grad', grads[1])


def _channel_call(harness, backward, dims, arrays, result_shape, pick_n, warmup, repeats):
    """One gc_channel_op call; returns (result, pick_grad, times)."""
    data, pick_idx, fwd_out, out_grad = arrays
    got = np.zeros(result_shape, np.float32)
    pick_grad = np.zeros(max(pick_n, 1), np.float32)
    times = np.zeros(max(repeats, 1), np.float32)
    none = ctypes.c_void_p(None)
    harness.call('gc_channel_op', ctypes.c_int(backward), dims, _ptr(data),
                 none if pick_idx is None else _ptr(pick_idx),
                 none if fwd_out is None else _ptr(fwd_out),
                 none if out_grad is None else _ptr(out_grad), _ptr(got), _ptr(pick_grad),
                 ctypes.c_int(warmup), ctypes.c_int(repeats), _ptr(times))
    return got, pick_grad[:pick_n], times[:repeats].tolist()


def run_channel(harness, npz, name, a, timing):
    """Every op type of case `name`, forward then backward, on the GPU; result rows."""
    data = np.ascontiguousarray(get_input(npz, name + '.data'))
    num, group = data.shape[0], a['group']
    k = data.shape[1] // group
    spatial = int(np.prod(data.shape[2:], dtype=np.int64))
    warmup, repeats = _repeats(a, timing)
    rows = []
    for op_type, pick_type, fwd_rule, bwd_rule in CHANNEL_OPS:
        key = _op_key(name, op_type, pick_type)
        label = '%s %s' % (name, pick_type or op_type)
        pick_idx = get_input(npz, key + '.pick_idx') if pick_type else None
        dims = (ctypes.c_int64 * 6)(OP_TYPES[op_type], PICK_TYPES.get(pick_type, 0), group,
                                    num, k, spatial)
        out_grad = get_input(npz, key + '.out_grad')
        pick_n = 0 if pick_idx is None else pick_idx.size
        out, _, times = _channel_call(harness, 0, dims, (data, pick_idx, None, None),
                                      out_grad.shape, 0, warmup, repeats)
        rows.append(result(label + ' forward', fwd_rule,
                           *compare(npz, key + '.out', out, fwd_rule), times))
        # backward takes the GPU's own forward output, as the op does on the GPU
        grad, pick_grad, times = _channel_call(harness, 1, dims, (data, pick_idx, out,
                                                                  out_grad),
                                               data.shape, pick_n, warmup, repeats)
        rows.append(result(label + ' backward', bwd_rule,
                           *compare(npz, key + '.data_grad', grad, bwd_rule), times))
        if pick_type:
            got = pick_grad.reshape(pick_idx.shape)
            rows.append(result(label + ' backward pick_grad', 'bit-identical',
                               *compare(npz, key + '.pick_grad', got, 'bit-identical')))
    return rows
