"""Run the FCIS test symbol over a test set and turn its outputs into detections.

Per image: the test symbol gives R ROIs (R = TEST.RPN_POST_NMS_TOP_N * TEST.ITER) with
class probabilities and the mask of each ROI's top foreground class. ROIs with a side under
TEST.MIN_DROP_SIZE are dropped (TEST.MIN_DROP_MODE 'release': input pixels, only with ITER
2; 'original': original-image pixels, always); the rest are mapped back to the original
image. Then mask voting (TEST.USE_MASK_MERGE; TEST.MASK_VOTE_MODE 'release':
lib.masks.voting_release, whose boxes are the voted masks' tight boxes; 'roi':
lib.masks.voting.mask_voting, whose boxes are the ROIs) or per-class NMS gives the
detections, whose masks are pasted into the image and stored as RLE.
"""
import dataclasses
import functools
import logging
import time

import mxnet as mx
import numpy as np

from fcis.symbols.names import TEST_DATA_NAMES, TEST_OUTPUT_NAMES
from lib.masks.voting import crops_to_rles, mask_nms, mask_voting
from lib.masks.voting_release import ReleaseVoting, release_mask_voting, soft_masks_to_crops
from lib.utils.thread_governor import FixedThreads

logger = logging.getLogger(__name__)

MASK_VOTE_MODES = ('release', 'roi')
MIN_DROP_MODES = ('release', 'original')


@dataclasses.dataclass(frozen=True)
class ImageFrame:
    """Sizes of one test image: scale (resize factor of the network input), height and
    width of the original image, input_height and input_width of the data tensor."""
    scale: float
    height: int
    width: int
    input_height: int
    input_width: int

    def vote_size(self):
        """(H, W) of the image the release votes in: round(input size / scale), the scale
        taken as the float32 of im_info, rounded half to even."""
        scale = float(np.float32(self.scale))
        return (int(np.round(self.input_height / scale)), int(np.round(self.input_width / scale)))


class InferenceModule(object):
    """An inference Module for the test symbol, re-shaped for every input size.

    symbol: the test symbol; arg_params/aux_params: trained parameters;
    ctx: an mx.Context; data_shapes: [('data', (1, 3, H, W)), ('im_info', (1, 3))] of the
    first image.
    """

    def __init__(self, symbol, arg_params, aux_params, ctx, data_shapes):
        self.module = mx.mod.Module(symbol, data_names=TEST_DATA_NAMES, label_names=None,
                                    context=ctx)
        self.module.bind(data_shapes, for_training=False)
        self.module.set_params(arg_params, aux_params, allow_missing=False, allow_extra=True)
        self._shapes = list(data_shapes)
        self.ctx = ctx

    def predict(self, batch):
        """Forward one DataBatch -> dict of NumPy outputs keyed by TEST_OUTPUT_NAMES."""
        shapes = [(name, arr.shape) for name, arr in zip(TEST_DATA_NAMES, batch.data)]
        if shapes != self._shapes:
            self.module.reshape(shapes)
            self._shapes = shapes
        self.module.forward(batch, is_train=False)
        outputs = self.module.get_outputs()
        return {name: out.asnumpy() for name, out in zip(TEST_OUTPUT_NAMES, outputs)}


def voting_backend(test_cfg, ctx):
    """Mask-voting backend: 'gpu:N' with TEST.USE_GPU_MASK_MERGE on GPU context N, else
    'cython' (lib.masks.voting). On a CPU context TEST.USE_GPU_MASK_MERGE falls back to the
    compiled CPU voting (the same arithmetic) with a log line."""
    if not test_cfg.USE_GPU_MASK_MERGE:
        return 'cython'
    if ctx.device_type != 'gpu':
        logger.warning('TEST.USE_GPU_MASK_MERGE is true but the test runs on %s: mask voting '
                       'runs on the CPU (same arithmetic as the CUDA kernel)', ctx)
        return 'cython'
    return 'gpu:%d' % ctx.device_id


def kept_rois(rois, scale, test_cfg):
    """Indices (n,) of the ROIs (R, 4) in input pixels that MIN_DROP_SIZE keeps (see the
    module docstring for TEST.MIN_DROP_MODE)."""
    mode = test_cfg.MIN_DROP_MODE
    if mode not in MIN_DROP_MODES:
        raise ValueError('TEST.MIN_DROP_MODE must be one of %s, got %r' % (MIN_DROP_MODES, mode))
    boxes = rois if mode == 'release' else rois / scale
    if mode == 'release' and (test_cfg.ITER != 2 or test_cfg.MIN_DROP_SIZE <= 0):
        return np.arange(len(rois))
    widths = boxes[:, 2] - boxes[:, 0] + 1
    heights = boxes[:, 3] - boxes[:, 1] + 1
    return np.where((widths >= test_cfg.MIN_DROP_SIZE) & (heights >= test_cfg.MIN_DROP_SIZE))[0]


