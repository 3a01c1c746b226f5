"""The Python CustomOps of fcis/operators at the COCO training/test sizes, timed standalone
through ``mx.nd.Custom`` (forward; their backward only writes zeros) for ``benchmark.py ops``.

Inputs: RPN outputs of a 600x1000 image (12 anchors, 38x63 map; softmax probabilities,
deltas N(0, 0.2)), 300 proposals of 16..400 pixels, 8 ground-truth instances with their
600x1000 masks, OHEM over 300 + 8 ROIs and 81 classes, the box parser on 300 ROIs.
"""
import mxnet as mx
import numpy as np

from experiments.fcis.tools.bench.timing import median_seconds

ANCHOR_SCALES, ANCHOR_RATIOS = (4, 8, 16, 32), (0.5, 1, 2)
IMAGE = (600, 1000)
FEAT = (38, 63)
CLASSES = 81


def _boxes(rng, num, height, width, lo=16, hi=400):
    """(num, 4) boxes [x1, y1, x2, y2] inside the image, lo..hi pixels a side."""
    x1 = rng.uniform(0, width - lo, num)
    y1 = rng.uniform(0, height - lo, num)
    x2 = np.minimum(x1 + rng.uniform(lo, hi, num), width - 1)
    y2 = np.minimum(y1 + rng.uniform(lo, hi, num), height - 1)
    return np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)


def _softmax(logits, axis):
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def proposal_inputs(rng):
    a = len(ANCHOR_SCALES) * len(ANCHOR_RATIOS)
    fh, fw = FEAT
    prob = _softmax(rng.standard_normal((1, 2, a * fh, fw)), axis=1).reshape(1, 2 * a, fh, fw)
    deltas = (0.2 * rng.standard_normal((1, 4 * a, fh, fw))).astype(np.float32)
    return [prob, deltas, np.array([[IMAGE[0], IMAGE[1], 1.0]], np.float32)], dict(
        op_type='fcis_proposal', feat_stride='16', scales=str(ANCHOR_SCALES),
        ratios=str(ANCHOR_RATIOS), rpn_pre_nms_top_n='6000', rpn_post_nms_top_n='300',
        threshold='0.7', rpn_min_size='2', output_score='False')


def proposal_target_inputs(rng, num_gt=8):
    height, width = IMAGE
    rois = np.hstack([np.zeros((300, 1), np.float32), _boxes(rng, 300, height, width)])
    gt = _boxes(rng, num_gt, height, width, 32, 300)
    masks = np.zeros((1, num_gt, height, width), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(gt.astype(int)):
        masks[0, k, y1:y2 + 1, x1:x2 + 1] = rng.uniform(size=(y2 - y1 + 1, x2 - x1 + 1)) > 0.3
    gt_boxes = np.hstack([gt, rng.integers(1, CLASSES, (num_gt, 1))]).astype(np.float32)
    return [rois, gt_boxes[None], masks], dict(
        op_type='fcis_proposal_target', num_classes=str(CLASSES), batch_images='1',
        batch_rois='-1', fg_fraction='0.25', fg_thresh='0.5', bg_thresh_hi='0.5',
        bg_thresh_lo='0.0', bbox_means='(0.0, 0.0, 0.0, 0.0)',
        bbox_stds='(0.2, 0.2, 0.5, 0.5)', mask_size='21', binary_thresh='0.4')


def ohem_inputs(rng, num=308):
    labels = np.where(rng.uniform(size=num) < 0.25, rng.integers(1, CLASSES, num), 0)
    masks = np.where(labels[:, None, None] > 0, rng.integers(0, 2, (num, 21, 21)), -1)
    weights = np.repeat((labels > 0)[:, None], 8, axis=1).astype(np.float32)
    return [_softmax(rng.standard_normal((num, CLASSES)), 1),
            _softmax(rng.standard_normal((num, 2, 21, 21)), 1),
            (0.2 * rng.standard_normal((num, 8))).astype(np.float32), labels.astype(np.float32),
            masks.astype(np.float32), (0.2 * rng.standard_normal((num, 8))).astype(np.float32),
            weights], dict(op_type='BoxAnnotatorOHEM', num_classes=str(CLASSES),
                           roi_per_img='128', mask_loss_weight='10.0')


def box_parser_inputs(rng, num=300):
    rois = np.hstack([np.zeros((num, 1), np.float32), _boxes(rng, num, *IMAGE)])
    return [rois, (0.2 * rng.standard_normal((num, 8))).astype(np.float32),
            np.array([[IMAGE[0], IMAGE[1], 1.0]], np.float32)], dict(
        op_type='fcis_box_parser', bbox_means='(0.0, 0.0, 0.0, 0.0)',
        bbox_stds='(0.2, 0.2, 0.5, 0.5)')


CASES = {
    'fcis_proposal (38x63x12 anchors -> 300)': proposal_inputs,
    'fcis_proposal_target (300 ROIs, 8 GT)': proposal_target_inputs,
    'BoxAnnotatorOHEM (308 ROIs, 81 classes)': ohem_inputs,
    'fcis_box_parser (300 ROIs)': box_parser_inputs,
}


def bench_custom_ops(rng, runs):
    """{case: median forward seconds} of the Python CustomOps on realistic inputs."""
    import fcis.operators  # noqa: F401  (registers the CustomOps)
    np.random.seed(0)  # the ops draw from NumPy's global state
    results = {}
    for name, make in CASES.items():
        arrays, attrs = make(rng)
        inputs = [mx.nd.array(a) for a in arrays]

        def forward():
            outs = mx.nd.Custom(*inputs, **attrs)
            for out in (outs if isinstance(outs, list) else [outs]):
                out.wait_to_read()

        results[name] = median_seconds(forward, runs)
    return results
