"""Test-time post-processing of FCIS detections: per-class NMS and mask voting.

This is the project's voting (TEST.MASK_VOTE_MODE: roi): votes stay inside the kept ROI and
the ROI is the box. The release's (the default) is lib.masks.voting_release.

Algorithm of `mask_voting` (the kept boxes and scores are those of plain NMS; voting only
changes the masks):

  1. For every foreground class j = 1..C-1, the candidates are the ROIs with
     scores[:, j] > score_thresh. Greedy NMS (IoU > nms_thresh suppressed) on the candidate
     boxes with their class-j scores gives the kept ROIs, by descending score.
  2. Over all classes, only the max_per_image kept detections with the highest scores stay
     (ties: lower class, then earlier in its class, first).
  3. For a kept ROI k of class j, the voters are the candidates i of class j with box IoU
     >= merge_thresh to k (k itself always votes). Each voter's S x S mask is resized
     bilinearly to its own integer box extent (as if pasted into the image) and, when
     binarize_inputs (default, as in FCIS), binarized at binary_thresh. Inside k's extent
     clipped to the image, the voters are averaged with weights scores[i, j] and the average
     is binarized at binary_thresh: that is the detection's mask.

`mask_nms` is the same without voting (TEST.USE_MASK_MERGE = False): each kept ROI's own
mask, resized to its extent and binarized.

Masks are returned as crops: the detection [x1, y1, x2, y2, score] of dets[j][n] owns
masks[j][n], a uint8 array covering `mask_region(dets[j][n, :4], im_h, im_w)`; use
`crops_to_full` / `crops_to_rles` for image-sized masks or COCO RLEs.
"""
import functools

import numpy as np

from lib.boxes import bbox_overlaps
from lib.masks.paste import box_extent, clip_extent
from lib.masks.rle import crop_run_lengths, encode_runs
from lib.masks.voting_numpy import vote_region_numpy
from lib.nms import nms as cpu_nms
from lib.utils.native import import_extension
from lib.utils.ranking import descending_order


def _backend_function(backend, name, numpy_twin):
    """The compiled ``name`` of lib.masks.mask_voting_cython ('cython') or its NumPy twin."""
    if backend == 'numpy':
        return numpy_twin
    if backend != 'cython':
        raise ValueError("mask voting: backend must be 'cython', 'numpy' or 'gpu[:N]', got %r"
                         % (backend,))
    return getattr(import_extension('lib.masks.mask_voting_cython'), name)


def _gpu_device(backend):
    """Device id of a 'gpu' / 'gpu:N' backend name, None for other names."""
    if not isinstance(backend, str) or not (backend == 'gpu' or backend.startswith('gpu:')):
        return None
    try:
        return int(backend[4:]) if backend != 'gpu' else 0
    except ValueError:
        raise ValueError("mask voting: backend %r: write 'gpu' or 'gpu:N' with a device number"
                         % (backend,))


def _vote_function(backend):
    """vote_region of the backend: 'cython', 'numpy' or 'gpu[:N]' (CUDA builds,
    lib.masks.gpu_mask_voting)."""
    device = _gpu_device(backend)
    if device is not None:
        try:
            vote_gpu = import_extension('lib.masks.gpu_mask_voting').vote_region_gpu
        except ImportError as err:
            raise ImportError("mask voting backend %r: lib.masks.gpu_mask_voting is built only "
                              "where nvcc and a CUDA MXNet exist (FCIS_GPU=1 sh init.sh); use "
                              "the 'cython' backend (TEST.USE_GPU_MASK_MERGE: false)"
                              % (backend,)) from err
        return functools.partial(vote_gpu, device_id=device)
    return _backend_function(backend, 'vote_region', vote_region_numpy)


def mask_region(box, im_h, im_w):
    """(x1, y1, x2, y2) ints: the pixels a detection's mask crop covers (its integer extent
    clipped to the image; empty, x2 < x1 or y2 < y1, when the box lies outside)."""
    return clip_extent(box_extent(box), im_h, im_w)


