"""'fcis_proposal': RPN outputs -> region proposals (ROIs), one image at a time.

For each image: decode the RPN deltas of every anchor, clip the boxes to the image, drop
boxes with a side below rpn_min_size input pixels, keep the rpn_pre_nms_top_n highest
foreground scores, run greedy NMS at `threshold`, keep the rpn_post_nms_top_n best, and
pad to exactly rpn_post_nms_top_n by repeating kept proposals (drawn with replacement from
the NumPy global random state) when fewer survive.

Anchor grid (attribute anchor_grid):
  'image'    anchors on int(h / feat_stride) x int(w / feat_stride) cells of the image
             (h, w from im_info); the score and delta maps are cropped to that grid, so for
             a 600x1000 image the last row and column of the 38x63 map never propose;
  'feature'  anchors on every cell of the feature map.
min_size_scaled='True' multiplies rpn_min_size by the image scale (im_info[2]) first.
delta_clip='True' clips dw, dh at log(1000/16) before exp (lib.boxes.bbox.BBOX_XFORM_CLIP);
unclipped, an overflowing exp gives a box that clipping spreads over the image.

Anchor order is (fh, fw, A): all A anchors of cell (0, 0), then of cell (0, 1), ... as in
the classic Faster R-CNN code. Ties in score keep anchor order.
"""
import mxnet as mx
import numpy as np

from lib.boxes.bbox import BBOX_XFORM_CLIP, bbox_pred, clip_boxes, filter_small_boxes
from lib.nms.nms import nms
from lib.rpn.generate_anchors import generate_anchors, shifted_anchors
from lib.utils.ndarray_copy import assign_array
from lib.utils.ranking import descending_order
from fcis.operators._attrs import parse_bool, parse_choice, parse_float, parse_floats, parse_int

OP_NAME = 'fcis_proposal'
ANCHOR_GRIDS = ('image', 'feature')


def pad_indices(keep, size):
    """Extend `keep` to exactly `size` entries by drawing from it with replacement.

    keep: (M,) int indices, M >= 1
    returns: (size,) int64 -- keep[:size] when M >= size.
    """
    keep = np.asarray(keep, dtype=np.int64)
    if keep.size >= size:
        return keep[:size]
    extra = np.random.choice(keep, size=size - keep.size, replace=True)
    return np.concatenate([keep, extra])


def nms_first(dets, thresh, max_keep):
    """The first max_keep indices of nms(dets, thresh), computed on growing prefixes.

    dets: (M, 5) [x1, y1, x2, y2, score] already sorted by descending score
    returns: (min(max_keep, kept),) int64 row indices, identical to nms(dets)[:max_keep].
    Greedy NMS decides a box only from the boxes ranked above it, so NMS on the first `size`
    rows keeps exactly the kept rows of the full run that lie in that prefix, and it can stop
    at the max_keep-th kept row; the prefix grows x4 until it holds max_keep kept rows
    (6000 -> 300 at 0.7 costs ~1/20 of a full run).
    """
    size = min(dets.shape[0], max(4 * max_keep, 1024))
    while True:
        keep = np.asarray(nms(dets[:size], thresh, max_keep), dtype=np.int64)
        if keep.size >= max_keep or size == dets.shape[0]:
            return keep[:max_keep]
        size = min(dets.shape[0], 4 * size)


def anchor_grid_shape(feat_shape, im_info, feat_stride, anchor_grid):
    """(rows, cols) of anchor cells: the feature map's, or int(h / stride) x int(w / stride)
    of the image (never more than the map has)."""
    if anchor_grid == 'feature':
        return tuple(feat_shape)
    rows = int(float(im_info[0]) / feat_stride)
    cols = int(float(im_info[1]) / feat_stride)
    return min(rows, feat_shape[0]), min(cols, feat_shape[1])


def decode_boxes(anchors, deltas, im_info, delta_clip):
    """Anchors moved by their deltas and clipped to the image.

    anchors, deltas: (M, 4); im_info: (3,) -> (M, 4) float64.
    """
    max_log_scale = BBOX_XFORM_CLIP if delta_clip else np.inf
    with np.errstate(over='ignore', invalid='ignore'):
        return clip_boxes(bbox_pred(anchors, deltas, max_log_scale), im_info[:2])


