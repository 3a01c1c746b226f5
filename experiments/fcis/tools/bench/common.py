"""What the pipeline benchmarks share: configs, symbols with random weights, conv FLOPs,
the measured conv peak of the machine and peak memory measured in a subprocess.

Configs are named 'coco' (ResNet-v1-101, 81 classes, OHEM) and 'shapes' (the small trunk);
both are forced onto one CPU context (the COCO YAML lists 8 GPUs).
"""
import dataclasses
import json
import os
import subprocess
import sys
import time

import mxnet as mx
import numpy as np

from experiments.fcis.tools.bench.timing import median_seconds
from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.minibatch import test_scale
from fcis.core.params import FCISInitializer, load_params
from fcis.symbols import get_test_symbol, get_train_symbol, resnet_v1_trunk

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
CONFIGS = {
    'coco': 'experiments/fcis/cfgs/resnet_v1_101_coco_fcis_end2end_ohem.yaml',
    'shapes': 'experiments/fcis/cfgs/shapes_fcis_end2end.yaml',
}
# the 3x3 convolution whose speed is "the machine's peak": (N, C, H, W) in and C out
PEAK_CONV = (1, 256, 150, 250)


def load_ops():
    """Load the native operators and register the Python CustomOps."""
    from fcis.symbols.ops import ensure_operators
    ensure_operators()


def load_bench_config(name, overrides=()):
    """The config ``name`` ('coco' or 'shapes') on one CPU context."""
    if name not in CONFIGS:
        raise ValueError('unknown benchmark config %r; use one of %s' % (name, sorted(CONFIGS)))
    cfg_file = os.path.join(ROOT, CONFIGS[name])
    return load_config(cfg_file, ['gpus=', 'num_cpu_devices=1'] + list(overrides))


def test_size(cfg):
    """Inference input (H, W) of a config: its test scale (shorter side, max longer side;
    fcis.core.minibatch.test_scale), a landscape image at the largest input the config
    gives (COCO 600x1000, shapes 224x320)."""
    return test_scale(cfg)


def test_symbol(cfg):
    return get_test_symbol(network_args(cfg, is_train=False))


def train_symbol(cfg):
    return get_train_symbol(network_args(cfg, is_train=True))


def random_image(shape, seed=0):
    """(N, 3, H, W) NDArray of noise with the spread of a mean-subtracted image."""
    return mx.nd.array(50.0 * np.random.default_rng(seed).standard_normal(shape))


def random_params(sym, data_shape, trunk_args, seed=0):
    """(arg_params, aux_params) of ``sym`` drawn by FCISInitializer (no file), then the trunk's
    BatchNorm statistics and the heads calibrated on a noise image (calibrate_trunk,
    calibrate_heads). ``trunk_args``: the TrunkArgs of ``sym``."""
    mx.random.seed(seed)
    arg_params, aux_params = load_params(sym, {'data': tuple(data_shape)}, '', 0,
                                         initializer=FCISInitializer())
    image = random_image(data_shape, seed + 1)
    calibrate_trunk(trunk_args, arg_params, aux_params, image)
    calibrate_heads(sym, arg_params, aux_params, image)
    return arg_params, aux_params


CALIBRATION_SIZE = (304, 512)  # largest image the trunk statistics are taken on