def _check_inputs(masks, boxes, scores, num_classes, im_h, im_w):
    masks = np.ascontiguousarray(masks, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    if masks.ndim != 3 or boxes.ndim != 2 or boxes.shape[1] != 4 or scores.ndim != 2:
        raise ValueError('mask voting: expected masks (N, S, S), boxes (N, 4), scores (N, C); '
                         'got %s, %s, %s' % (masks.shape, boxes.shape, scores.shape))
    if not masks.shape[0] == boxes.shape[0] == scores.shape[0]:
        raise ValueError('mask voting: masks, boxes and scores must have the same N, got %d, '
                         '%d, %d' % (masks.shape[0], boxes.shape[0], scores.shape[0]))
    if scores.shape[1] != num_classes:
        raise ValueError('mask voting: scores has %d columns but num_classes is %d'
                         % (scores.shape[1], num_classes))
    if im_h < 1 or im_w < 1:
        raise ValueError('mask voting: image size must be >= 1, got %dx%d' % (im_h, im_w))
    return masks, boxes, scores


def _nms_per_class(boxes, scores, num_classes, nms_thresh, score_thresh, nms_fn):
    """Per class j >= 1: (candidate ROI indices (n_c,), kept positions in candidates (n_k,))."""
    result = [(np.zeros(0, np.intp), np.zeros(0, np.intp))]
    for j in range(1, num_classes):
        cand = np.where(scores[:, j] > score_thresh)[0]
        dets = np.hstack([boxes[cand], scores[cand, j:j + 1]])  # (n_c, 5)
        keep = np.asarray(nms_fn(dets, nms_thresh), dtype=np.intp)
        result.append((cand, keep))
    return result


def _limit_per_image(per_class, scores, max_per_image):
    """Drop all but the max_per_image best kept detections over all classes (in place)."""
    if max_per_image is None or max_per_image <= 0:
        return per_class
    cls = np.concatenate([np.full(len(keep), j) for j, (_, keep) in enumerate(per_class)])
    pos = np.concatenate([np.arange(len(keep)) for _, keep in per_class])
    if len(cls) <= max_per_image:
        return per_class
    best = np.concatenate([scores[cand[keep], j] for j, (cand, keep) in enumerate(per_class)])
    chosen = descending_order(best, max_per_image)
    out = []
    for j, (cand, keep) in enumerate(per_class):
        stay = np.sort(pos[chosen][cls[chosen] == j])
        out.append((cand, keep[stay]))
    return out


def _detect(masks, boxes, scores, num_classes, max_per_image, im_h, im_w, nms_thresh,
            merge_thresh, binary_thresh, score_thresh, binarize_inputs, vote, backend, nms_fn):
    if score_thresh < 0:
        raise ValueError('mask voting: score_thresh must be >= 0 (scores are vote weights), '
                         'got %r' % (score_thresh,))
    masks, boxes, scores = _check_inputs(masks, boxes, scores, num_classes, im_h, im_w)
    vote_region = _vote_function(backend)
    extents = box_extent(boxes).reshape(-1, 4)  # (N, 4) int32
    per_class = _nms_per_class(boxes, scores, num_classes, nms_thresh, score_thresh,
                               nms_fn or cpu_nms)
    per_class = _limit_per_image(per_class, scores, max_per_image)
    all_dets, all_masks = [np.zeros((0, 5), np.float32)], [[]]
    for j in range(1, num_classes):
        cand, keep = per_class[j]
        kept = cand[keep]  # (n_k,) ROI indices
        all_dets.append(np.hstack([boxes[kept], scores[kept, j:j + 1]]).astype(np.float32))
        if vote and len(kept):
            overlaps = bbox_overlaps(boxes[kept], boxes[cand])  # (n_k, n_c)
            overlaps[np.arange(len(kept)), keep] = 1.0  # a kept ROI always votes for itself
        crops = []
        for n, roi in enumerate(kept):
            members = cand[overlaps[n] >= merge_thresh] if vote else np.array([roi])
            members = np.ascontiguousarray(members, dtype=np.intp)
            weights = np.ascontiguousarray(scores[members, j], dtype=np.float32)
            x1, y1, x2, y2 = clip_extent(extents[roi], im_h, im_w)
            if x2 < x1 or y2 < y1:
                crops.append(np.zeros((max(0, y2 - y1 + 1), max(0, x2 - x1 + 1)), np.uint8))
                continue
            crops.append(vote_region(masks, extents, members, weights, x1, y1, x2, y2,
                                     float(binary_thresh), bool(binarize_inputs)))
        all_masks.append(crops)
    return all_dets, all_masks


def mask_voting(masks, boxes, scores, num_classes, max_per_image, im_h, im_w, nms_thresh=0.3,
                merge_thresh=0.5, binary_thresh=0.4, score_thresh=1e-3, binarize_inputs=True,
                backend='cython', nms_fn=None):
    """Per-class NMS with mask voting (algorithm in the module docstring).

    masks: (N, S, S) float foreground probabilities of each ROI (its top class's mask)
    boxes: (N, 4) float ROI boxes in image pixels; scores: (N, C) class probabilities
    max_per_image: detections kept over all classes (None or <= 0: no limit)
    nms_fn: NMS function fn(dets, thresh) (default lib.nms.nms; see lib.nms.make_nms)
    backend: voting core, 'cython' (compiled CPU), 'numpy' (reference; the same bits) or
        'gpu' / 'gpu:N' (CUDA builds; its per-pixel code gives the same bits when compiled
        for the CPU, tests/lib/masks/test_mask_voting_gpu_build.py)
    returns: (dets, masks), lists of length C (index 0, background, empty):
        dets[j]: (n_j, 5) float32 [x1, y1, x2, y2, score] by descending score;
        masks[j]: list of n_j uint8 crops covering mask_region(dets[j][n, :4], im_h, im_w).
    """
    return _detect(masks, boxes, scores, num_classes, max_per_image, im_h, im_w, nms_thresh,
                   merge_thresh, binary_thresh, score_thresh, binarize_inputs, True, backend,
                   nms_fn)


def mask_nms(masks, boxes, scores, num_classes, max_per_image, im_h, im_w, nms_thresh=0.3,
             binary_thresh=0.4, score_thresh=1e-3, backend='cython', nms_fn=None):
    """Per-class NMS without voting: each kept ROI keeps its own mask, resized to its extent
    and binarized at binary_thresh. Arguments and result as mask_voting."""
    return _detect(masks, boxes, scores, num_classes, max_per_image, im_h, im_w, nms_thresh,
                   0.0, binary_thresh, score_thresh, True, False, backend, nms_fn)


def _check_crop(det, crop, im_h, im_w):
    x1, y1, x2, y2 = mask_region(det[:4], im_h, im_w)
    shape = (max(0, y2 - y1 + 1), max(0, x2 - x1 + 1))
    if crop.shape != shape:
        raise ValueError('mask crop of shape %s does not match its box %s (expected %s); pass '
                         'the dets and masks returned together by mask_voting'
                         % (crop.shape, det[:4], shape))
    return x1, y1, x2, y2


def crops_to_full(dets, crops, im_h, im_w):
    """Detection mask crops -> image-sized masks.

    dets: (n, >=4) boxes; crops: list of n uint8 crops -> (n, im_h, im_w) uint8.
    """
    full = np.zeros((len(crops), im_h, im_w), dtype=np.uint8)
    for n, crop in enumerate(crops):
        x1, y1, x2, y2 = _check_crop(dets[n], crop, im_h, im_w)
        if crop.size:
            full[n, y1:y2 + 1, x1:x2 + 1] = crop
    return full


def _run_lengths_function(backend):
    # run lengths have no GPU version: a 'gpu' backend encodes them with the compiled CPU code
    return _backend_function('cython' if _gpu_device(backend) is not None else backend,
                             'crop_run_lengths', crop_run_lengths)


def crops_to_rles(dets, crops, im_h, im_w, backend='cython'):
    """Detection mask crops -> list of n COCO RLEs (str counts) of size (im_h, im_w).

    backend: 'cython' (compiled run lengths; also used by 'gpu[:N]') or 'numpy'
    (lib.masks.rle.crop_run_lengths); both give the RLEs encode_mask gives for the
    image-sized masks.
    """
    run_lengths = _run_lengths_function(backend)
    rles = []
    for n, crop in enumerate(crops):
        x1, y1, _, _ = _check_crop(dets[n], crop, im_h, im_w)
        binary = crop if crop.dtype == np.uint8 else (crop != 0).astype(np.uint8)
        runs = run_lengths(np.ascontiguousarray(binary), x1, y1, im_h, im_w)
        rles.append(encode_runs(runs, im_h, im_w))
    return rles
