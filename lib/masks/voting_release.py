"""Mask voting with the FCIS release's semantics (TEST.MASK_VOTE_MODE: release).

Algorithm of `release_mask_voting` (H x W is the vote image, N ROIs, S x S masks):

  1. The ROI boxes are clipped to [0, W-1] x [0, H-1]; a box's pixels are its corners
     rounded half to even (np.round), at least one pixel wide and high.
  2. Per foreground class j: greedy NMS (IoU > nms_thresh suppressed) of the ROIs with their
     class-j scores; the first max_per_image kept ones stay. Only ROIs scoring >= score_floor
     enter: lower ones can neither be kept (step 3) nor suppress a better-scoring ROI.
  3. One threshold for the image: the max_per_image-th best score kept over all classes (the
     lowest one when fewer are kept), at least score_floor. Every kept detection scoring >=
     the threshold stays, ties included.
  4. The voters of a kept detection of class j are all ROIs (whatever their score) whose box
     IoU with it is >= merge_thresh, in ROI order, weighted by their class-j scores divided by
     the sum of those scores (voter_weights). Each voter's mask is resized bilinearly
     (cv2.INTER_LINEAR) to its box, binarized at binary_thresh and added, times its weight,
     into an image-sized vote (float64). The vote is not limited to the kept box.
  5. The detection's box is the tight box of the pixels whose vote is >= binary_thresh, or the
     single pixel (W // 2, H // 2) when there is none; its mask is the vote inside that box,
     resized (float32, cv2.INTER_LINEAR) to S x S.

`soft_masks_to_crops` then does what the release's evaluation does with such a detection:
clip its box to the original image, resize the S x S mask to the box and keep values >=
binary_thresh; the crops are those of lib.masks.voting.mask_voting (see crops_to_rles).
"""
import dataclasses
import functools
from typing import Callable, Optional

import cv2
import numpy as np

from lib.boxes import bbox_overlaps
from lib.masks.voting import _check_inputs, _gpu_device, mask_region
from lib.masks.voting_numpy import vote_region_soft_numpy
from lib.nms import nms as cpu_nms
from lib.utils.native import import_extension


@dataclasses.dataclass(frozen=True)
class ReleaseVoting:
    """Settings of release_mask_voting.

    num_classes: C, background included; max_per_image: detections per class after NMS and
    the rank of the image's score threshold; score_floor: least value of that threshold
    (TEST.SCORE_THRESH); backend: 'cython', 'numpy' or 'gpu' / 'gpu:N' (CUDA builds);
    nms_fn: fn(dets (n, 5), thresh) -> kept indices (default lib.nms.nms).
    """
    num_classes: int
    max_per_image: int = 100
    nms_thresh: float = 0.3
    merge_thresh: float = 0.5
    binary_thresh: float = 0.4
    score_floor: float = 1e-3
    backend: str = 'cython'
    nms_fn: Optional[Callable] = None


def _soft_vote_function(backend):
    """vote_region_soft of the backend ('cython', 'numpy' or 'gpu[:N]')."""
    device = _gpu_device(backend)
    if device is not None:
        try:
            module = import_extension('lib.masks.gpu_mask_voting')
        except ImportError as err:
            raise ImportError('mask voting backend %r: lib.masks.gpu_mask_voting is built only '
                              'where nvcc and a CUDA MXNet exist (FCIS_GPU=1 sh init.sh); use '
                              'TEST.USE_GPU_MASK_MERGE: false' % (backend,)) from err
        return functools.partial(module.vote_region_soft_gpu, device_id=device)
    if backend == 'numpy':
        return vote_region_soft_numpy
    if backend != 'cython':
        raise ValueError("mask voting: backend must be 'cython', 'numpy' or 'gpu[:N]', got %r"
                         % (backend,))
    return import_extension('lib.masks.mask_voting_cython').vote_region_soft


def clip_to_image(boxes, im_h, im_w):
    """(N, 4) float boxes clipped to [0, im_w-1] x [0, im_h-1] (a new float32 array)."""
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, im_w - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, im_h - 1)
    return boxes


def rounded_extents(boxes):
    """(N, 4) boxes -> (N, 4) int32 pixel extents, corners rounded half to even, x2 >= x1 and
    y2 >= y1."""
    ext = np.round(np.asarray(boxes, dtype=np.float64)).astype(np.int64).reshape(-1, 4)
    ext[:, 2] = np.maximum(ext[:, 2], ext[:, 0])
    ext[:, 3] = np.maximum(ext[:, 3], ext[:, 1])
    return ext.astype(np.int32)


def kept_per_class(boxes, scores, settings):
    """Steps 2 and 3: per class j >= 1 the kept ROI indices (n_j,), best first.

    boxes: (N, 4) clipped boxes; scores: (N, C) float32. Index 0 (background) is empty.
    """
    nms_fn = settings.nms_fn or cpu_nms
    floor = np.float32(settings.score_floor)
    limit = settings.max_per_image
    kept = [np.zeros(0, np.intp)]
    for j in range(1, settings.num_classes):
        cand = np.where(scores[:, j] >= floor)[0]
        dets = np.hstack([boxes[cand], scores[cand, j:j + 1]]).astype(np.float32)
        keep = np.asarray(nms_fn(dets, settings.nms_thresh), dtype=np.intp)
        kept.append(cand[keep[:limit] if limit > 0 else keep])
    best = np.sort(np.concatenate([scores[k, j] for j, k in enumerate(kept)]))[::-1]
    if best.size == 0:
        return kept
    rank = min(best.size, limit) if limit > 0 else best.size
    thresh = max(best[rank - 1], floor)
    return [k[scores[k, j] >= thresh] for j, k in enumerate(kept)]


