"""Thread defaults. MXNet (and OpenMP) read OMP_NUM_THREADS when first loaded and
otherwise use only half of the cores, so the project sets it before MXNet is imported."""
import os


def set_default_threads():
    """Set OMP_NUM_THREADS to the number of usable cores unless the user set it.

    Returns the value in effect. Has no effect on an MXNet that is already loaded, so the
    project imports ``lib`` before ``mxnet`` at every entry point.
    """
    if not os.environ.get('OMP_NUM_THREADS'):
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        os.environ['OMP_NUM_THREADS'] = str(cores)
    return int(os.environ['OMP_NUM_THREADS'])