def propose_one_image(fg_scores, deltas, anchors, im_info, params):
    """Proposals of one image.

    fg_scores: (A, fh, fw) foreground probabilities
    deltas: (4A, fh, fw) box deltas, channel a*4 + j for anchor a, coordinate j
    anchors: (fh*fw*A, 4) from lib.rpn.generate_anchors.shifted_anchors
    im_info: (3,) [height, width, scale]
    params: dict with pre_nms_top_n, post_nms_top_n, threshold, min_size, min_size_scaled,
        delta_clip
    returns: boxes (post, 4) float32 and scores (post,) float32.
    """
    num_anchors = fg_scores.shape[0]
    scores = fg_scores.transpose(1, 2, 0).reshape(-1)  # (A, fh, fw) -> (fh*fw*A,)
    deltas = deltas.reshape(num_anchors, 4, *deltas.shape[1:])  # (A, 4, fh, fw)
    deltas = deltas.transpose(2, 3, 0, 1).reshape(-1, 4)  # -> (fh, fw, A, 4) -> (fh*fw*A, 4)

    boxes = decode_boxes(anchors, deltas, im_info, params['delta_clip'])  # (fh*fw*A, 4)
    # a diverged network gives NaN/inf: rank such proposals last at their anchors, so that
    # NMS still runs and the non-finite loss is reported by the training loop's check
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        bad = ~(np.isfinite(boxes).all(axis=1) & np.isfinite(scores))  # (fh*fw*A,)
        boxes[bad] = clip_boxes(anchors[bad], im_info[:2])
        scores = np.where(bad, -1.0, scores)
    min_size = params['min_size'] * (im_info[2] if params['min_size_scaled'] else 1.0)
    candidates = filter_small_boxes(boxes, min_size)
    if candidates.size == 0:
        # nothing is large enough: fall back to every box rather than returning nothing
        candidates = np.arange(boxes.shape[0])

    candidates = candidates[descending_order(scores[candidates], params['pre_nms_top_n'])]

    dets = np.hstack([boxes[candidates], scores[candidates, None]])  # (M, 5)
    keep = nms_first(dets, params['threshold'], params['post_nms_top_n'])
    keep = pad_indices(keep, params['post_nms_top_n'])
    chosen = candidates[keep]
    return boxes[chosen].astype(np.float32), scores[chosen].astype(np.float32)


class ProposalOperator(mx.operator.CustomOp):
    """Forward: see the module docstring. Backward: zero gradients."""

    def __init__(self, base_anchors, feat_stride, params, output_score, anchor_grid):
        super().__init__()
        self._base_anchors = base_anchors
        self._feat_stride = feat_stride
        self._params = params
        self._output_score = output_score
        self._anchor_grid = anchor_grid
        self._anchors = {}  # (rows, cols) -> (rows*cols*A, 4) shifted anchors

    def forward(self, is_train, req, in_data, out_data, aux):
        cls_prob = in_data[0].asnumpy()  # (N, 2A, fh, fw)
        bbox_deltas = in_data[1].asnumpy()  # (N, 4A, fh, fw)
        im_info = in_data[2].asnumpy()  # (N, 3)
        num_images = cls_prob.shape[0]
        num_anchors = self._base_anchors.shape[0]
        post = self._params['post_nms_top_n']
        rois = np.zeros((num_images * post, 5), dtype=np.float32)
        scores = np.zeros((num_images * post, 1), dtype=np.float32)
        for n in range(num_images):
            rows, cols = anchor_grid_shape(cls_prob.shape[2:], im_info[n], self._feat_stride,
                                           self._anchor_grid)
            if (rows, cols) not in self._anchors:
                self._anchors[rows, cols] = shifted_anchors(rows, cols, self._feat_stride,
                                                            self._base_anchors)
            anchors = self._anchors[rows, cols]  # (rows*cols*A, 4)
            boxes, image_scores = propose_one_image(
                cls_prob[n, num_anchors:, :rows, :cols], bbox_deltas[n, :, :rows, :cols],
                anchors, im_info[n], self._params)
            rows = slice(n * post, (n + 1) * post)
            rois[rows, 0] = n
            rois[rows, 1:] = boxes
            scores[rows, 0] = image_scores
        assign_array(out_data[0], req[0], rois)
        if self._output_score:
            assign_array(out_data[1], req[1], scores)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        for i, grad in enumerate(in_grad):
            self.assign(grad, req[i], 0)