def calibrate_trunk(trunk_args, arg_params, aux_params, data):
    """Give every trunk BatchNorm (in place) the mean/variance of its input on ``data`` (an
    NDArray image, cropped to CALIBRATION_SIZE), as a trained trunk's statistics fit its
    activations.

    With FCISInitializer's moving mean 0 / var 1 the random ResNet's activations grow to
    ~1e7 at res5, and training diverges within a few iterations. One forward of the trunk
    in training mode (every BatchNorm normalizing by its batch statistics) gives the inputs
    of all BatchNorms at once; the network then normalizes the same way with the moving
    statistics. (A training graph: an inference bind would fold the BatchNorms into the
    convolutions with their current statistics.)
    """
    height, width = [min(a, b) for a, b in zip(data.shape[2:], CALIBRATION_SIZE)]
    data = data[:, :, :height, :width]
    # unfused: every BatchNorm is its own node, its input an internal output
    trunk = dataclasses.replace(trunk_args, bn_use_global_stats=False, bn_image_stats=False,
                                fuse_bn_relu=False)
    _, conv5 = resnet_v1_trunk(mx.sym.Variable('data'), trunk)
    nodes = json.loads(conv5.tojson())['nodes']
    norms = [(n['name'], nodes[n['inputs'][0][0]]['name'] + '_output')
             for n in nodes if n['op'] == 'BatchNorm']
    internals = conv5.get_internals()
    group = mx.sym.Group([internals[source] for _, source in norms])
    grad_req = {n: 'write' if n == 'data' else 'null' for n in group.list_arguments()}
    exe = group.simple_bind(mx.cpu(), grad_req=grad_req, data=data.shape)
    for name, array in exe.arg_dict.items():
        (data if name == 'data' else arg_params[name]).copyto(array)
    for (norm, _), out in zip(norms, exe.forward(is_train=True)):
        if norm + '_moving_mean' not in aux_params:  # image_norm in the real symbol
            continue
        values = out.asnumpy().astype(np.float64)  # (N, C, h, w)
        aux_params[norm + '_moving_mean'][:] = values.mean(axis=(0, 2, 3)).astype(np.float32)
        aux_params[norm + '_moving_var'][:] = values.var(axis=(0, 2, 3)).astype(np.float32)


# Output spread of the new layers after calibrate_heads (per channel, over the positions of
# the image): RPN scores that rank anchors, box deltas of a few tenths, score maps that
# spread the classes.
HEAD_OUTPUT_STD = {'rpn_cls_score': 1.0, 'rpn_bbox_pred': 0.2, 'fcis_cls_seg': 1.0,
                   'fcis_bbox': 0.2}


def calibrate_heads(sym, arg_params, aux_params, data):
    """Standardize the random last RPN/FCIS layers (in place) so that every output channel
    has mean 0 and std HEAD_OUTPUT_STD on ``data`` (an NDArray image), like a trained net.

    Random heads on a random trunk give RPN deltas that are far too large (proposals
    collapse onto the image border) and class scores without structure, i.e. degenerate
    ROIs and a trivial post-processing. Calibrated, proposals come from all anchor sizes and
    the class scores are spread (every class a candidate: the most expensive case for NMS
    and voting). The layers are 1x1 convolutions, linear in weight and
    bias, so one forward gives the per-channel scale and shift. Returns {layer: std before}.
    """
    internals = sym.get_internals()
    names = list(HEAD_OUTPUT_STD)
    group = mx.sym.Group([internals[n + '_output'] for n in names])
    exe = group.simple_bind(mx.cpu(), grad_req='null', data=data.shape)
    for name, array in exe.arg_dict.items():
        (data if name == 'data' else arg_params[name]).copyto(array)
    for name, array in exe.aux_dict.items():
        aux_params[name].copyto(array)
    before = {}
    for name, out in zip(names, exe.forward(is_train=False)):
        out = out.asnumpy().astype(np.float64)  # (N, C, h, w)
        mean, std = out.mean(axis=(0, 2, 3)), out.std(axis=(0, 2, 3))  # (C,)
        scale = HEAD_OUTPUT_STD[name] / np.maximum(std, 1e-30)
        weight = arg_params[name + '_weight']  # (C, Cin, 1, 1)
        bias = arg_params[name + '_bias']  # (C,)
        weight[:] = weight.asnumpy() * scale.reshape(-1, 1, 1, 1).astype(np.float32)
        bias[:] = ((bias.asnumpy() - mean) * scale).astype(np.float32)
        before[name] = float(out.std())
    return before


