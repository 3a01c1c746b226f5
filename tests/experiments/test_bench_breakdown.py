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
