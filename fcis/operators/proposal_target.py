"""'fcis_proposal_target': sample training ROIs and build their class, box and mask targets.

One image per call. The valid GT boxes (class > 0) are appended to the proposals; each
candidate is matched to the GT box it overlaps most. Foreground: IoU >= fg_thresh;
background: IoU in [bg_thresh_lo, bg_thresh_hi). B is batch_rois; with batch_rois -1 it
is R + K ('release': every proposal and every GT row of gt_boxes (1, K, 5)) or R
('capped'). Two samplers (attribute sampling):

  'release'  foreground: at most round(fg_fraction * B) drawn without replacement, or all
             of them when batch_rois is -1; background fills the rest (drawn without
             replacement when there are more). Missing rows are drawn without replacement
             from the candidates that are not drawn foreground (from all candidates with
             gap_from_all), and are background whatever their IoU. With batch_rois -1 and
             bg_thresh_lo 0 every candidate is kept once, in index order, foreground first.
  'capped'   foreground: at most round(fg_fraction * B), also when batch_rois is -1;
             background fills the rest; missing rows are drawn with replacement from the
             background pool (from the foreground pool, as foreground, when it is empty).

Without any valid GT every candidate is background. Output rows: foreground first, then
background, then padding. Randomness comes from the NumPy global random state.

Targets: label = class of the matched GT (0 for background); box targets (class-agnostic)
in columns 4:8 = (bbox_transform(roi, gt) - mean) / std with weight 1, for foreground only;
mask target = the matched GT mask cropped to the ROI, resized to mask_size x mask_size and
binarized (lib.masks.paste.crop_and_resize_masks), -1 for every non-foreground ROI.
"""
import mxnet as mx
import numpy as np

from lib.boxes.bbox import bbox_overlaps, bbox_transform
from lib.masks.paste import crop_and_resize_masks
from lib.utils.ndarray_copy import assign_array, host_array
from fcis.operators._attrs import parse_bool, parse_choice, parse_float, parse_floats, parse_int

OP_NAME = 'fcis_proposal_target'
SAMPLERS = ('release', 'capped')


def _draw(pool, count, replace):
    """`count` entries of `pool` (all of them, in order, when count >= len and not replace)."""
    if count <= 0:
        return pool[:0]
    if not replace and count >= pool.size:
        return pool
    return np.random.choice(pool, size=count, replace=replace)


def _pools(max_overlaps, has_gt, params):
    """Foreground and background candidate indices (increasing)."""
    if not has_gt:
        return np.zeros(0, dtype=np.int64), np.arange(max_overlaps.size)
    fg_pool = np.where(max_overlaps >= params['fg_thresh'])[0]
    bg_pool = np.where((max_overlaps < params['bg_thresh_hi']) &
                       (max_overlaps >= params['bg_thresh_lo']))[0]
    return fg_pool, bg_pool


def sample_rois(max_overlaps, has_gt, num_rois, params):
    """Choose num_rois candidates with params['sampling'] (see the module docstring).

    max_overlaps: (M,) best IoU of each candidate with a valid GT box
    has_gt: whether the image has any valid GT box
    num_rois: B (M when batch_rois is -1)
    params: dict with sampling, gap_from_all, all_rois, fg_fraction, fg_thresh,
        bg_thresh_hi, bg_thresh_lo
    returns: keep (num_rois,) int64 candidate indices and is_fg (num_rois,) bool.
    """
    fg_pool, bg_pool = _pools(max_overlaps, has_gt, params)
    if params['sampling'] == 'release':
        return _sample_release(fg_pool, bg_pool, max_overlaps.size, num_rois, params)
    return _sample_capped(fg_pool, bg_pool, num_rois, params)


def _sample_release(fg_pool, bg_pool, num_candidates, num_rois, params):
    """'release' sampler: all foreground with -1, padding without replacement."""
    fg_cap = num_rois if params['all_rois'] else int(np.round(params['fg_fraction'] * num_rois))
    fg_keep = _draw(fg_pool, min(fg_cap, fg_pool.size), replace=False)
    bg_keep = _draw(bg_pool, min(num_rois - fg_keep.size, bg_pool.size), replace=False)
    parts = [fg_keep, bg_keep]
    missing = num_rois - fg_keep.size - bg_keep.size
    if missing > 0:
        if params['gap_from_all']:
            gap_pool = np.arange(num_candidates)
        else:
            gap_pool = np.setdiff1d(np.arange(num_candidates), fg_keep)  # increasing
        if gap_pool.size == 0:
            raise ValueError('%s: every candidate is drawn foreground and %d ROIs are still '
                             'missing; lower batch_rois or fg_fraction' % (OP_NAME, missing))
        while missing > 0:  # more rows than candidates: draw the pool again
            gap = min(missing, gap_pool.size)
            parts.append(np.random.choice(gap_pool, size=gap, replace=False))
            missing -= gap
    keep = np.concatenate(parts).astype(np.int64)
    is_fg = np.zeros(num_rois, dtype=bool)
    is_fg[:fg_keep.size] = True
    return keep, is_fg


