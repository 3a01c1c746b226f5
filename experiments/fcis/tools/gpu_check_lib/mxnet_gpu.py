"""`gpu_check.py run-mxnet`: the same cases through a CUDA MXNet (``mxnet-cu112``) on
mx.gpu(0) -- the project's PSROIPooling / ChannelOperator / SpatialMean library ops (built
with CUDA by ``FCIS_GPU=1 sh init.sh``) against the stored CPU results, lib.nms's GPU NMS,
and one FCIS test forward (shapes config, small trunk, initialized weights) on the GPU
against the CPU.
Skips (exit 3) where MXNet or its GPU is missing.
"""
import os
import time

import numpy as np

from .compare import compare, result
from .mean_cases import MEAN_CASES, run_mean_mxnet
from .ops_cases import CHANNEL_CASES, CHANNEL_OPS, PSROI_CASES, _backward, _op_key
from .store import get_input, get_meta

FORWARD_RTOL = 1e-3  # cuDNN vs oneDNN convolutions: float32 sums in another order


def _timed(mx, fn, timing, timed):
    """fn() once (its result returned), then warm-up and timed calls (wall clock around
    mx.nd.waitall); returns (result, times in ms)."""
    value = fn()
    times = []
    for i in range(timing['warmup'] + timing['repeats'] if timed else 0):
        start = time.perf_counter()
        fn()
        mx.nd.waitall()
        if i >= timing['warmup']:
            times.append(1e3 * (time.perf_counter() - start))
    return value, times


def run_psroi(mx, npz, name, a, timing, ctx):
    data, rois = get_input(npz, name + '.data'), get_input(npz, name + '.rois')
    out_grad = get_input(npz, name + '.out_grad')

    def op(d, r):
        return mx.nd.PSROIPooling(d, r, spatial_scale=a['scale'], output_dim=a['output_dim'],
                                  pooled_size=a['pooled'], group_size=a['group'])

    (out, (data_grad, rois_grad)), times = _timed(
        mx, lambda: _backward(mx, op, [data, rois], out_grad, ctx), timing, a['timed'])
    return [result(name + ' forward (mxnet)', 'bit-identical',
                   *compare(npz, name + '.out', out, 'bit-identical')),
            result(name + ' fwd+bwd (mxnet)', 'psroi-backward',
                   *compare(npz, name + '.data_grad', data_grad, 'psroi-backward',
                            scale_key=name + '.data_grad_abs'), times),
            result(name + ' rois_grad (mxnet)', 'bit-identical',
                   *compare(npz, name + '.rois_grad', rois_grad, 'bit-identical'))]


def run_channel(mx, npz, name, a, timing, ctx):
    data = get_input(npz, name + '.data')
    rows = []
    for op_type, pick_type, fwd_rule, bwd_rule in CHANNEL_OPS:
        key = _op_key(name, op_type, pick_type)
        inputs = [data] + ([get_input(npz, key + '.pick_idx')] if pick_type else [])
        attrs = dict(op_type=op_type, group=a['group'])
        if pick_type:
            attrs['pick_type'] = pick_type
        (out, grads), times = _timed(
            mx, lambda: _backward(mx, lambda *x: mx.nd.ChannelOperator(*x, **attrs), inputs,
                                  get_input(npz, key + '.out_grad'), ctx), timing, a['timed'])
        label = '%s %s (mxnet)' % (name, pick_type or op_type)
        rows.append(result(label + ' forward', fwd_rule, *compare(npz, key + '.out', out,
                                                                  fwd_rule)))
        rows.append(result(label + ' fwd+bwd', bwd_rule,
                           *compare(npz, key + '.data_grad', grads[0], bwd_rule), times))
    return rows


def run_nms(npz, kinds):
    from lib.nms import gpu_nms_available, make_nms
    if not gpu_nms_available():
        return [result('nms (mxnet build)', 'bit-identical', False,
                       'lib.nms.gpu_nms is not built: run `FCIS_GPU=1 sh init.sh`')]
    from .nms_cases import NMS_CASES
    nms = make_nms(0)
    rows = []
    for name in [n for n in NMS_CASES if kinds.get(n) == 'nms']:
        got = np.asarray(nms(npz[name + '.dets'], NMS_CASES[name]['thresh']), np.int64)
        want = npz[name + '.keep']
        ok = got.shape == want.shape and bool(np.all(got == want))
        rows.append(result(name + ' (lib.nms gpu)', 'bit-identical', ok,
                           '%d kept on the GPU, %d on the CPU' % (len(got), len(want))))
    return rows


