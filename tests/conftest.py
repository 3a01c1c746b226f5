"""Test-session setup, run before any test module imports MXNet.

The tests run MXNet with one OpenMP thread unless OMP_NUM_THREADS is set: the suite's
models are tiny, and several tests compare a run in this process with runs in subprocesses
(distributed workers, resumed training), which are bit-identical only with the same thread
count (a different count changes the rounding of multithreaded reductions, and discrete
steps such as NMS and ROI sampling can then diverge).
"""
import os

os.environ.setdefault('OMP_NUM_THREADS', '1')

# Test modules import mxnet at their top: lib prepares numpy for it first.
import lib  # noqa: E402,F401