def _sample_capped(fg_pool, bg_pool, num_rois, params):
    """'capped' sampler: foreground capped at fg_fraction, padding with replacement."""
    num_fg = min(int(np.round(params['fg_fraction'] * num_rois)), fg_pool.size)
    fg_keep = _draw(fg_pool, num_fg, replace=False)
    bg_keep = _draw(bg_pool, min(num_rois - num_fg, bg_pool.size), replace=False)
    num_pad = num_rois - fg_keep.size - bg_keep.size
    pad_pool = bg_pool if bg_pool.size > 0 else fg_pool
    if num_pad > 0 and pad_pool.size == 0:
        raise ValueError('%s: no ROI is foreground or background (fg_thresh=%g, bg_thresh=[%g, '
                         '%g)); check the thresholds' % (OP_NAME, params['fg_thresh'],
                                                        params['bg_thresh_lo'],
                                                        params['bg_thresh_hi']))
    pad_keep = _draw(pad_pool, num_pad, replace=True)
    keep = np.concatenate([fg_keep, bg_keep, pad_keep]).astype(np.int64)
    is_fg = np.zeros(num_rois, dtype=bool)
    is_fg[:fg_keep.size] = True
    if bg_pool.size == 0:
        is_fg[fg_keep.size + bg_keep.size:] = True  # padding drawn from foreground
    return keep, is_fg


def compute_targets(boxes, gt_boxes, gt_masks, mask_rows, match, is_fg, params):
    """Class, box and mask targets of the sampled ROIs.

    boxes: (B, 4) sampled ROIs
    gt_boxes: (G, 5) valid GT [x1, y1, x2, y2, cls]; gt_masks: (K, H, W), the mask of
        gt_boxes[g] being gt_masks[mask_rows[g]] (mask_rows: (G,) ints)
    match: (B,) index of each ROI's GT box (used only where is_fg)
    is_fg: (B,) bool
    returns: label (B,), bbox_target (B, 8), bbox_weight (B, 8), mask_target (B, S, S).
    """
    num_rois, size = boxes.shape[0], params['mask_size']
    label = np.zeros(num_rois, dtype=np.float64)
    bbox_target = np.zeros((num_rois, 8), dtype=np.float64)
    bbox_weight = np.zeros((num_rois, 8), dtype=np.float64)
    mask_target = np.full((num_rois, size, size), -1.0, dtype=np.float64)
    fg = np.where(is_fg)[0]
    if fg.size:
        label[fg] = gt_boxes[match[fg], 4]
        deltas = bbox_transform(boxes[fg], gt_boxes[match[fg], :4])  # (F, 4)
        bbox_target[fg, 4:8] = (deltas - params['bbox_means']) / params['bbox_stds']
        bbox_weight[fg, 4:8] = 1.0
        mask_target[fg] = crop_and_resize_masks(gt_masks, mask_rows[match[fg]], boxes[fg],
                                                size, params['binary_thresh'])
    return label, bbox_target, bbox_weight, mask_target


def sample_and_annotate(rois, gt_boxes, gt_masks, num_rois, params):
    """Full annotation of one image.

    rois: (R, 5) proposals; gt_boxes: (K, 5) possibly padded; gt_masks: (K, H, W) (read
        only: the masks of the matched GT boxes are cropped from it, nothing is copied)
    returns: rois (B, 5), label (B,), bbox_target (B, 8), bbox_weight (B, 8),
        mask_target (B, S, S), all float32.
    """
    valid = np.where(gt_boxes[:, 4] > 0)[0]  # (G,) rows of the valid GT boxes
    gt_boxes = gt_boxes[valid]  # (G, 5)
    candidates = np.vstack([rois[:, 1:5], gt_boxes[:, :4]])  # (R + G, 4)
    has_gt = gt_boxes.shape[0] > 0
    if has_gt:
        overlaps = bbox_overlaps(candidates, gt_boxes[:, :4])  # (R + G, G)
        assignment = overlaps.argmax(axis=1)
        max_overlaps = overlaps.max(axis=1)
    else:
        assignment = np.zeros(candidates.shape[0], dtype=np.int64)
        max_overlaps = np.zeros(candidates.shape[0])
    keep, is_fg = sample_rois(max_overlaps, has_gt, num_rois, params)
    boxes = candidates[keep]  # (B, 4)
    targets = compute_targets(boxes, gt_boxes, gt_masks, valid, assignment[keep], is_fg, params)
    out_rois = np.hstack([np.zeros((num_rois, 1)), boxes])  # batch index 0
    return tuple(array.astype(np.float32) for array in (out_rois,) + targets)