def fcis_forward(mx, ctx):
    """Outputs of one FCIS test forward (shapes config, small trunk) on ctx; same weights and
    image on every call."""
    from fcis.config import load_config
    from fcis.config.symbol_args import network_args
    from fcis.core.params import load_params
    from fcis.symbols import TEST_DATA_NAMES, TEST_OUTPUT_NAMES, get_test_symbol
    from .native import ROOT
    cfg_path = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
    # one symbol for both devices: the fused BatchNorm + ReLU is a CPU-only operator
    cfg = load_config(cfg_path, ['network.BN_USE_GLOBAL_STATS=True', 'network.FUSE_BN_RELU=False'])
    sym = get_test_symbol(network_args(cfg, is_train=False))
    image = np.random.RandomState(0).randn(1, 3, 224, 320).astype(np.float32)
    mx.random.seed(0)
    np.random.seed(0)
    arg_params, aux_params = load_params(sym, {'data': image.shape})
    mod = mx.mod.Module(sym, data_names=TEST_DATA_NAMES, label_names=None, context=ctx)
    mod.bind(data_shapes=[('data', image.shape), ('im_info', (1, 3))], for_training=False)
    mod.init_params(arg_params=arg_params, aux_params=aux_params)
    im_info = np.array([[224, 320, 1.0]], np.float32)
    mod.forward(mx.io.DataBatch([mx.nd.array(image), mx.nd.array(im_info)]), is_train=False)
    return dict(zip(TEST_OUTPUT_NAMES, [o.asnumpy() for o in mod.get_outputs()]))


def compare_fcis(cpu, gpu):
    """(ok, detail): ROIs matching within 1e-2 px on >= 90% of rows, and on those rows every
    other output within FORWARD_RTOL (relative to the output's largest magnitude)."""
    names = list(cpu)
    same = np.all(np.abs(cpu[names[0]] - gpu[names[0]]) <= 1e-2, axis=1)
    worst = 0.0
    for n in names[1:]:
        c, g = cpu[n][same], gpu[n][same]
        worst = max(worst, float(np.max(np.abs(c - g)) / max(np.max(np.abs(c)), 1e-12)))
    ok = same.mean() >= 0.9 and worst <= FORWARD_RTOL
    return ok, '%d of %d ROIs equal, max relative difference %.2g' % (same.sum(), len(same),
                                                                       worst)


def main(args, skip, finish):
    """run-mxnet; returns the exit code (skip/finish: gpu_check.py's reporters)."""
    try:
        import mxnet as mx
    except ImportError:
        return skip('no MXNet (install mxnet-cu112==1.9.1 for run-mxnet)', args.out)
    if mx.context.num_gpus() == 0:
        return skip('MXNet sees no GPU (CPU wheel or no device)', args.out)
    from lib.ops import load_ops
    load_ops()
    ctx, timing = mx.gpu(0), dict(warmup=args.warmup, repeats=args.repeats)
    rows = []
    with np.load(args.inputs) as npz:
        kinds = get_meta(npz)['cases']
        for name in [n for n in PSROI_CASES if kinds.get(n) == 'psroi']:
            rows += run_psroi(mx, npz, name, PSROI_CASES[name], timing, ctx)
        for name in [n for n in CHANNEL_CASES if kinds.get(n) == 'channel']:
            rows += run_channel(mx, npz, name, CHANNEL_CASES[name], timing, ctx)
        for name in [n for n in MEAN_CASES if kinds.get(n) == 'mean']:
            rows += run_mean_mxnet(mx, npz, name, MEAN_CASES[name], timing, ctx, _timed)
        rows += run_nms(npz, kinds)
    rows.append(result('fcis test forward gpu vs cpu', 'forward', *compare_fcis(
        fcis_forward(mx, mx.cpu()), fcis_forward(mx, ctx))))
    return finish(rows, 'mxnet %s on %s' % (mx.__version__, ctx), args.out)
