"""SDS mAP^r: VOC07 11-point average precision of instance masks at mask IoU thresholds.

For every class and threshold t:

1. Detections of the class are ordered by score, descending; ties keep their order in the
   results file (stable sort).
2. Each detection, in that order, takes the non-crowd ground-truth instance of its image and
   class with which its mask IoU is highest (VOC / SDS rule). If that IoU is >= t and the
   instance is still unmatched, the detection is a true positive and the instance becomes
   matched; if the instance is already matched, the detection is a duplicate and a false
   positive (it does not fall back to another instance).
3. Crowd regions (``iscrowd`` = 1) are ignored: a detection that is not a true or duplicate
   match of a non-crowd instance (best IoU < t) but covers a crowd region of its class
   with intersection / detection area >= t (the COCO crowd overlap) is dropped: neither
   true nor false positive. Crowd instances are not counted as ground truth.
4. AP = mean over recall levels r in {0, 0.1, ..., 1} of the highest precision at
   recall >= r (0 if none) (VOC07 11-point). Recall divides by the number of non-crowd
   ground-truth instances of the class in the evaluated images.
5. mAP^r@t = mean of AP over the classes that have at least one non-crowd ground-truth
   instance; classes without ground truth are skipped (their detections do not count).

Under rule 2, a detection's outcome depends only on earlier detections of the same image,
so images are matched one at a time, vectorized: the true positives are exactly the first
detection (in score order) whose best instance is g with IoU >= t, for every instance g.
"""
from collections import defaultdict

import numpy as np

from lib.masks.rle import mask_iou

from .coco_eval import load_coco_gt
from .results import load_results

DEFAULT_THRESHOLDS = (0.5, 0.7)
TRUE_POSITIVE, FALSE_POSITIVE, IGNORED = 1, 0, -1


def threshold_key(threshold):
    """Readable key of a threshold: 0.5 -> 'mAP^r@0.5'."""
    return 'mAP^r@%g' % threshold


def recall_key(threshold):
    """Key of a class's recall at a threshold: 0.5 -> 'recall@0.5'."""
    return 'recall@%g' % threshold


def voc07_ap(recall, precision):
    """VOC07 11-point AP from (n,) recall and (n,) precision of the ranked detections."""
    recall, precision = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    ap = 0.0
    for level in np.linspace(0.0, 1.0, 11):
        above = precision[recall >= level - 1e-12]
        ap += above.max() if above.size else 0.0
    return ap / 11.0


def label_image_detections(dt_rles, gt_rles, crowd_rles, thresholds):
    """Outcome of one image's detections of one class, already sorted by score.

    dt_rles: n detection RLEs; gt_rles: g non-crowd RLEs; crowd_rles: c crowd RLEs.
    Returns (n, T) int8: TRUE_POSITIVE, FALSE_POSITIVE or IGNORED per threshold.
    """
    num_dt = len(dt_rles)
    labels = np.full((num_dt, len(thresholds)), FALSE_POSITIVE, np.int8)
    if num_dt == 0:
        return labels
    ious = mask_iou(dt_rles, gt_rles)  # (n, g)
    crowd_overlap = mask_iou(dt_rles, crowd_rles, [1] * len(crowd_rles))  # (n, c)
    best_gt = ious.argmax(axis=1) if ious.shape[1] else np.zeros(num_dt, np.int64)  # (n,)
    best_iou = ious.max(axis=1) if ious.shape[1] else np.zeros(num_dt)  # (n,)
    best_crowd = crowd_overlap.max(axis=1) if crowd_overlap.shape[1] else np.zeros(num_dt)
    for k, threshold in enumerate(thresholds):
        hits = np.flatnonzero(best_iou >= threshold)  # detections reaching their best instance
        _, first = np.unique(best_gt[hits], return_index=True)
        labels[hits[first], k] = TRUE_POSITIVE  # first claim of each instance; later = duplicate
        in_crowd = (best_iou < threshold) & (best_crowd >= threshold)
        labels[in_crowd, k] = IGNORED
    return labels


def group_ground_truth(coco_gt, image_ids):
    """{category_id: {image_id: (non-crowd RLEs, crowd RLEs)}} for the given images."""
    groups = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for ann in coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=list(image_ids))):
        crowd = int(ann.get('iscrowd', 0))
        groups[ann['category_id']][ann['image_id']][crowd].append(coco_gt.annToRLE(ann))
    return groups


