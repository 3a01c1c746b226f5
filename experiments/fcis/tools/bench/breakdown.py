"""Where a training iteration's time goes: the phases of ``fit``'s loop, timed in the
training thread, and every convolution of the symbol timed alone at the batches' most
common input shape (its FLOPs and fraction of the machine's conv peak), in all and for the
convolutions that take the most time (layer_table).

A convolution bound alone reads and writes plain (N, C, H, W) arrays; in the training graph
oneDNN hands its own blocked layouts from operator to operator. The two can differ: the
strided 1x1 res4a_branch1 of the COCO config took 3.3x as long in backward alone (122 ms)
as a slice of every second pixel followed by a stride-1 convolution (37 ms), yet that
rewrite of every strided 1x1 convolution left the whole COCO iteration the same.
A layer's row is then an upper bound, and 'other ... operators' can fall below 0.

With MXNet's NaiveEngine (the CPU default, lib/utils/mxnet_env.py) every operator runs in
the thread that calls it, so the time of ``Module.forward`` is the forward pass itself and
the parts add up to the iteration. With the threaded engine the calls return at once and
each phase shows where the training thread waited instead (noted under the table).

Parts of one mean iteration:
  forward / backward convolutions   the symbol's convolutions, each bound alone
  other forward / backward ops      the pass minus its convolutions and Python custom ops
                                    (listed by operator in op_profile.op_table)
  <custom op>                       each Python CustomOp (forward + backward)
  metrics                           Module.update_metric (reads the outputs into NumPy)
  optimizer update                  ShapeModules.update (the SGD step)
  data wait                         the loader's next() (a prepared NumPy batch)
  bind                              Modules bound for new input shapes
  waiting for the other workers     ``--local-workers``: the barrier of every gradient
                                    exchange (fcis.core.local_group)
  Python between them               the rest of the iteration (the loop, callbacks; with
                                    ``--local-workers`` the gradient copies to and from
                                    the shared file)

With ``--local-workers`` the figures are worker 0's: its iteration is one batch of every
worker's images, and 'optimizer update' holds every step of that batch (one per worker with
default.LOCAL_UPDATE 'each').
"""
import collections
import json
from unittest import mock

import mxnet as mx

from experiments.fcis.tools.bench import common
from experiments.fcis.tools.bench.timing import median_seconds
from fcis.core import shape_cache
from fcis.core.params import INPUT_NAMES
from lib.utils.table import format_table

# (part name, class, method) timed in the training thread
PHASES = [
    ('forward', mx.mod.Module, 'forward'),
    ('backward', mx.mod.Module, 'backward'),
    ('metrics', mx.mod.Module, 'update_metric'),
    ('optimizer update', shape_cache.ShapeModules, 'update'),
    ('bind', shape_cache.ShapeModules, '_bind'),
]


def conv_nodes(sym):
    """[(name, attrs, input name)] of the symbol's Convolution nodes, in graph order."""
    nodes = json.loads(sym.tojson())['nodes']
    return [(n['name'], n['attrs'], nodes[n['inputs'][0][0]]['name'])
            for n in nodes if n['op'] == 'Convolution']


def gradient_inputs(sym, fixed_params):
    """Names of the Convolution nodes whose input carries a gradient: a trained parameter
    (an argument neither in fcis.core.params.INPUT_NAMES nor in ``fixed_params``) lies
    upstream of it. Below the trained layers (the image; a frozen conv1 and res2) there is
    no input gradient to compute."""
    trained = set(sym.list_arguments()) - set(INPUT_NAMES) - set(fixed_params)
    nodes = json.loads(sym.tojson())['nodes']
    carries = []
    for node in nodes:
        carries.append(node['name'] in trained if node['op'] == 'null'
                       else any(carries[entry[0]] for entry in node['inputs']))
    return {n['name'] for n in nodes if n['op'] == 'Convolution' and carries[n['inputs'][0][0]]}


def training_conv_gflop(sym, data_shape, fixed_params):
    """{name: (forward GFLOP, backward GFLOP)} of each Convolution of ``sym`` at
    ``data_shape``: backward = the weight gradient (none for a layer in ``fixed_params``)
    + the input gradient where it carries one (gradient_inputs), each as many FLOPs as the
    forward."""
    flops = common.conv_flops(sym, data_shape)
    with_input = gradient_inputs(sym, fixed_params)
    result = {}
    for name, _, _ in conv_nodes(sym):
        trained = name + '_weight' not in fixed_params
        gradients = int(trained) + int(name in with_input)
        result[name] = (flops[name] / 1e9, gradients * flops[name] / 1e9)
    return result


