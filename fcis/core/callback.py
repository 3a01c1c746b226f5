"""Training callbacks: progress logging, metrics.jsonl, loss-curve picture, NaN guard.

``fit`` (fcis/core/module.py) calls, on every callback object that has the method:

    epoch_begin(epoch)          before the first batch of 0-based ``epoch``
    batch_end(info)             after every batch (metrics updated, parameters updated)
    epoch_end(info)             after the last batch, after the epoch's checkpoint

``info`` is a :data:`BatchInfo`. :func:`check_finite` is called by ``fit`` itself after
every batch, before the parameter update.
"""
import collections
import json
import math
import os
import time

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lib.utils.atomic import atomic_path, write_text_atomic
from lib.utils.threads import CpuMeter, describe_cpu

from .metric import nonfinite_values

BatchInfo = collections.namedtuple(
    'BatchInfo', 'epoch nbatch eval_metric num_update lr batch_size')
BatchInfo.__doc__ = """epoch: 0-based epoch; nbatch: batches done in this epoch (1-based after
a batch); eval_metric: the EvalMetric; num_update: optimizer updates over the whole run; lr:
learning rate of the last update; batch_size: images per batch (all devices)."""


class NonFiniteLossError(RuntimeError):
    """A metric/loss became NaN or infinite; training stopped before updating parameters."""

    def __init__(self, epoch, nbatch, bad):
        self.epoch, self.nbatch, self.bad = epoch, nbatch, bad
        names = ', '.join('%s=%s' % (n, v) for n, v in bad)
        super(NonFiniteLossError, self).__init__(
            'non-finite training value at epoch %d batch %d: %s; training stopped, the last '
            'checkpoint is intact (lower TRAIN.lr or check the data of this batch)'
            % (epoch, nbatch, names))


def check_finite(eval_metric, epoch, nbatch):
    """Raise NonFiniteLossError if any metric of ``eval_metric`` is NaN/inf (local value)."""
    bad = nonfinite_values(eval_metric)
    if bad:
        raise NonFiniteLossError(epoch, nbatch, bad)


def _format_duration(seconds):
    if not math.isfinite(seconds):
        return '?'
    seconds = int(round(seconds))
    return '%d:%02d:%02d' % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def keep_epochs_before(path, begin_epoch):
    """Rewrite a metrics.jsonl keeping only records of epochs < begin_epoch (resume)."""
    if not os.path.isfile(path):
        return
    with open(path) as f:
        kept = [line for line in f if line.strip() and json.loads(line)['epoch'] < begin_epoch]
    write_text_atomic(path, ''.join(kept))


def read_metrics(path):
    """metrics.jsonl -> list of dicts (one per logged line)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_loss_curves(jsonl_path, png_path):
    """Draw every metric of the 'batch' records against the update count into a PNG.

    One panel per metric; epoch averages (the 'epoch' records) are drawn as dots.
    """
    records = read_metrics(jsonl_path)
    names = []
    for rec in records:
        for name in rec.get('metrics', {}):
            if name not in names:
                names.append(name)
    if not names:
        return None
    cols = min(4, len(names))
    rows = (len(names) + cols - 1) // cols
    fig = Figure(figsize=(4 * cols, 3 * rows))
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for kind, style in (('batch', '-'), ('epoch', 'o')):
            pts = [(r['num_update'], r['metrics'][name]) for r in records
                   if r['type'] == kind and name in r['metrics']]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, style, label=kind)
        ax.set_title(name)
        ax.set_xlabel('update')
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with atomic_path(png_path, suffix='.png') as tmp:
        fig.savefig(tmp, dpi=80)
    return png_path


class TrainingMonitor(object):
    """Every ``frequent`` batches: log speed, lr, ETAs and metrics; append to metrics.jsonl.

    logger: a logging.Logger (lib.utils.logger.create_logger). output_dir: folder of
    metrics.jsonl and loss_curves.png. epoch_size: batches per epoch (for the ETAs).
    Metrics are averaged over the last ``frequent`` batches (the local part of the metric is
    reset after each log line); the epoch line reports the whole-epoch averages.
    """

    def __init__(self, logger, output_dir, frequent, batch_size, epoch_size, begin_epoch,
                 end_epoch):
        self.logger = logger
        self.frequent = max(1, int(frequent))
        self.batch_size = batch_size
        self.epoch_size = epoch_size
        self.end_epoch = end_epoch
        os.makedirs(output_dir, exist_ok=True)
        self.jsonl_path = os.path.join(output_dir, 'metrics.jsonl')
        self.png_path = os.path.join(output_dir, 'loss_curves.png')
        keep_epochs_before(self.jsonl_path, begin_epoch)
        self.tic = self.epoch_tic = time.time()
        self.last_nbatch = 0
        self.cpu = CpuMeter()

    def _write(self, record):
        with open(self.jsonl_path, 'a') as f:
            f.write(json.dumps(record) + '\n')

    def epoch_begin(self, epoch):
        self.tic = self.epoch_tic = time.time()
        self.last_nbatch = 0
        self.cpu.restart()

    def batch_end(self, info):
        if info.nbatch % self.frequent != 0:
            return
        now = time.time()
        batches = info.nbatch - self.last_nbatch
        batch_rate = batches / max(now - self.tic, 1e-9)          # batches per second
        left_epoch = max(self.epoch_size - info.nbatch, 0)
        left_run = left_epoch + max(self.end_epoch - info.epoch - 1, 0) * self.epoch_size
        names, values = info.eval_metric.get()
        names, values = _as_lists(names, values)
        self.logger.info(
            'Epoch[%d] Batch[%d/%d] Speed: %.2f samples/sec lr=%.3g ETA epoch %s run %s\t%s',
            info.epoch, info.nbatch, self.epoch_size, batch_rate * info.batch_size, info.lr,
            _format_duration(left_epoch / batch_rate), _format_duration(left_run / batch_rate),
            '\t'.join('%s=%f' % nv for nv in zip(names, values)))
        self._write({'type': 'batch', 'epoch': info.epoch, 'batch': info.nbatch,
                     'num_update': info.num_update, 'lr': info.lr,
                     'speed': batch_rate * info.batch_size, 'time': now,
                     'metrics': dict(zip(names, map(float, values)))})
        info.eval_metric.reset_local()
        self.tic, self.last_nbatch = now, info.nbatch

    def epoch_end(self, info):
        names, values = _as_lists(*info.eval_metric.get_global())
        elapsed = time.time() - self.epoch_tic
        cpu_percent = self.cpu.percent()
        self.logger.info('Epoch[%d] done in %s (%d batches, %s)\t%s', info.epoch,
                         _format_duration(elapsed), info.nbatch, describe_cpu(cpu_percent),
                         '\t'.join('%s=%f' % nv for nv in zip(names, values)))
        self._write({'type': 'epoch', 'epoch': info.epoch, 'batch': info.nbatch,
                     'num_update': info.num_update, 'lr': info.lr, 'time': time.time(),
                     'seconds': elapsed, 'cpu_percent': cpu_percent,
                     'metrics': dict(zip(names, map(float, values)))})
        plot_loss_curves(self.jsonl_path, self.png_path)


def _as_lists(names, values):
    if not isinstance(names, list):
        return [names], [values]
    return names, values