def _release_voting(masks, boxes, scores, frame, num_classes, test_cfg, backend):
    settings = ReleaseVoting(num_classes, max_per_image=test_cfg.max_per_image,
                             nms_thresh=test_cfg.NMS, merge_thresh=test_cfg.MASK_MERGE_THRESH,
                             binary_thresh=test_cfg.BINARY_THRESH,
                             score_floor=test_cfg.SCORE_THRESH, backend=backend)
    dets, soft = release_mask_voting(masks, boxes, scores, frame.vote_size(), settings)
    crops = [[]]
    for j in range(1, num_classes):
        dets[j], cls_crops = soft_masks_to_crops(dets[j], soft[j], frame.height, frame.width,
                                                 test_cfg.BINARY_THRESH)
        crops.append(cls_crops)
    return dets, crops


def image_detections(outputs, frame, num_classes, test_cfg, backend='cython'):
    """Detections of one image from the test outputs.

    outputs: rois (R, 5) in the resized image, cls_prob (R, C), seg_pred (R, 2, S, S).
    frame: ImageFrame of the image.
    Returns (dets, rles): per class j a (n_j, 5) array [x1, y1, x2, y2, score] in original
    pixels and a list of n_j full-image RLEs (index 0, background, stays empty).
    backend: mask-voting backend (:func:`voting_backend`).
    """
    keep = kept_rois(outputs['rois'][:, 1:5], frame.scale, test_cfg)
    boxes = outputs['rois'][keep, 1:5] / frame.scale  # (n, 4) original image pixels
    scores = outputs['cls_prob'][keep]  # (n, C)
    masks = outputs['seg_pred'][keep, 1]  # (n, S, S) foreground probability
    im_h, im_w = frame.height, frame.width
    mode = test_cfg.MASK_VOTE_MODE
    if mode not in MASK_VOTE_MODES:
        raise ValueError('TEST.MASK_VOTE_MODE must be one of %s, got %r' % (MASK_VOTE_MODES, mode))
    common = dict(num_classes=num_classes, max_per_image=test_cfg.max_per_image, im_h=im_h,
                  im_w=im_w, nms_thresh=test_cfg.NMS, binary_thresh=test_cfg.BINARY_THRESH,
                  score_thresh=test_cfg.SCORE_THRESH, backend=backend)
    if test_cfg.USE_MASK_MERGE and mode == 'release':
        dets, crops = _release_voting(masks, boxes, scores, frame, num_classes, test_cfg,
                                      backend)
    elif test_cfg.USE_MASK_MERGE:
        dets, crops = mask_voting(masks, boxes, scores, merge_thresh=test_cfg.MASK_MERGE_THRESH,
                                  **common)
    else:
        dets, crops = mask_nms(masks, boxes, scores, **common)
    rles = [crops_to_rles(dets[j], crops[j], im_h, im_w, backend) if j > 0 else []
            for j in range(num_classes)]
    return dets, rles


def run_test(predictor, test_loader, logger=None, frequent=20, governor=None):
    """Detect on every image of ``test_loader`` (a TestLoader) with ``predictor`` (an
    fcis.predictor.Predictor: forward and post-processing of one batch). ``governor``: a
    lib.utils.thread_governor.ThreadGovernor that runs each image's work and is stepped
    after it (None: FixedThreads, the caller's thread).

    Returns (all_boxes, all_masks, image_ids, seconds per image): all_boxes[i][j] (n, 5),
    all_masks[i][j] list of n RLEs, for image i and class j.
    """
    governor = governor or FixedThreads()
    all_boxes, all_masks, image_ids = [], [], []
    total = len(test_loader)
    start = time.time()
    test_loader.reset()
    for i, batch in enumerate(test_loader):
        entry = batch.entry
        frame = ImageFrame(batch.scale, entry['height'], entry['width'],
                           *batch.data[0].shape[2:4])
        dets, rles = governor.run(functools.partial(predictor.detect_batch, batch, frame))
        all_boxes.append(dets)
        all_masks.append(rles)
        image_ids.append(entry['image_id'])
        governor.step()
        done = i + 1
        if logger is not None and (done % frequent == 0 or done == total):
            per_image = (time.time() - start) / done
            logger.info('testing %d/%d images, %.3f s/image, ETA %.0f s'
                        % (done, total, per_image, per_image * (total - done)))
    test_loader.close()
    governor.close()
    seconds = (time.time() - start) / max(1, len(all_boxes))
    return all_boxes, all_masks, image_ids, seconds
