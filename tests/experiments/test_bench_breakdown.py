"""benchmark.py train's breakdown: conv FLOPs and timings of a hand-made symbol, the parts'
arithmetic."""
import mxnet as mx
import pytest

from experiments.fcis.tools.bench import breakdown


def _two_convs():
    data = mx.sym.Variable('data')
    a = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name='a')
    b = mx.sym.Convolution(mx.sym.relu(a, name='r'), num_filter=2, kernel=(1, 1), stride=(2, 2),
                           no_bias=True, name='b')
    return mx.sym.sum(b)


def test_conv_flops_and_backward_counts_by_hand():
    sym = _two_convs()
    summary = breakdown.conv_summary(sym, (1, 3, 8, 8), fixed_params=set(), runs=1)
    flops_a = 2.0 * 4 * 8 * 8 * 3 * 3 * 3        # 3 -> 4 channels, 3x3, 8x8 out
    flops_b = 2.0 * 2 * 4 * 4 * 4                # 4 -> 2 channels, 1x1, 4x4 out
    assert summary['forward_gflop'] == pytest.approx((flops_a + flops_b) / 1e9)
    # 'a' reads the image: weight gradient only; 'b': weight and input gradients
    assert summary['backward_gflop'] == pytest.approx((flops_a + 2 * flops_b) / 1e9)
    assert summary['forward_s'] > 0 and summary['backward_s'] > 0
    fixed = breakdown.conv_summary(sym, (1, 3, 8, 8), fixed_params={'a_weight'}, runs=1)
    assert fixed['backward_gflop'] == pytest.approx(2 * flops_b / 1e9)
    layers = {c['name']: c for c in fixed['layers']}
    assert [c['name'] for c in fixed['layers']] == ['a', 'b']
    assert layers['a']['forward_gflop'] == pytest.approx(flops_a / 1e9)
    assert layers['a']['backward_gflop'] == 0 and layers['a']['backward_s'] == 0
    assert layers['b']['backward_gflop'] == pytest.approx(2 * flops_b / 1e9)
    assert fixed['forward_s'] == pytest.approx(layers['a']['forward_s'] + layers['b']['forward_s'])


def test_no_input_gradient_below_the_trained_layers():
    """A frozen first conv (weight and bias) leaves nothing upstream of 'b' to train: 'b'
    computes its weight gradient only; with the bias trained, its input gradient too."""
    sym = _two_convs()
    assert breakdown.gradient_inputs(sym, set()) == {'b'}
    assert breakdown.gradient_inputs(sym, {'a_weight'}) == {'b'}   # a_bias still trains
    assert breakdown.gradient_inputs(sym, {'a_weight', 'a_bias'}) == set()
    flops_b = 2.0 * 2 * 4 * 4 * 4
    gflop = breakdown.training_conv_gflop(sym, (1, 3, 8, 8), {'a_weight', 'a_bias'})
    assert gflop['a'][1] == 0 and gflop['b'][1] == pytest.approx(flops_b / 1e9)
    everything = {'a_weight', 'a_bias', 'b_weight'}
    assert breakdown.training_conv_gflop(sym, (1, 3, 8, 8), everything)['b'][1] == 0
    summary = breakdown.conv_summary(sym, (1, 3, 8, 8), {'a_weight', 'a_bias'}, runs=1)
    layers = {c['name']: c for c in summary['layers']}
    assert layers['a']['backward_s'] == 0 and layers['b']['backward_s'] > 0


def _layer(name, forward_s, backward_s, gflop):
    return {'name': name, 'forward_s': forward_s, 'backward_s': backward_s,
            'forward_gflop': gflop, 'backward_gflop': 2 * gflop}


def test_layer_table_ranks_by_time_and_sums_the_rest():
    layers = [_layer('small', 0.001, 0.002, 0.01), _layer('big', 0.010, 0.030, 0.5),
              _layer('mid', 0.004, 0.0, 0.2), _layer('tiny', 0.0005, 0.0005, 0.001)]
    convs = {'layers': layers, 'forward_s': 0.0155, 'backward_s': 0.0325}
    lines = breakdown.layer_table(convs, peak_gflop_per_s=100.0, top=2).splitlines()
    assert lines[0].split()[0] == 'convolution'
    big = lines[2].split()
    # 0.5 GFLOP in 10 ms = 50 GFLOP/s = 50% of 100; 1 GFLOP backward in 30 ms = 33 GFLOP/s
    assert big == ['big', '10.0', '50', '50%', '30.0', '33', '33%', '83.3%']
    mid = lines[3].split()
    assert mid[:4] == ['mid', '4.0', '50', '50%'] and mid[4:] == ['0.0', '8.3%']
    # small (3 ms) and tiny (1 ms) of 48 ms
    assert lines[4] == 'the other 2 convolutions: 4.0 ms (8.3% of conv time)'