def voter_weights(scores_j):
    """(M,) float32 class scores of the voters -> (M,) float32 weights: each score divided by
    their sum, the sum taken in order in float64 and rounded to float32 (what the release's
    ``scores / sum(scores)`` computes with Python's sum over a float32 array)."""
    scores_j = np.asarray(scores_j, dtype=np.float32)
    total = 0.0
    for s in scores_j:
        total = total + float(s)
    return (scores_j / np.float32(total)).astype(np.float32)


def _tight_box_and_mask(vote, origin, im_h, im_w, binary_thresh, mask_size):
    """Step 5 for a soft vote (rh, rw) float64 whose pixel [0, 0] is image pixel origin
    (x, y) -> ((4,) float32 box, (S, S) float32 mask)."""
    rows, cols = np.where(vote >= binary_thresh)
    if rows.size:
        x1, x2 = origin[0] + cols.min(), origin[0] + cols.max()
        y1, y2 = origin[1] + rows.min(), origin[1] + rows.max()
        crop = vote[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    else:
        x1 = x2 = im_w // 2
        y1 = y2 = im_h // 2
        cy, cx = y1 - origin[1], x1 - origin[0]
        inside = 0 <= cy < vote.shape[0] and 0 <= cx < vote.shape[1]
        crop = np.full((1, 1), vote[cy, cx] if inside else 0.0)
    mask = cv2.resize(crop.astype(np.float32), (mask_size, mask_size),
                      interpolation=cv2.INTER_LINEAR)
    return np.array([x1, y1, x2, y2], np.float32), mask.astype(np.float32)


def release_mask_voting(masks, boxes, scores, vote_size, settings):
    """Per-class NMS and mask voting as the FCIS release does it (module docstring).

    masks: (N, S, S) float foreground probabilities of the ROIs (each its top class's mask)
    boxes: (N, 4) ROI boxes in original-image pixels; scores: (N, C) class probabilities
    vote_size: (H, W) of the vote image (the release: round(input size / scale))
    settings: ReleaseVoting
    returns: (dets, soft), lists of length C (index 0, background, empty):
        dets[j]: (n_j, 5) float32 [x1, y1, x2, y2, score], the box the voted mask's tight box;
        soft[j]: (n_j, S, S) float32 voted masks over those boxes (not binarized).
    """
    im_h, im_w = int(vote_size[0]), int(vote_size[1])
    masks, boxes, scores = _check_inputs(masks, boxes, scores, settings.num_classes, im_h, im_w)
    size = masks.shape[1]
    boxes = clip_to_image(boxes, im_h, im_w)
    extents = rounded_extents(boxes)
    vote = _soft_vote_function(settings.backend)
    kept = kept_per_class(boxes, scores, settings)
    dets, soft = [np.zeros((0, 5), np.float32)], [np.zeros((0, size, size), np.float32)]
    for j in range(1, settings.num_classes):
        overlaps = bbox_overlaps(boxes, boxes[kept[j]])  # (N, n_j)
        cls_dets = np.zeros((len(kept[j]), 5), np.float32)
        cls_soft = np.zeros((len(kept[j]), size, size), np.float32)
        for n, roi in enumerate(kept[j]):
            members = np.ascontiguousarray(np.where(overlaps[:, n] >= settings.merge_thresh)[0],
                                           dtype=np.intp)
            weights = voter_weights(scores[members, j])
            x1, y1 = extents[members, 0].min(), extents[members, 1].min()
            x2, y2 = extents[members, 2].max(), extents[members, 3].max()
            region_vote = vote(masks, extents, members, weights, int(x1), int(y1), int(x2),
                               int(y2), float(settings.binary_thresh), True)
            cls_dets[n, :4], cls_soft[n] = _tight_box_and_mask(
                region_vote, (x1, y1), im_h, im_w, settings.binary_thresh, size)
            cls_dets[n, 4] = scores[roi, j]
        dets.append(cls_dets)
        soft.append(cls_soft)
    return dets, soft


def soft_masks_to_crops(dets, soft, im_h, im_w, binary_thresh):
    """Release evaluation of one class's detections in an im_h x im_w image.

    dets: (n, 5) [x1, y1, x2, y2, score]; soft: (n, S, S) float masks over the boxes.
    returns: (dets (n, 5) float32 with boxes clipped to the image, list of n uint8 crops
        covering mask_region(box): the mask resized (cv2.INTER_LINEAR) to the box rounded half
        to even, >= binary_thresh).
    """
    dets = np.array(dets, dtype=np.float32).reshape(-1, 5)
    dets[:, :4] = clip_to_image(dets[:, :4], im_h, im_w)
    crops = []
    for det, mask in zip(dets, soft):
        x1, y1, x2, y2 = rounded_extents(det[None, :4])[0]
        resized = cv2.resize(np.asarray(mask, np.float32), (int(x2 - x1 + 1), int(y2 - y1 + 1)),
                             interpolation=cv2.INTER_LINEAR).reshape(y2 - y1 + 1, x2 - x1 + 1)
        region = mask_region(det[:4], im_h, im_w)
        if region != (x1, y1, x2, y2):
            raise ValueError('soft_masks_to_crops: box %s has fractional corners; pass the '
                             'dets release_mask_voting returns' % (det[:4],))
        crops.append((resized >= np.float32(binary_thresh)).astype(np.uint8))
    return dets, crops
