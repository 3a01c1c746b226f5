"""GPU NMS cases: the CPU side (``make_nms``, lib.nms CPU NMS) and the GPU side
(``run_nms``, lib/nms/nms_kernel.cu's fcis_gpu_nms through ctypes; NumPy only).

The CPU NMS computes IoUs in float64, the kernel in float32; make_nms drops the boxes of
any pair whose suppression decision differs between the two precisions (IoU within
float32 rounding of the threshold), so the keep lists must be identical.
"""
import ctypes

import numpy as np

from .compare import result
from .store import put_expected, put_input

# name -> attributes; "timed": also measured.
NMS_CASES = {
    'nms_coco': dict(num=3000, thresh=0.3, seed=31, timed=True),  # FCIS test NMS size
    'nms_ties': dict(num=0, thresh=0.5, seed=32, timed=False),     # built by _tie_boxes
    'nms_block_64': dict(num=64, thresh=0.3, seed=33, timed=False),
    'nms_block_65': dict(num=65, thresh=0.3, seed=34, timed=False),
    'nms_one': dict(num=1, thresh=0.3, seed=35, timed=False),
}


def _random_dets(rng, num):
    """(num, 5) boxes in clusters (so that many overlap) on a quarter-pixel grid, scores on a
    1/256 grid (ties)."""
    centers = rng.uniform([0, 0], [1000, 600], (max(1, num // 30), 2))
    c = centers[rng.randint(0, len(centers), num)] + rng.normal(0, 12, (num, 2))
    wh = rng.uniform(16, 240, (num, 2))
    boxes = np.round(np.concatenate([c - wh / 2, c + wh / 2], axis=1) * 4) / 4
    scores = np.round(rng.rand(num, 1) * 256) / 256
    return np.hstack([boxes, scores]).astype(np.float32)


def _tie_boxes():
    """Equal scores (order by index), identical boxes, IoU exactly 0.5 (kept at thresh 0.5),
    a box just over it (suppressed), disjoint boxes."""
    return np.array([[0, 0, 9, 9, 0.9], [0, 0, 9, 9, 0.9], [0, 0, 9, 19, 0.9],
                     [0, 0, 9, 19.5, 0.8], [50, 50, 60, 60, 0.9], [50, 50, 60, 60, 0.7],
                     [100, 100, 100, 100, 0.9], [100, 100, 100, 100, 0.9],
                     [0, 0, 9, 9, 0.95]], np.float32)


def _iou_float32(d):
    """(n, n) IoUs as the kernel computes them (float32, '+1' areas, no FMA)."""
    b = d[:, :4].astype(np.float32)
    w = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    h = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    w, h = w + np.float32(1), h + np.float32(1)
    inter = w * h
    area = (b[:, 2] - b[:, 0] + np.float32(1)) * (b[:, 3] - b[:, 1] + np.float32(1))
    uni = area[:, None] + area[None, :] - inter
    ok = (w > 0) & (h > 0) & (uni > 0)
    return np.where(ok, inter / np.where(uni > 0, uni, np.float32(1)), np.float32(0))


def _iou_float64(d):
    b = d[:, :4].astype(np.float64)
    w = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]) + 1
    h = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]) + 1
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    uni = area[:, None] + area[None, :] - w * h
    return np.where((w > 0) & (h > 0) & (uni > 0), w * h / np.where(uni > 0, uni, 1), 0)


def unambiguous(dets, thresh):
    """dets without the boxes of pairs whose 'IoU > thresh' differs in float32 and float64."""
    differ = (_iou_float32(dets) > np.float32(thresh)) != (_iou_float64(dets) > thresh)
    return dets[~(differ.any(axis=0) | differ.any(axis=1))]


def make_nms(nms, store, name, a):
    """CPU keep list of case `name` (attributes a) into store; nms: lib.nms.nms."""
    rng = np.random.RandomState(a['seed'])
    dets = _tie_boxes() if name == 'nms_ties' else _random_dets(rng, a['num'])
    dets = unambiguous(dets, a['thresh'])
    put_input(store, name + '.dets', dets)
    put_expected(store, name + '.keep', np.asarray(nms(dets, a['thresh']), np.int64))


def _gpu_nms(harness, dets, thresh):
    """lib/nms/gpu_nms.pyx's steps: stable sort by descending score, fcis_gpu_nms on the
    sorted float32 rows, kept positions mapped back to row indices."""
    order = np.argsort(-dets[:, 4], kind='stable')
    rows = np.ascontiguousarray(dets[order], dtype=np.float32)
    keep = np.zeros(len(rows), np.int32)
    num = ctypes.c_int(0)
    harness.call('fcis_gpu_nms', keep.ctypes.data_as(ctypes.c_void_p), ctypes.byref(num),
                 rows.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(len(rows)),
                 ctypes.c_int(rows.shape[1]), ctypes.c_float(thresh), ctypes.c_int(0))
    return order[keep[:num.value]].astype(np.int64)


def run_nms(harness, npz, name, a, timing):
    """GPU keep list of case `name` against the CPU one; timed (the whole host call:
    copies, kernel and the host walk, CUDA events) for timed cases."""
    dets = npz[name + '.dets']
    expected = npz[name + '.keep']
    got = _gpu_nms(harness, dets, a['thresh'])
    times = []
    for i in range(timing['warmup'] + timing['repeats'] if a['timed'] else 0):
        harness.timer_start()
        _gpu_nms(harness, dets, a['thresh'])
        ms = harness.timer_stop()
        if i >= timing['warmup']:
            times.append(ms)
    ok = got.shape == expected.shape and bool(np.all(got == expected))
    detail = '%d boxes, %d kept on the GPU, %d on the CPU%s' % (
        len(dets), len(got), len(expected), '' if ok else ', keep lists differ')
    return [result(name, 'bit-identical', ok, detail, times)]
