"""GPU soft-vote cases: the release mode's mask aggregation (TEST.MASK_VOTE_MODE: release,
lib.masks.voting_release) -- everything that knows fcis_gpu_vote_soft is in this file.

Each case's inputs are prepared as release_mask_voting prepares them: ROI boxes (on a
half-pixel grid) clipped to the image, extents rounded half to even (rounded_extents), the
voters of the kept ROI = the ROIs with IoU >= MERGE_THRESH with it in ROI order, weights =
their scores normalised to sum 1 (voter_weights), region = the union of the voters' extents.

CPU side (``make_soft_voting``): lib.masks.mask_voting_cython.vote_region_soft. GPU side
(``run_soft_voting``): lib/masks/mask_voting_kernel.cu's fcis_gpu_vote_soft through ctypes,
the same arguments. Rule bit-identical (float64 compared as uint64): both sides compute each
member's value with mask_voting_kernel.h's fcis_member_value (float32, products unfused) and
add the float32 product weight * value to a double with fcis_accumulate_double in member
order, so every pixel's sum is the same sequence of IEEE double additions.
"""
import numpy as np

from .compare import compare, result
from .store import put_expected, put_input
from .voting_cases import BINARY_THRESH, IMAGE_H, IMAGE_W, MASK_SIZE, gpu_vote, timed_ms

MERGE_THRESH = 0.5
NUM_DISTRACTORS = 20  # ROIs overlapping the kept box with IoU < MERGE_THRESH: not voters
# name -> box: the kept ROI (x1, y1, x2, y2) before clipping; voters: ROIs with IoU >=
# MERGE_THRESH with it (itself included); jitter: std of the voters' corner shifts as a
# fraction of its size; region: "voters" (union of the voters' extents) or an explicit
# (x1, y1, x2, y2); "timed": also measured.
SOFT_CASES = {
    'vote_release_coco': dict(box=(340.5, 170.5, 660.5, 450.5), voters=100, jitter=0.06,
                              region='voters', binarize=True, timed=True),
    'vote_release_beyond_box': dict(box=(100.5, 80.5, 260.5, 200.5), voters=6, jitter=0.12,
                                    region='voters', binarize=True, timed=False),
    'vote_release_one_voter': dict(box=(600.5, 300.5, 700.5, 420.5), voters=1, jitter=0.0,
                                   region='voters', binarize=True, timed=False),
    'vote_release_border': dict(box=(-20.5, 480.5, 140.5, 620.5), voters=12, jitter=0.08,
                                region='voters', binarize=True, timed=False),
    'vote_release_unbinarized': dict(box=(400.5, 100.5, 520.5, 260.5), voters=8, jitter=0.08,
                                     region='voters', binarize=False, timed=False),
    'vote_release_no_voters': dict(box=(800.5, 50.5, 900.5, 150.5), voters=0, jitter=0.0,
                                   region='voters', binarize=True, timed=False),
    'vote_release_apart': dict(box=(200.5, 300.5, 320.5, 420.5), voters=10, jitter=0.08,
                               region=(700, 400, 760, 440), binarize=True, timed=False),
}


def _iou(boxes, box):
    """(n,) IoUs ('+1' areas, as the release's bbox_overlaps) of (n, 4) boxes with (4,) box."""
    from lib.boxes import bbox_overlaps
    return bbox_overlaps(np.asarray(boxes, np.float64).reshape(-1, 4), box[None])[:, 0]


def _rois(rng, a):
    """(boxes (N, 4) float32 clipped to the image, kept ROI index): the kept box, voters - 1
    boxes around it with IoU >= MERGE_THRESH and NUM_DISTRACTORS overlapping it with IoU <
    MERGE_THRESH, shuffled; corners on a half-pixel grid before clipping."""
    from lib.masks.voting_release import clip_to_image
    kept = clip_to_image(a['box'], IMAGE_H, IMAGE_W)[0]
    size = np.tile(np.asarray(a['box'][2:]) - np.asarray(a['box'][:2]), 2)
    voters, distractors = [], []
    while len(voters) < a['voters'] - 1 or len(distractors) < NUM_DISTRACTORS:
        near = len(voters) < a['voters'] - 1
        box = np.round((np.asarray(a['box']) + rng.normal(0, a['jitter'] if near else 0.4, 4)
                        * size) * 2) / 2
        box = clip_to_image(box, IMAGE_H, IMAGE_W)[0]
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        if (_iou(box, kept)[0] >= MERGE_THRESH) == near:
            (voters if near else distractors).append(box)
    boxes = np.array([kept] + voters + distractors, np.float32)
    order = rng.permutation(len(boxes))
    return boxes[order], int(np.argmax(order == 0))


def make_soft_voting(store, seed=43):
    """CPU soft votes of every case into store (per case: boxes, extents, masks, members,
    weights, region, kept and the expected float64 vote)."""
    from lib.masks.mask_voting_cython import vote_region_soft
    from lib.masks.voting_release import rounded_extents, voter_weights
    rng = np.random.RandomState(seed)
    for name, a in SOFT_CASES.items():
        boxes, kept = _rois(rng, a)
        extents = rounded_extents(boxes)
        masks = rng.rand(len(boxes), MASK_SIZE, MASK_SIZE).astype(np.float32)
        scores = rng.uniform(0.05, 1.0, len(boxes)).astype(np.float32)
        members = np.where(_iou(boxes, boxes[kept]) >= MERGE_THRESH)[0].astype(np.intp)
        if a['voters'] == 0:
            members = members[:0]
        weights = voter_weights(scores[members])
        if a['region'] == 'voters' and len(members):
            region = np.concatenate([extents[members, :2].min(0), extents[members, 2:].max(0)])
        else:
            region = np.asarray(extents[kept] if a['region'] == 'voters' else a['region'])
        region = region.astype(np.int32)
        vote = vote_region_soft(masks, extents, members, weights, *(int(v) for v in region),
                                BINARY_THRESH, a['binarize'])
        for key, array in [('boxes', boxes), ('extents', extents), ('masks', masks),
                           ('members', members.astype(np.int64)), ('weights', weights),
                           ('region', region), ('kept', np.array(kept, np.int64))]:
            put_input(store, '%s.%s' % (name, key), array)
        put_expected(store, name + '.vote', np.asarray(vote, np.float64))


def run_soft_voting(harness, npz, timing):
    """Every soft-vote case on the GPU against the CPU votes; result rows. Timed cases time
    the whole host call (copies + kernel, CUDA events)."""
    rows = []
    for name, a in SOFT_CASES.items():
        members = np.ascontiguousarray(npz[name + '.members'])
        args = (harness, 'fcis_gpu_vote_soft', np.float64,
                np.ascontiguousarray(npz[name + '.masks']),
                np.ascontiguousarray(npz[name + '.extents']), members,
                np.ascontiguousarray(npz[name + '.weights']), npz[name + '.region'],
                a['binarize'])
        got = gpu_vote(*args)
        times = timed_ms(harness, lambda: gpu_vote(*args), timing) if a['timed'] else []
        ok, detail = compare(npz, name + '.vote', got, 'bit-identical')
        rows.append(result(name, 'bit-identical', ok, '%d voters, %s' % (len(members), detail),
                           times))
    return rows