def group_detections(results, image_ids, category_ids):
    """{category_id: {image_id: [(score, file index, RLE), ...]}} for the given images."""
    known_categories = set(category_ids)
    groups = defaultdict(lambda: defaultdict(list))
    for index, det in enumerate(results):
        if det['image_id'] not in image_ids:
            continue
        if det['category_id'] not in known_categories:
            raise ValueError("results hold category_id %r that is not in the ground truth "
                             "categories: map classes with the dataset's class_to_coco_id"
                             % det['category_id'])
        groups[det['category_id']][det['image_id']].append(
            (float(det['score']), index, det['segmentation']))
    return groups


def label_class_detections(dets_by_image, gt_by_image, thresholds):
    """Match one class image by image.

    Returns (n,) scores, (n,) file indices and (n, T) labels of all its detections.
    """
    scores, order_keys, labels = [], [], [np.zeros((0, len(thresholds)), np.int8)]
    for image_id, dets in dets_by_image.items():
        dets = sorted(dets, key=lambda d: (-d[0], d[1]))  # score desc, stable
        gts, crowds = gt_by_image.get(image_id, ([], []))
        labels.append(label_image_detections([d[2] for d in dets], gts, crowds, thresholds))
        scores.extend(d[0] for d in dets)
        order_keys.extend(d[1] for d in dets)
    return (np.array(scores, np.float64), np.array(order_keys, np.int64),
            np.concatenate(labels))  # (n,), (n,), (n, T)


def class_average_precisions(scores, order_keys, labels, num_gt):
    """AP and recall of one class from its (n,) scores, (n,) file indices and (n, T) labels.

    Returns ((T,) AP, (T,) recall of all its detections = found instances / num_gt). With
    VOC07 11-point AP a recall below 1 loses the recall-1.0 point: AP <= 10/11.
    """
    order = np.lexsort((order_keys, -scores))  # score descending, file order on ties
    labels = labels[order]  # (n, T)
    aps, recalls = np.zeros(labels.shape[1]), np.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        kept = labels[labels[:, k] != IGNORED, k]  # (m,)
        tp = np.cumsum(kept == TRUE_POSITIVE)
        fp = np.cumsum(kept == FALSE_POSITIVE)
        recall = tp / float(num_gt)
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps[k] = voc07_ap(recall, precision)
        recalls[k] = recall[-1] if recall.size else 0.0
    return aps, recalls


def sds_eval(coco_gt, results, thresholds=DEFAULT_THRESHOLDS, image_ids=None):
    """SDS mAP^r of a results file (see module doc for the exact rules).

    coco_gt: pycocotools COCO object or annotation path (VOC SDS in COCO form or any COCO
    ground truth). results: results JSON path or list of result dicts. image_ids: images to
    evaluate (default: all of coco_gt); detections on other images are left out.
    Returns {'mAP^r@0.5': float, 'mAP^r@0.7': float, ..., 'num_classes': int,
    'per_class': {category name: {'mAP^r@0.5': AP, ..., 'recall@0.5': recall, ...}}} over
    classes with ground truth (recall: instances matched by any detection / instances).
    """
    coco_gt = load_coco_gt(coco_gt)
    results = load_results(results)
    thresholds = [float(t) for t in thresholds]
    if not thresholds or not all(0.0 < t <= 1.0 for t in thresholds):
        raise ValueError('SDS thresholds must be mask IoUs in (0, 1], got %r' % (thresholds,))
    all_images = set(coco_gt.getImgIds())
    image_ids = all_images if image_ids is None else set(int(i) for i in image_ids)
    unknown = set(det['image_id'] for det in results) - all_images
    if unknown:
        raise ValueError('results hold image ids %s that are not in the ground truth: evaluate '
                         'against the annotation file the detections were made on'
                         % sorted(unknown)[:5])
    category_ids = sorted(coco_gt.getCatIds())
    gt_groups = group_ground_truth(coco_gt, image_ids)
    dt_groups = group_detections(results, image_ids, category_ids)

    per_class = {}
    for category_id in category_ids:
        gt_by_image = gt_groups.get(category_id, {})
        num_gt = sum(len(gts) for gts, _ in gt_by_image.values())
        if num_gt == 0:
            continue
        scores, order_keys, labels = label_class_detections(
            dt_groups.get(category_id, {}), gt_by_image, thresholds)
        aps, recalls = class_average_precisions(scores, order_keys, labels, num_gt)  # (T,) each
        name = coco_gt.cats[category_id].get('name', str(category_id))
        per_class[name] = {threshold_key(t): float(ap) for t, ap in zip(thresholds, aps)}
        per_class[name].update({recall_key(t): float(r) for t, r in zip(thresholds, recalls)})

    summary = {}
    for t in thresholds:
        class_aps = [aps[threshold_key(t)] for aps in per_class.values()]
        summary[threshold_key(t)] = float(np.mean(class_aps)) if class_aps else 0.0
    summary['num_classes'] = len(per_class)
    summary['per_class'] = per_class
    return summary