def node_input(sym, layer):
    """'<name>_output' of the first input of node ``layer`` (e.g. the trunk feature feeding
    'conv_new_1'), read from the symbol's JSON."""
    nodes = json.loads(sym.tojson())['nodes']
    for node in nodes:
        if node['name'] == layer:
            source = nodes[node['inputs'][0][0]]
            return source['name'] + '_output'
    raise KeyError('the symbol has no layer named %r' % layer)


def conv_flops(sym, data_shape):
    """{conv layer name: multiply-adds x 2} of every Convolution of ``sym`` for input
    ``data_shape`` (N, 3, H, W): 2 * N*Cout*Hout*Wout * (Cin/groups)*Kh*Kw, the weight
    shape (Cout, Cin/groups, Kh, Kw) already holding the groups. The weight is the
    convolution's second input: a parameter, or computed (the depthwise affine of
    resnet_v1.image_norm)."""
    nodes = json.loads(sym.tojson())['nodes']
    convs = [n for n in nodes if n['op'] == 'Convolution']
    internals = sym.get_internals()
    weights = []
    for n in convs:
        source = nodes[n['inputs'][1][0]]
        weights.append(internals[source['name'] if source['op'] == 'null'
                                 else source['name'] + '_output'])
    outputs = [internals[n['name'] + '_output'] for n in convs]
    _, shapes, _ = mx.sym.Group(outputs + weights).infer_shape_partial(data=tuple(data_shape))
    return {n['name']: 2.0 * float(np.prod(out)) * float(np.prod(weight[1:]))
            for n, out, weight in zip(convs, shapes[:len(convs)], shapes[len(convs):])}


def split_flops(flops, head_layers):
    """(trunk FLOPs, head FLOPs): head = the layers named in ``head_layers``."""
    head = sum(v for k, v in flops.items() if k in head_layers)
    return sum(flops.values()) - head, head


def measure_conv_peak(runs, shape=PEAK_CONV):
    """GFLOP/s of a large 3x3, stride 1, pad 1 convolution (C -> C channels) through MXNet:
    the practical peak of this machine with the current OMP_NUM_THREADS."""
    n, c, h, w = shape
    data = mx.sym.Variable('data')
    sym = mx.sym.Convolution(data, num_filter=c, kernel=(3, 3), pad=(1, 1), no_bias=True,
                             name='peak')
    exe = sym.simple_bind(mx.cpu(), data=shape, grad_req='null')
    rng = np.random.default_rng(0)
    exe.arg_dict['data'][:] = rng.standard_normal(shape).astype(np.float32)
    exe.arg_dict['peak_weight'][:] = 0.01 * rng.standard_normal((c, c, 3, 3)).astype(np.float32)

    def forward():
        exe.forward(is_train=False)
        exe.outputs[0].wait_to_read()

    seconds = median_seconds(forward, runs, warmup=2)
    flops = 2.0 * n * c * h * w * c * 9
    return {'shape': list(shape), 'seconds': seconds, 'gflops': flops / 1e9,
            'gflop_per_s': flops / seconds / 1e9}


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB: VmHWM of /proc/self/status, the
    high-water mark of this process's own memory. (ru_maxrss is not usable in a child: Linux
    carries the parent's peak across fork + exec, so every child of a big benchmark process
    would report at least the parent's size.)"""
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0  # kB -> MB
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_memory_subprocess(kind, config, timeout=900):
    """Run ``python -m experiments.fcis.tools.bench.memory <kind> <config>`` and return its peak
    resident memory in MB (each measurement in a fresh process has its own peak)."""
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '2')
    cmd = [sys.executable, '-m', 'experiments.fcis.tools.bench.memory', kind, config]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise RuntimeError('memory measurement %s %s failed: %s' % (kind, config,
                                                                    ' '.join(tail)))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result['wall_s'] = time.perf_counter() - start
    return result


def gb(mb):
    return mb / 1024.0


def ms(seconds):
    """Seconds -> '123.4' milliseconds text."""
    return '%.1f' % (1000.0 * seconds)
