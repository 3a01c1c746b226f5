"""GPU mask voting cases of the roi mode (lib.masks.voting) -- kept apart from the rest
because mask voting's semantics may change: everything that knows fcis_gpu_vote_region is in
this file; the release mode's soft vote is in voting_soft_cases.py.

CPU side (``make_voting``): lib.masks.mask_voting_cython.vote_region on each case's
members, weights and region. GPU side (``run_voting``): lib/masks/mask_voting_kernel.cu's
fcis_gpu_vote_region (host pointers) through ctypes, the same arguments. Both sides share
mask_voting_kernel.h's arithmetic (products unfused), so the uint8 crops must be equal.
"""
import ctypes

import numpy as np

from .compare import compare, result
from .store import put_expected, put_input

IMAGE_H, IMAGE_W = 600, 1000  # a COCO test image
NUM_ROIS, MASK_SIZE = 300, 21
# name -> (number of members, region kind, binarize_inputs); "timed": also measured.
VOTING_CASES = {
    'vote_roi_region': dict(members=12, region='roi', binarize=True, timed=False),
    'vote_image_region': dict(members=20, region='image', binarize=True, timed=True),
    'vote_soft_inputs': dict(members=8, region='roi', binarize=False, timed=False),
    'vote_one_pixel': dict(members=5, region='pixel', binarize=True, timed=False),
    'vote_one_member': dict(members=1, region='roi', binarize=True, timed=False),
}
BINARY_THRESH = 0.4


def _shared_inputs(rng):
    """masks (NUM_ROIS, S, S) float32 in [0, 1], boxes (NUM_ROIS, 4) float32 in the image,
    some crossing its border."""
    masks = rng.rand(NUM_ROIS, MASK_SIZE, MASK_SIZE).astype(np.float32)
    w = rng.uniform(10, 400, NUM_ROIS)
    h = rng.uniform(10, 300, NUM_ROIS)
    x1 = rng.uniform(-40, IMAGE_W - w + 40)
    y1 = rng.uniform(-40, IMAGE_H - h + 40)
    return masks, np.stack([x1, y1, x1 + w, y1 + h], axis=1).astype(np.float32)


def _region(kind, extent):
    """(x1, y1, x2, y2) inclusive region of the vote, inside the image."""
    if kind == 'image':
        return 0, 0, IMAGE_W - 1, IMAGE_H - 1
    x1, y1, x2, y2 = (int(v) for v in extent)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(max(x2, x1), IMAGE_W - 1), min(max(y2, y1), IMAGE_H - 1)
    return (x1, y1, x1, y1) if kind == 'pixel' else (x1, y1, x2, y2)


def make_voting(store, seed=41):
    """CPU crops of every case into store (shared masks/extents under "vote.")."""
    from lib.masks.mask_voting_cython import vote_region
    from lib.masks.paste import box_extent
    rng = np.random.RandomState(seed)
    masks, boxes = _shared_inputs(rng)
    extents = box_extent(boxes).astype(np.int32)
    put_input(store, 'vote.masks', masks)
    put_input(store, 'vote.extents', extents)
    for name, a in VOTING_CASES.items():
        members = np.sort(rng.choice(NUM_ROIS, a['members'], replace=False)).astype(np.intp)
        weights = rng.uniform(0.05, 1.0, a['members']).astype(np.float32)
        region = np.array(_region(a['region'], extents[members[0]]), np.int32)
        crop = vote_region(masks, extents, members, weights, *(int(v) for v in region),
                           BINARY_THRESH, a['binarize'])
        put_input(store, name + '.members', members.astype(np.int64))
        put_input(store, name + '.weights', weights)
        put_input(store, name + '.region', region)
        put_expected(store, name + '.crop', np.asarray(crop, np.uint8))


def gpu_vote(harness, entry, dtype, masks, extents, members, weights, region, binarize):
    """The host entry point `entry` (fcis_gpu_vote_region: uint8 votes, fcis_gpu_vote_soft:
    float64 sums) on device 0 -> (ry2-ry1+1, rx2-rx1+1) array of dtype.

    masks: (N, S, S) float32; extents: (N, 4) int32; members: (M,) int64; weights: (M,)
    float32; region: (4,) [x1, y1, x2, y2] inclusive."""
    x1, y1, x2, y2 = (int(v) for v in region)
    out = np.zeros((y2 - y1 + 1, x2 - x1 + 1), dtype)
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    harness.call(entry, ptr(out), ptr(masks), ctypes.c_int(masks.shape[0]),
                 ctypes.c_int(masks.shape[1]), ctypes.c_int(masks.shape[2]), ptr(extents),
                 ptr(members), ptr(weights), ctypes.c_int(len(members)), ctypes.c_int(x1),
                 ctypes.c_int(y1), ctypes.c_int(x2), ctypes.c_int(y2),
                 ctypes.c_float(BINARY_THRESH), ctypes.c_int(int(binarize)), ctypes.c_int(0))
    return out


def timed_ms(harness, call, timing):
    """Milliseconds of `repeats` calls of call() after `warmup` untimed ones, each the whole
    host call (copies + kernel) between CUDA events."""
    times = []
    for i in range(timing['warmup'] + timing['repeats']):
        harness.timer_start()
        call()
        ms = harness.timer_stop()
        if i >= timing['warmup']:
            times.append(ms)
    return times


def run_voting(harness, npz, timing):
    """Every voting case on the GPU against the CPU crops; result rows. Timed cases time the
    whole host call (copies + kernel, CUDA events)."""
    masks = np.ascontiguousarray(npz['vote.masks'])
    extents = np.ascontiguousarray(npz['vote.extents'])
    rows = []
    for name, a in VOTING_CASES.items():
        args = (harness, 'fcis_gpu_vote_region', np.uint8, masks, extents,
                np.ascontiguousarray(npz[name + '.members']),
                np.ascontiguousarray(npz[name + '.weights']), npz[name + '.region'],
                a['binarize'])
        got = gpu_vote(*args)
        times = timed_ms(harness, lambda: gpu_vote(*args), timing) if a['timed'] else []
        rows.append(result(name, 'bit-identical',
                           *compare(npz, name + '.crop', got, 'bit-identical'), times))
    return rows