class ProposalTargetOperator(mx.operator.CustomOp):
    """Forward: sample_and_annotate. Backward: zero gradients."""

    def __init__(self, num_rois, params):
        super().__init__()
        self._num_rois = num_rois
        self._params = params

    def forward(self, is_train, req, in_data, out_data, aux):
        rois = in_data[0].asnumpy().astype(np.float64)  # (R, 5)
        gt_boxes = in_data[1].asnumpy()[0].astype(np.float64)  # (1, K, 5) -> (K, 5)
        gt_masks = host_array(in_data[2])[0]  # (1, K, H, W) -> (K, H, W), not copied
        outputs = sample_and_annotate(rois, gt_boxes, gt_masks, self._num_rois, self._params)
        for i, out in enumerate(outputs):
            assign_array(out_data[i], req[i], out)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        for i, grad in enumerate(in_grad):
            self.assign(grad, req[i], 0)


@mx.operator.register(OP_NAME)
class ProposalTargetProp(mx.operator.CustomOpProp):
    """Attributes: num_classes, batch_images, batch_rois, sampling, gap_from_all,
    fg_fraction, fg_thresh, bg_thresh_hi, bg_thresh_lo, bbox_means, bbox_stds, mask_size,
    binary_thresh."""

    def __init__(self, num_classes, batch_images='1', batch_rois='128', sampling='release',
                 gap_from_all='False', fg_fraction='0.25', fg_thresh='0.5', bg_thresh_hi='0.5',
                 bg_thresh_lo='0.0', bbox_means='(0.0, 0.0, 0.0, 0.0)',
                 bbox_stds='(0.2, 0.2, 0.5, 0.5)', mask_size='21', binary_thresh='0.4'):
        super().__init__(need_top_grad=False)
        self._num_classes = parse_int(OP_NAME, 'num_classes', num_classes)
        self._batch_images = parse_int(OP_NAME, 'batch_images', batch_images)
        self._batch_rois = parse_int(OP_NAME, 'batch_rois', batch_rois)
        self._params = {
            'sampling': parse_choice(OP_NAME, 'sampling', sampling, SAMPLERS),
            'gap_from_all': parse_bool(OP_NAME, 'gap_from_all', gap_from_all),
            'all_rois': self._batch_rois == -1,
            'fg_fraction': parse_float(OP_NAME, 'fg_fraction', fg_fraction),
            'fg_thresh': parse_float(OP_NAME, 'fg_thresh', fg_thresh),
            'bg_thresh_hi': parse_float(OP_NAME, 'bg_thresh_hi', bg_thresh_hi),
            'bg_thresh_lo': parse_float(OP_NAME, 'bg_thresh_lo', bg_thresh_lo),
            'bbox_means': np.array(parse_floats(OP_NAME, 'bbox_means', bbox_means, 4)),
            'bbox_stds': np.array(parse_floats(OP_NAME, 'bbox_stds', bbox_stds, 4)),
            'mask_size': parse_int(OP_NAME, 'mask_size', mask_size),
            'binary_thresh': parse_float(OP_NAME, 'binary_thresh', binary_thresh),
        }
        if self._batch_images != 1:
            raise ValueError("%s: batch_images=%s is not supported; use one image per device "
                             "(batch_images='1')" % (OP_NAME, batch_images))
        if self._batch_rois == 0 or self._batch_rois < -1:
            raise ValueError('%s: batch_rois=%s must be >= 1, or -1 for all ROIs'
                             % (OP_NAME, batch_rois))

    def list_arguments(self):
        return ['rois', 'gt_boxes', 'gt_masks']

    def list_outputs(self):
        return ['rois', 'label', 'bbox_target', 'bbox_weight', 'mask_target']

    def _num_rois(self, num_proposals, num_gt):
        """B: batch_rois, or with -1 every proposal (and, 'release', every GT row)."""
        if self._batch_rois != -1:
            return self._batch_rois
        return num_proposals + (num_gt if self._params['sampling'] == 'release' else 0)

    def infer_shape(self, in_shape):
        rois_shape, gt_shape, mask_shape = (tuple(shape) for shape in in_shape)
        num_gt = gt_shape[1] if len(gt_shape) == 3 else -1
        checks = [('rois', rois_shape, len(rois_shape) == 2 and rois_shape[1] == 5, '(R, 5)'),
                  ('gt_boxes', gt_shape, len(gt_shape) == 3 and gt_shape[0] == 1
                   and gt_shape[2] == 5, '(1, K, 5)'),
                  ('gt_masks', mask_shape, len(mask_shape) == 4 and mask_shape[:2] == (1, num_gt),
                   '(1, K, H, W) with K as in gt_boxes')]
        for name, shape, ok, want in checks:
            if not ok:
                raise ValueError('%s: %s has shape %s, expected %s; check the data loader'
                                 % (OP_NAME, name, shape, want))
        num_rois, size = self._num_rois(rois_shape[0], num_gt), self._params['mask_size']
        out_shape = [(num_rois, 5), (num_rois,), (num_rois, 8), (num_rois, 8),
                     (num_rois, size, size)]
        return in_shape, out_shape, []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return []

    def create_operator(self, ctx, shapes, dtypes):
        return ProposalTargetOperator(self._num_rois(shapes[0][0], shapes[1][1]), self._params)
