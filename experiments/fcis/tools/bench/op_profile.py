"""The MXNet operators of a training iteration besides its convolutions and Python custom
ops, from MXNet's profiler: a second run of the same training iterations with the profiler
on over the measured ones (aggregate statistics of the symbolic operators), reduced to
calls and milliseconds per iteration of each operator type, forward and backward apart.

The profiler adds its own cost to every operator, so the times run somewhat above those of
the unprofiled iterations; they show where the 'other forward / backward operators' of the
breakdown go. With MXNet's NaiveEngine the profiler records every operator of an executor
twice (once for the executor, once for the engine); ``recording_factor`` measures how many
records one run makes, and the statistics are divided by it.
"""
import contextlib
import json
import os
import tempfile
import time

import mxnet as mx

from experiments.fcis.tools.bench import common
from lib.utils.table import format_table

# In the convolution table or the custom-op rows of the breakdown already.
EXCLUDED = frozenset(['Convolution', '_backward_Convolution', 'Custom', '_backward_Custom'])


def start_profiling():
    """Start MXNet's profiler collecting aggregate statistics of symbolic operators (its
    earlier statistics cleared first); nothing is written to disk. Stop it with
    ``mx.profiler.set_state('stop')``."""
    path = os.path.join(tempfile.gettempdir(), 'fcis_bench_profile_%d.json' % os.getpid())
    mx.profiler.set_config(profile_symbolic=True, profile_imperative=False,
                           profile_memory=False, profile_api=False, aggregate_stats=True,
                           filename=path)
    mx.profiler.dumps(reset=True)
    mx.profiler.set_state('run')


@contextlib.contextmanager
def profiling():
    """start_profiling() for the block."""
    start_profiling()
    try:
        yield
    finally:
        mx.profiler.set_state('stop')


def operator_stats(stats_json, factor=1):
    """{operator: (calls, total ms)} of the 'operator' section of
    ``mx.profiler.dumps(format='json')``, each divided by ``factor`` (records per run)."""
    section = json.loads(stats_json).get('Time', {}).get('operator', {})
    return {name: (entry['Count'] / float(factor), entry['Total'] / float(factor))
            for name, entry in section.items()}


def recording_factor():
    """Records MXNet's profiler makes of one operator run by an executor (2 with the
    NaiveEngine, 1 with the threaded engines)."""
    x = mx.sym.Variable('x')
    exe = mx.sym.Activation(x, act_type='relu', name='probe').simple_bind(mx.cpu(), x=(1, 4))
    with profiling():
        exe.forward(is_train=False)
        mx.nd.waitall()
    stats = operator_stats(mx.profiler.dumps(format='json', reset=True))
    return max(1, int(round(stats.get('Activation', (1, 0))[0])))


class ProfileWindow(object):
    """fit callback: the profiler runs from the end of batch ``skip`` until ``stop()``;
    ``seconds`` and ``batches`` are the wall time and count of the profiled batches."""

    def __init__(self, skip):
        self.skip, self.seen, self.start, self.seconds, self.batches = int(skip), 0, None, 0.0, 0

    def epoch_begin(self, epoch):
        if self.skip == 0 and self.start is None:
            self._begin()

    def batch_end(self, info):
        self.seen += 1
        if self.seen == self.skip:
            self._begin()

    def _begin(self):
        mx.nd.waitall()
        start_profiling()
        self.start = time.perf_counter()

    def stop(self):
        """Stop profiling; returns the aggregate statistics as JSON text ('' if it never
        started)."""
        if self.start is None:
            return ''
        mx.nd.waitall()
        self.seconds = time.perf_counter() - self.start
        self.batches = self.seen - self.skip
        self.start = None
        mx.profiler.set_state('stop')
        return mx.profiler.dumps(format='json', reset=True)


def per_iteration(stats, iterations):
    """{operator: (calls, ms) per iteration} of operator_stats, without EXCLUDED ones."""
    n = float(iterations)
    return {name: (calls / n, total / n) for name, (calls, total) in stats.items()
            if name not in EXCLUDED}


def op_table(operators, iteration_s, top=10):
    """The ``top`` operators of per_iteration's dict by time as a text table (calls and ms
    per iteration, share of the profiled iteration ``iteration_s``), the others summed in a
    line below it, then all of them."""
    ranked = sorted(operators.items(), key=lambda item: -item[1][1])
    rows = [[name, '%.1f' % calls, '%.2f' % ms, '%.1f%%' % (0.1 * ms / iteration_s)]
            for name, (calls, ms) in ranked[:top]]
    text = format_table(['operator', 'calls/iter', 'ms/iter', 'share'], rows)
    rest = ranked[top:]
    if rest:
        ms = sum(m for _, (_, m) in rest)
        text += '\nthe other %d operators: %.2f ms' % (len(rest), ms)
    total = sum(m for _, (_, m) in ranked)
    text += ('\nall operators besides convolutions and custom ops: %.1f ms of a profiled '
             'iteration of %s ms' % (total, common.ms(iteration_s)))
    return text