def _conv_attrs(attrs):
    """Convolution keyword arguments from a JSON node's string attributes."""
    keep = ('kernel', 'stride', 'pad', 'dilate', 'num_filter', 'num_group', 'no_bias')
    return {k: v for k, v in attrs.items() if k in keep}


def time_convolutions(sym, data_shape, fixed_params=(), runs=5):
    """{name: (forward s, backward s)} of each Convolution of ``sym`` bound alone at the
    input shapes that ``data_shape`` (N, 3, H, W) gives it, on random data.

    Backward computes the weight gradient (none for a layer in ``fixed_params``) and the
    input gradient where it carries one (gradient_inputs); a layer with neither gets no
    backward."""
    with_input = gradient_inputs(sym, fixed_params)
    internals = sym.get_internals()
    nodes = conv_nodes(sym)
    inputs = [internals[source + '_output'] if source != 'data' else internals['data']
              for _, _, source in nodes]
    _, in_shapes, _ = mx.sym.Group(inputs).infer_shape_partial(data=tuple(data_shape))
    times = {}
    for (name, attrs, source), shape in zip(nodes, in_shapes):
        conv = mx.sym.Convolution(mx.sym.Variable('x'), name='c', **_conv_attrs(attrs))
        frozen = name + '_weight' in fixed_params
        req = {a: 'null' if frozen else 'write' for a in conv.list_arguments()}
        req['x'] = 'write' if name in with_input else 'null'
        exe = conv.simple_bind(mx.cpu(), x=tuple(shape), grad_req=req)
        for array in exe.arg_arrays:
            array[:] = mx.nd.random.normal(0, 0.1, array.shape)
        out_grad = mx.nd.ones(exe.outputs[0].shape)

        def forward():
            exe.forward(is_train=True)
            exe.outputs[0].wait_to_read()

        def backward():
            exe.backward(out_grad)
            mx.nd.waitall()

        fwd = median_seconds(forward, runs, warmup=1)
        bwd = (0.0 if frozen and name not in with_input
               else median_seconds(backward, runs, warmup=1))
        times[name] = (fwd, bwd)
    return times


def conv_summary(sym, data_shape, fixed_params, runs=5):
    """Forward and backward convolution seconds and FLOPs at ``data_shape``: a dict with
    'forward_s', 'backward_s', 'forward_gflop', 'backward_gflop' (training_conv_gflop),
    'data_shape', and 'layers':
    the same four figures of each convolution, {'name', 'forward_s', ...}, in graph order."""
    times = time_convolutions(sym, data_shape, fixed_params, runs)
    gflop = training_conv_gflop(sym, data_shape, fixed_params)
    layers = []
    for name, _, _ in conv_nodes(sym):
        forward_s, backward_s = times[name]
        layers.append({'name': name, 'forward_s': forward_s, 'backward_s': backward_s,
                       'forward_gflop': gflop[name][0], 'backward_gflop': gflop[name][1]})
    summary = {key: sum(layer[key] for layer in layers)
               for key in ('forward_s', 'backward_s', 'forward_gflop', 'backward_gflop')}
    summary.update(data_shape=list(data_shape), layers=layers)
    return summary


def layer_table(convs, peak_gflop_per_s, top=10):
    """The ``top`` convolutions of a conv_summary by forward + backward time as a text
    table (each pass's ms, GFLOP/s and fraction of the conv peak), the others summed in
    one line below it."""
    layers = sorted(convs['layers'], key=lambda c: -(c['forward_s'] + c['backward_s']))
    total = convs['forward_s'] + convs['backward_s']

    def pass_cells(seconds, gflop):
        if seconds <= 0:
            return [common.ms(seconds), '', '']
        rate = gflop / seconds
        return [common.ms(seconds), '%.0f' % rate, '%.0f%%' % (100.0 * rate / peak_gflop_per_s)]

    rows = [[c['name']] + pass_cells(c['forward_s'], c['forward_gflop'])
            + pass_cells(c['backward_s'], c['backward_gflop'])
            + ['%.1f%%' % (100.0 * (c['forward_s'] + c['backward_s']) / total)]
            for c in layers[:top]]
    text = format_table(['convolution', 'fwd ms', 'GFLOP/s', 'of peak', 'bwd ms', 'GFLOP/s',
                         'of peak', 'of conv time'], rows)
    rest = layers[top:]
    if rest:
        seconds = sum(c['forward_s'] + c['backward_s'] for c in rest)
        text += '\nthe other %d convolutions: %s ms (%.1f%% of conv time)' % (
            len(rest), common.ms(seconds), 100.0 * seconds / total)
    return text


