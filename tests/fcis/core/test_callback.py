"""TrainingMonitor log lines/JSON/PNG with a fake clock, and the non-finite guard."""
import json
import logging
import re

import matplotlib.image
import mxnet as mx
import numpy as np
import pytest

from fcis.core import callback as cb
from lib.utils.logger import create_logger


class FakeClock(object):
    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now


class PickedLoss(mx.metric.EvalMetric):
    """Mean of output ``index`` (a stand-in for one training loss)."""

    def __init__(self, name, index):
        super(PickedLoss, self).__init__(name, has_global_stats=True)
        self.index = index

    def update(self, labels, preds):
        value = preds[self.index].asnumpy()
        for attr in ('sum_metric', 'global_sum_metric'):
            setattr(self, attr, getattr(self, attr) + float(value.sum()))
        self.num_inst += value.size
        self.global_num_inst += value.size


def make_metric():
    m = mx.metric.CompositeEvalMetric()
    m.add(PickedLoss('LossA', 0))
    m.add(PickedLoss('LossB', 1))
    return m


def run_epoch(monitor, metric, clock, epoch, values, frequent_seconds=0.5, batch_size=2):
    monitor.epoch_begin(epoch)
    for i, (a, b) in enumerate(values):
        clock.now += frequent_seconds
        metric.update(None, [mx.nd.array([a]), mx.nd.array([b])])
        monitor.batch_end(cb.BatchInfo(epoch, i + 1, metric, epoch * len(values) + i + 1,
                                       0.01, batch_size))
    monitor.epoch_end(cb.BatchInfo(epoch, len(values), metric, (epoch + 1) * len(values),
                                   0.01, batch_size))


def test_monitor_logs_speed_eta_json_and_png(tmp_path, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(cb.time, 'time', clock)
    logger = create_logger(str(tmp_path), name='test_callback_monitor', console=False)
    monitor = cb.TrainingMonitor(logger, str(tmp_path), frequent=2, batch_size=2, epoch_size=4,
                                 begin_epoch=0, end_epoch=2)
    metric = make_metric()
    values = [(1.0, 10.0), (3.0, 20.0), (5.0, 30.0), (7.0, 50.0)]
    run_epoch(monitor, metric, clock, 0, values)
    for h in logger.handlers:
        h.flush()
    log = (tmp_path / 'train.log').read_text()
    # 2 batches in 1 s -> 4 samples/s; after batch 2: 2 batches left in the epoch (1 s) and
    # 2 + 4 in the run (3 s)
    assert 'Epoch[0] Batch[2/4] Speed: 4.00 samples/sec lr=0.01 ETA epoch 0:00:01 run 0:00:03' in log
    assert 'Epoch[0] Batch[4/4]' in log and 'ETA epoch 0:00:00 run 0:00:02' in log
    assert re.search(r'Epoch\[0\] done in \S+ \(4 batches, CPU \d+% of \d+%\)', log)
    records = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
    assert [r['type'] for r in records] == ['batch', 'batch', 'epoch']
    assert records[0]['metrics'] == {'LossA': 2.0, 'LossB': 15.0}       # mean of batches 1-2
    assert records[1]['metrics'] == {'LossA': 6.0, 'LossB': 40.0}       # mean of batches 3-4
    assert records[2]['metrics'] == {'LossA': 4.0, 'LossB': 27.5}       # whole epoch
    assert records[2]['cpu_percent'] >= 0
    assert records[1]['num_update'] == 4 and records[0]['speed'] == pytest.approx(4.0)
    image = matplotlib.image.imread(str(tmp_path / 'loss_curves.png'))
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 100


def test_resume_drops_records_of_rerun_epochs(tmp_path, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(cb.time, 'time', clock)
    logger = logging.getLogger('test_callback_quiet')
    metric = make_metric()
    values = [(1.0, 1.0), (2.0, 2.0)]
    monitor = cb.TrainingMonitor(logger, str(tmp_path), 1, 1, 2, 0, 3)
    run_epoch(monitor, metric, clock, 0, values)
    metric.reset()
    run_epoch(monitor, metric, clock, 1, values)            # epoch 1 ran but was not saved
    monitor = cb.TrainingMonitor(logger, str(tmp_path), 1, 1, 2, 1, 3)   # resume at epoch 1
    records = cb.read_metrics(str(tmp_path / 'metrics.jsonl'))
    assert [r['epoch'] for r in records] == [0, 0, 0]


def test_check_finite_names_batch_and_metric():
    metric = make_metric()
    metric.update(None, [mx.nd.array([1.0]), mx.nd.array([2.0])])
    cb.check_finite(metric, 0, 1)                           # finite: no error
    metric.update(None, [mx.nd.array([1.0]), mx.nd.array([np.inf])])
    with pytest.raises(cb.NonFiniteLossError) as err:
        cb.check_finite(metric, 3, 17)
    assert 'epoch 3 batch 17' in str(err.value) and 'LossB=inf' in str(err.value)
    assert 'LossA' not in str(err.value) and err.value.nbatch == 17