def test_conv_nodes_names_inputs():
    assert [(n, s) for n, _, s in breakdown.conv_nodes(_two_convs())] == [
        ('a', 'data'), ('b', 'r')]


def test_most_common_shape_prefers_first_among_equals():
    assert breakdown.most_common_shape([(1, 2), (3, 4), (3, 4), (1, 2), (5, 6)]) == (1, 2)
    assert breakdown.most_common_shape([(5, 6), (3, 4), (3, 4)]) == (3, 4)


def test_parts_add_up_to_the_iteration():
    result = {
        'iterations': 10, 'iteration_mean_s': 0.2, 'data_wait_share': 0.05,
        'phases_s': {'forward': 0.8, 'backward': 0.9, 'metrics': 0.05,
                     'optimizer update': 0.1, 'bind': 0.0},
        'custom_ops_s': {'proposal': 0.1, 'ohem': 0.05},
        'custom_forward_s': {'proposal': 0.09, 'ohem': 0.04},
        'convs': {'forward_s': 0.03, 'backward_s': 0.05},
    }
    parts = dict(breakdown.parts(result))
    assert parts['other forward operators'] == pytest.approx(0.08 - 0.03 - 0.013)
    assert parts['other backward operators'] == pytest.approx(0.09 - 0.05 - 0.002)
    assert parts['proposal (Python custom op)'] == pytest.approx(0.01)
    assert parts['data wait'] == pytest.approx(0.01)
    assert sum(parts.values()) == pytest.approx(0.2)
    # the passes hold the convolutions and custom ops: the rest is what the phases leave
    assert parts['Python between them'] == pytest.approx(0.2 - 0.08 - 0.09 - 0.005 - 0.01 - 0.01)


def test_conv_flops_of_grouped_and_computed_weight_convolutions():
    """A 3x3 convolution with a weight parameter, a grouped one, and the depthwise affine of
    image_norm (its weight computed from gamma): FLOPs by hand."""
    from experiments.fcis.tools.bench import common
    from fcis.symbols.resnet_v1 import image_norm
    data = mx.sym.Variable('data')
    a = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name='a')
    g = mx.sym.Convolution(a, num_filter=6, num_group=2, kernel=(1, 1), name='g')
    sym = image_norm(g, 'n', 6)
    flops = common.conv_flops(sym, (1, 3, 8, 10))
    assert flops == pytest.approx({'a': 2.0 * 4 * 8 * 10 * 3 * 3 * 3,
                                   'g': 2.0 * 6 * 8 * 10 * 2,     # 4 inputs in 2 groups
                                   'n': 2.0 * 6 * 8 * 10})        # one weight per channel


def test_parts_of_a_worker_show_the_barrier_wait():
    result = {
        'iterations': 4, 'iteration_mean_s': 0.25, 'data_wait_share': 0.0, 'workers': 2,
        'barrier_share': 0.1,
        'phases_s': {'forward': 0.4, 'backward': 0.4, 'metrics': 0.0,
                     'optimizer update': 0.04, 'bind': 0.0},
        'custom_ops_s': {}, 'custom_forward_s': {},
        'convs': {'forward_s': 0.05, 'backward_s': 0.05},
    }
    parts = dict(breakdown.parts(result))
    assert parts['waiting for the other workers'] == pytest.approx(0.025)
    assert parts['Python between them'] == pytest.approx(0.25 - 0.1 - 0.1 - 0.01 - 0.025)
    assert 'waiting for the other workers' not in dict(breakdown.parts(dict(result, workers=1)))


def test_a_part_below_zero_gets_a_note():
    """Convolutions timed alone slower than the backward pass in the graph: the remainder
    is negative, and one note line says what that means."""
    result = {
        'iterations': 2, 'iteration_mean_s': 1.0, 'data_wait_share': 0.0,
        'phases_s': {'forward': 0.8, 'backward': 1.0, 'metrics': 0.0,
                     'optimizer update': 0.0, 'bind': 0.0},
        'custom_ops_s': {}, 'custom_forward_s': {},
        'convs': {'forward_s': 0.3, 'backward_s': 0.6, 'forward_gflop': 3.0,
                  'backward_gflop': 6.0, 'data_shape': (1, 3, 8, 8)},
        'cpu_percent': 190.0, 'usable_cores': 2, 'engine': 'NaiveEngine',
    }
    parts = dict(breakdown.parts(result))
    assert parts['other backward operators'] == pytest.approx(-0.1)
    text = breakdown.table(result, peak_gflop_per_s=20.0)
    notes = [line for line in text.splitlines() if 'below 0' in line]
    assert notes == ["'other backward operators' below 0: the convolutions timed alone took "
                     "longer than in the training graph, so their rows are an upper bound there"]
    fine = dict(result, iteration_mean_s=1.2, phases_s=dict(result['phases_s'], backward=1.4))
    assert 'below 0' not in breakdown.table(fine, peak_gflop_per_s=20.0)