def most_common_shape(shapes):
    """The most frequent of a list of shape tuples (the first seen among equals)."""
    counts = collections.Counter(shapes)
    best = max(counts.values())
    return next(s for s in shapes if counts[s] == best)


def parts(result):
    """[(part, seconds per iteration)] of a train result with 'phases_s', 'custom_ops_s',
    'convs' (conv_summary) and 'iterations'; the last part is what the others leave."""
    n = float(result['iterations'])
    phase = {k: v / n for k, v in result['phases_s'].items()}
    custom = {k: v / n for k, v in result['custom_ops_s'].items()}
    convs = result['convs']
    custom_fwd = sum(v / n for k, v in result['custom_forward_s'].items())
    rows = [('forward convolutions', convs['forward_s']),
            ('backward convolutions', convs['backward_s']),
            ('other forward operators', phase['forward'] - convs['forward_s'] - custom_fwd),
            ('other backward operators', phase['backward'] - convs['backward_s']
             - (sum(custom.values()) - custom_fwd))]
    rows += [('%s (Python custom op)' % k, v) for k, v in custom.items()]
    rows += [('metrics', phase['metrics']), ('optimizer update', phase['optimizer update']),
             ('data wait', result['data_wait_share'] * result['iteration_mean_s']),
             ('bind', phase['bind'])]
    if result.get('workers', 1) > 1:
        rows.append(('waiting for the other workers',
                     result['barrier_share'] * result['iteration_mean_s']))
    rows.append(('Python between them', result['iteration_mean_s'] - sum(v for _, v in rows)))
    return rows


def table(result, peak_gflop_per_s):
    """The breakdown of one train result as a text table."""
    convs = result['convs']
    mean = result['iteration_mean_s']
    gflop = {'forward convolutions': convs['forward_gflop'],
             'backward convolutions': convs['backward_gflop']}
    rows, negative = [], []
    for name, seconds in parts(result):
        if seconds < 0 and name.startswith('other '):
            negative.append(name)
        row = [name, common.ms(seconds), '%.1f%%' % (100.0 * seconds / mean), '', '', '']
        if name in gflop and seconds > 0:
            rate = gflop[name] / seconds
            row[3:] = ['%.2f' % gflop[name], '%.0f' % rate,
                       '%.0f%%' % (100.0 * rate / peak_gflop_per_s)]
        rows.append(row)
    rows.append(['iteration (mean)', common.ms(mean), '100%', '', '', ''])
    text = format_table(['part', 'ms/iter', 'share', 'GFLOP', 'GFLOP/s', 'of peak'], rows)
    notes = ['convolutions timed alone at input %s; conv peak %.0f GFLOP/s; CPU %.0f%% of '
             '%d%% over the measured iterations' % (
                 'x'.join(map(str, convs['data_shape'])), peak_gflop_per_s,
                 result['cpu_percent'], 100 * result['usable_cores'])]
    if negative:
        notes.append('%s below 0: the convolutions timed alone took longer than in the '
                     'training graph, so their rows are an upper bound there' % ' and '.join(
                         "'%s'" % name for name in negative))
    if result.get('engine') != 'NaiveEngine':
        notes.append('engine %s runs operators asynchronously: the phases show where the '
                     'training thread waited, not where the work ran' % (
                         result.get('engine') or 'ThreadedEnginePerDevice'))
    return text + '\n' + '\n'.join(notes)


def timed_phases(watch):
    """mock.patch objects wrapping every PHASES method with ``watch`` (start them)."""
    return [mock.patch.object(cls, method, watch.wrap(name, getattr(cls, method)))
            for name, cls, method in PHASES]
