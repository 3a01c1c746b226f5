"""Input and output names of the FCIS symbols: the one place loaders, module and metrics
read them from.

MXNet names output i of the symbol ``OUTPUT_NAMES[i] + '_output'`` (``sym.list_outputs()``).

Training inputs (N images, A anchors, fh x fw the res4 map, K ground-truth instances):

* data (N, 3, H, W), im_info (N, 3) [height, width, scale]
* gt_boxes (1, K, 5) [x1, y1, x2, y2, class], gt_masks (1, K, H, W)
* label (N, A*fh*fw) RPN labels (1 fg, 0 bg, -1 ignore) in anchor order a*fh*fw + y*fw + x
* bbox_target, bbox_weight (N, 4A, fh, fw) RPN box targets (channel 4a + k)

Training outputs (B = sampled ROIs, S = 21, C classes):

0. rpn_cls_prob  (N, 2, A*fh, fw)  RPN bg/fg probabilities
1. rpn_bbox_loss (N, 4A, fh, fw)   weighted smooth-L1 of the RPN deltas (before 1/256)
2. cls_prob      (B, C)            class probabilities of the ROIs
3. bbox_loss     (B, 8)            weighted smooth-L1 of the ROI deltas (before 1/B)
4. seg_prob      (B, 2, S, S)      mask probabilities (outside, inside) of the label's class
5. rpn_label     (N, A*fh*fw)      the RPN labels (input ``label``), no gradient
6. rcnn_label    (B,)              ROI labels used by the loss (-1 = not selected by OHEM)
7. mask_target   (B, S, S)         ROI mask targets used by the loss (-1 = ignored)

Test inputs: data, im_info. Test outputs (R = TEST.RPN_POST_NMS_TOP_N * TEST.ITER ROIs per
image, e.g. 600):

0. rois      (R, 5)        [batch index, x1, y1, x2, y2] in the resized image; the first
                           R/2 are the proposals, the next R/2 (ITER=2) those boxes moved by
                           their predicted deltas
1. cls_prob  (R, C)        class probabilities
2. bbox_pred (R, 8)        class-agnostic deltas [bg 4, fg 4], normalized by BBOX_STDS/MEANS
3. seg_pred  (R, 2, S, S)  per-pixel softmax (outside, inside) of the top foreground class
                           (channel 1 = foreground probability of the mask)
"""

TRAIN_DATA_NAMES = ('data', 'im_info', 'gt_boxes', 'gt_masks')
TRAIN_LABEL_NAMES = ('label', 'bbox_target', 'bbox_weight')
TEST_DATA_NAMES = ('data', 'im_info')

TRAIN_OUTPUT_NAMES = ('rpn_cls_prob', 'rpn_bbox_loss', 'cls_prob', 'bbox_loss', 'seg_prob',
                      'rpn_label', 'rcnn_label', 'mask_target')
TEST_OUTPUT_NAMES = ('rois', 'cls_prob', 'bbox_pred', 'seg_pred')
