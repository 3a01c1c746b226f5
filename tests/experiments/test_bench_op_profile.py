"""benchmark.py train's operator profile: MXNet profiler records counted on executors whose
operator calls are known, and the table's arithmetic worked out by hand."""
import json

import mxnet as mx
import numpy as np
import pytest

from experiments.fcis.tools.bench import op_profile


def _stats_json(entries):
    section = {name: {'Count': count, 'Total': total, 'Min': 0, 'Max': 0, 'Avg': 0}
               for name, (count, total) in entries.items()}
    return json.dumps({'Time': {'operator': section, 'MXNET_C_API': {}}})


def test_operator_stats_divide_by_the_records_per_run():
    text = _stats_json({'BatchNorm': (8, 3.0), 'Convolution': (4, 10.0)})
    assert op_profile.operator_stats(text, factor=2) == {'BatchNorm': (4.0, 1.5),
                                                         'Convolution': (2.0, 5.0)}
    assert op_profile.operator_stats(json.dumps({'Time': {}})) == {}


def test_per_iteration_leaves_out_convolutions_and_custom_ops():
    stats = {'BatchNorm': (40.0, 20.0), 'Convolution': (80.0, 500.0),
             '_backward_Convolution': (80.0, 900.0), 'Custom': (30.0, 60.0),
             '_backward_PSROIPooling': (20.0, 16.0)}
    assert op_profile.per_iteration(stats, 10) == {'BatchNorm': (4.0, 2.0),
                                                   '_backward_PSROIPooling': (2.0, 1.6)}


def test_op_table_ranks_shares_and_sums_by_hand():
    operators = {'a': (1.0, 0.5), 'b': (2.0, 3.0), 'c': (4.0, 1.0), 'd': (1.0, 0.25)}
    text = op_profile.op_table(operators, iteration_s=0.1, top=2)
    lines = text.splitlines()
    assert lines[2].split() == ['b', '2.0', '3.00', '3.0%']    # 3 ms of 100 ms
    assert lines[3].split() == ['c', '4.0', '1.00', '1.0%']
    assert lines[4] == 'the other 2 operators: 0.75 ms'
    assert lines[5] == ('all operators besides convolutions and custom ops: 4.8 ms of a '
                        'profiled iteration of 100.0 ms')
    assert 'the other' not in op_profile.op_table(operators, iteration_s=0.1, top=4)


def _relu_executor():
    x = mx.sym.Variable('x')
    exe = mx.sym.Activation(x, act_type='relu', name='r').simple_bind(mx.cpu(), x=(2, 3))
    exe.arg_dict['x'][:] = np.arange(6).reshape(2, 3) - 3
    return exe


def test_profiled_runs_are_counted_once_each():
    """Three forward passes of a one-operator executor count as three Activation calls once
    the records per run (recording_factor) are divided out."""
    factor = op_profile.recording_factor()
    assert factor in (1, 2)
    exe = _relu_executor()
    with op_profile.profiling():
        for _ in range(3):
            exe.forward(is_train=False)
        mx.nd.waitall()
    stats = op_profile.operator_stats(mx.profiler.dumps(format='json', reset=True), factor)
    assert stats['Activation'][0] == 3
    assert stats['Activation'][1] > 0


def _fit_like_loop(window, batches):
    """An epoch of ``batches`` batches, each one forward of a ReLU executor, with ``window``
    as fit's callback; returns the profiled operator_stats."""
    exe = _relu_executor()
    factor = op_profile.recording_factor()
    window.epoch_begin(0)
    for _ in range(batches):
        exe.forward(is_train=False)
        mx.nd.waitall()
        window.batch_end(None)
    return op_profile.operator_stats(window.stop(), factor)


def test_profile_window_covers_the_batches_after_skip():
    """With skip=2 the profile of 5 batches holds the 3 after the second batch_end."""
    window = op_profile.ProfileWindow(skip=2)
    stats = _fit_like_loop(window, 5)
    assert window.batches == 3 and window.seconds > 0
    assert stats['Activation'][0] == 3
    assert window.stop() == ''  # stopped already
    never = op_profile.ProfileWindow(skip=9)
    never.batch_end(None)
    assert never.stop() == '' and never.batches == 0


def test_profile_window_with_skip_zero_starts_at_the_epoch():
    window = op_profile.ProfileWindow(skip=0)
    stats = _fit_like_loop(window, 2)
    assert window.batches == 2 and stats['Activation'][0] == 2


@pytest.mark.parametrize('top', [1, 3])
def test_op_table_lists_top_rows(top):
    operators = {'x%d' % i: (1.0, float(i)) for i in range(5)}
    rows = op_profile.op_table(operators, 1.0, top=top).splitlines()[2:2 + top]
    assert [r.split()[0] for r in rows] == ['x4', 'x3', 'x2'][:top]


def test_operator_profile_of_real_training_iterations(tmp_path, monkeypatch):
    """Training iterations of the shapes config on 2 tiny generated images: the training
    symbol has two PSROIPooling nodes (class/mask maps and boxes), so the profile counts two
    forward and two backward calls an iteration; convolutions are left out."""
    from experiments.fcis.tools.bench import train
    from fcis.train_end2end import train_roidb

    class TinyData(object):
        def __init__(self, cfg, config, num_images=12, seed=0):  # BenchData's signature
            cfg.dataset.root_path = str(tmp_path)
            cfg.dataset.dataset_path = str(tmp_path / 'shapes')
            self.roidb = train_roidb(cfg)

        def __enter__(self):
            return self.roidb

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(train, 'BenchData', TinyData)
    overrides = ['dataset.num_train_images=2', 'dataset.num_val_images=1', 'SCALES=[[64,96]]']
    profile = train.operator_profile('shapes', runs=3, warmup=2, overrides=overrides)
    operators = profile['operators']
    assert operators['PSROIPooling'][0] == 2 and operators['_backward_PSROIPooling'][0] == 2
    assert not op_profile.EXCLUDED & set(operators)
    assert profile['iteration_s'] > 0
    assert all(ms >= 0 for _, ms in operators.values())