@mx.operator.register(OP_NAME)
class ProposalProp(mx.operator.CustomOpProp):
    """Attributes: feat_stride, scales, ratios, rpn_pre_nms_top_n, rpn_post_nms_top_n,
    threshold, rpn_min_size, min_size_scaled, anchor_grid, delta_clip, output_score (all
    strings; see the module docstring)."""

    def __init__(self, feat_stride='16', scales='(8, 16, 32)', ratios='(0.5, 1, 2)',
                 rpn_pre_nms_top_n='6000', rpn_post_nms_top_n='300', threshold='0.7',
                 rpn_min_size='16', min_size_scaled='False', anchor_grid='image',
                 delta_clip='False', output_score='False'):
        super().__init__(need_top_grad=False)
        self._feat_stride = parse_int(OP_NAME, 'feat_stride', feat_stride)
        self._scales = parse_floats(OP_NAME, 'scales', scales)
        self._ratios = parse_floats(OP_NAME, 'ratios', ratios)
        self._params = {
            'pre_nms_top_n': parse_int(OP_NAME, 'rpn_pre_nms_top_n', rpn_pre_nms_top_n),
            'post_nms_top_n': parse_int(OP_NAME, 'rpn_post_nms_top_n', rpn_post_nms_top_n),
            'threshold': parse_float(OP_NAME, 'threshold', threshold),
            'min_size': parse_float(OP_NAME, 'rpn_min_size', rpn_min_size),
            'min_size_scaled': parse_bool(OP_NAME, 'min_size_scaled', min_size_scaled),
            'delta_clip': parse_bool(OP_NAME, 'delta_clip', delta_clip),
        }
        self._anchor_grid = parse_choice(OP_NAME, 'anchor_grid', anchor_grid, ANCHOR_GRIDS)
        self._output_score = parse_bool(OP_NAME, 'output_score', output_score)
        if self._params['post_nms_top_n'] < 1:
            raise ValueError('%s: rpn_post_nms_top_n=%s must be >= 1'
                             % (OP_NAME, rpn_post_nms_top_n))
        self._num_anchors = len(self._scales) * len(self._ratios)

    def list_arguments(self):
        return ['cls_prob', 'bbox_pred', 'im_info']

    def list_outputs(self):
        return ['rois', 'scores'] if self._output_score else ['rois']

    def infer_shape(self, in_shape):
        cls_shape, bbox_shape, im_info_shape = in_shape
        num_images = cls_shape[0]
        expected = {
            'cls_prob': (num_images, 2 * self._num_anchors) + tuple(cls_shape[2:]),
            'bbox_pred': (num_images, 4 * self._num_anchors) + tuple(cls_shape[2:]),
            'im_info': (num_images, 3),
        }
        for name, shape in zip(self.list_arguments(), in_shape):
            if tuple(shape) != expected[name]:
                raise ValueError('%s: %s has shape %s, expected %s for %d anchors (scales x '
                                 'ratios); check the RPN head channels'
                                 % (OP_NAME, name, tuple(shape), expected[name],
                                    self._num_anchors))
        post = self._params['post_nms_top_n']
        out_shape = [(num_images * post, 5)]
        if self._output_score:
            out_shape.append((num_images * post, 1))
        return in_shape, out_shape, []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return []

    def create_operator(self, ctx, shapes, dtypes):
        base_anchors = generate_anchors(base_size=self._feat_stride,
                                        ratios=np.array(self._ratios),
                                        scales=np.array(self._scales))
        return ProposalOperator(np.asarray(base_anchors, dtype=np.float64),
                                self._feat_stride, self._params, self._output_score,
                                self._anchor_grid)
