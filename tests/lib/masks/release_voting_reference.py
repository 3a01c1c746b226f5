"""NumPy/cv2 reference of the FCIS release's mask voting, written from its description
(image-sized vote map, every ROI with IoU >= merge_thresh votes with normalised weights,
tight box of the vote, S x S soft mask), for the tests of lib.masks.voting_release."""
import cv2
import numpy as np


def iou(a, b):
    """IoU of two (4,) boxes with +1 areas."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def greedy_nms(boxes, scores, thresh):
    """Indices kept by greedy NMS (IoU > thresh suppressed), best first; scores distinct."""
    order = list(np.argsort(-scores, kind='stable'))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [k for k in order if iou(boxes[i], boxes[k]) <= thresh]
    return keep


def reference_release_voting(masks, boxes, scores, num_classes, max_per_image, im_h, im_w,
                             nms_thresh=0.3, merge_thresh=0.5, binary_thresh=0.4):
    """-> (dets, soft) lists per class as lib.masks.voting_release.release_mask_voting."""
    boxes = np.asarray(boxes, np.float32).copy()
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, im_w - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, im_h - 1)
    scores = np.asarray(scores, np.float32)
    kept = [[]]
    for j in range(1, num_classes):
        kept.append(greedy_nms(boxes, scores[:, j], nms_thresh)[:max_per_image])
    best = sorted((scores[i, j] for j in range(1, num_classes) for i in kept[j]), reverse=True)
    thresh = max(best[min(len(best), max_per_image) - 1], np.float32(1e-3))
    pasted = []
    for i in range(len(boxes)):
        x1, y1, x2, y2 = np.round(boxes[i]).astype(int)
        resized = cv2.resize(masks[i].astype(np.float32), (x2 - x1 + 1, y2 - y1 + 1))
        pasted.append(((x1, y1, x2, y2), (resized >= binary_thresh).astype(np.float64)))
    dets, soft = [np.zeros((0, 5))], [np.zeros((0,) + masks.shape[1:])]
    for j in range(1, num_classes):
        cls_dets, cls_soft = [], []
        for k in kept[j]:
            if scores[k, j] < thresh:
                continue
            voters = [i for i in range(len(boxes)) if iou(boxes[i], boxes[k]) >= merge_thresh]
            weights = scores[voters, j] / sum(scores[voters, j])  # Python's sum, as the release
            vote = np.zeros((im_h, im_w))
            for i, w in zip(voters, weights):
                (x1, y1, x2, y2), binary = pasted[i]
                vote[y1:y2 + 1, x1:x2 + 1] += binary * w
            rows, cols = np.where(vote >= binary_thresh)
            if len(rows):
                box = [cols.min(), rows.min(), cols.max(), rows.max()]
            else:
                box = [im_w // 2, im_h // 2, im_w // 2, im_h // 2]
            crop = vote[box[1]:box[3] + 1, box[0]:box[2] + 1].astype(np.float32)
            cls_soft.append(cv2.resize(crop, masks.shape[1:][::-1]))
            cls_dets.append(box + [scores[k, j]])
        dets.append(np.array(cls_dets, np.float32).reshape(-1, 5))
        soft.append(np.array(cls_soft, np.float32).reshape((-1,) + masks.shape[1:]))
    return dets, soft
