"""NMS entry points: `nms(dets, thresh)` on the CPU and `make_nms(device_id)` that picks the
GPU kernel when it was built (CUDA builds only) and a GPU id is given."""
import numpy as np

from lib.utils.native import import_extension


def _as_dets(dets):
    """(N, >=5) float64 C-contiguous copy of dets, or a one-line error."""
    dets = np.asarray(dets)
    if dets.ndim == 1 and dets.size == 0:
        dets = dets.reshape(0, 5)  # (0,) -> (0, 5)
    if dets.ndim != 2 or dets.shape[1] < 5:
        raise ValueError('nms: dets must have shape (N, 5) [x1, y1, x2, y2, score], got %s'
                         % (dets.shape,))
    dets = np.ascontiguousarray(dets[:, :5], dtype=np.float64)
    if np.isnan(dets).any():
        raise ValueError('nms: dets contain NaN; check the boxes and scores fed to NMS')
    return dets


def _cpu_module():
    return import_extension('lib.nms.cpu_nms')


def gpu_nms_available():
    """True when lib.nms.gpu_nms was compiled (CUDA build)."""
    try:
        from lib.nms import gpu_nms  # noqa: F401
    except ImportError:
        return False
    return True


def nms(dets, thresh, max_keep=None):
    """Greedy NMS on the CPU.

    dets: (N, 5) [x1, y1, x2, y2, score], any float dtype
    thresh: boxes with IoU > thresh ("+1" areas) to a kept higher-scored box are dropped
    max_keep: stop after this many kept boxes (None: no limit); the result is the first
        max_keep entries of the unlimited one
    returns: list of kept row indices by descending score (ties: lower index first);
        [] for empty input.
    """
    dets = _as_dets(dets)
    if dets.shape[0] == 0:
        return []
    if max_keep is not None and int(max_keep) < 1:
        raise ValueError('nms: max_keep must be >= 1 or None, got %r' % (max_keep,))
    return _cpu_module().cpu_nms(dets, float(thresh), 0 if max_keep is None else int(max_keep))


def make_nms(device_id=None):
    """Return an NMS function `fn(dets, thresh) -> list of kept indices`.

    Uses the GPU kernel on `device_id` when lib.nms.gpu_nms was built and device_id is not
    None; otherwise the CPU implementation (identical results up to float32 rounding).
    """
    if device_id is None or not gpu_nms_available():
        _cpu_module()  # fail now, not at the first call, when nothing is built
        return nms
    from lib.nms.gpu_nms import gpu_nms

    def nms_on_gpu(dets, thresh):
        dets = _as_dets(dets)
        if dets.shape[0] == 0:
            return []
        return gpu_nms(dets, float(thresh), int(device_id))

    return nms_on_gpu
