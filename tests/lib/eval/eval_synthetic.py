"""Small synthetic COCO ground truth for the evaluation tests, built from NumPy masks.

A plain module (not conftest.py) so that tests import its helpers by a unique name.
"""
import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO


def encode(mask):
    """COCO RLE (counts bytes) of a (H, W) 0/1 array."""
    return mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))


def box_mask(height, width, y1, x1, y2, x2):
    """(H, W) uint8 mask of the inclusive rectangle rows y1..y2, columns x1..x2."""
    mask = np.zeros((height, width), np.uint8)
    mask[y1:y2 + 1, x1:x2 + 1] = 1
    return mask


def build_coco(images, annotations, categories):
    """pycocotools COCO object from plain lists.

    images: [(image_id, height, width)]; annotations: [(image_id, category_id, (H, W) mask,
    iscrowd)]; categories: [(category_id, name)].
    """
    dataset = {'images': [{'id': i, 'height': h, 'width': w, 'file_name': '%d.png' % i}
                          for i, h, w in images],
               'categories': [{'id': c, 'name': n} for c, n in categories],
               'annotations': []}
    for ann_id, (image_id, category_id, mask, crowd) in enumerate(annotations, 1):
        rle = encode(mask)
        dataset['annotations'].append({
            'id': ann_id, 'image_id': image_id, 'category_id': category_id, 'iscrowd': crowd,
            'segmentation': {'size': rle['size'], 'counts': rle['counts'].decode('ascii')},
            'area': float(mask_util.area(rle)), 'bbox': [float(v) for v in mask_util.toBbox(rle)]})
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    return coco


def ellipse_mask(height, width, cy, cx, ry, rx):
    """(H, W) uint8 filled axis-aligned ellipse."""
    ys, xs = np.mgrid[0:height, 0:width]
    return ((((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2) <= 1.0).astype(np.uint8)


# Non-contiguous COCO ids, as in real COCO; contiguous classes 1..3 map to them.
CATEGORIES = [(3, 'square'), (7, 'disc'), (11, 'bar')]
CLASS_TO_COCO_ID = {1: 3, 2: 7, 3: 11}


def synthetic_gt():
    """Three images of odd sizes, several instances per image (some touching/overlapping)."""
    images = [(101, 40, 50), (102, 31, 60), (205, 45, 45)]
    annotations = [
        (101, 3, box_mask(40, 50, 2, 3, 15, 20), 0),
        (101, 7, ellipse_mask(40, 50, 25, 30, 8, 12), 0),
        (101, 7, ellipse_mask(40, 50, 10, 40, 6, 6), 0),
        (102, 11, box_mask(31, 60, 5, 1, 9, 55), 0),
        (102, 3, box_mask(31, 60, 12, 10, 29, 27), 0),
        (205, 7, ellipse_mask(45, 45, 22, 22, 15, 10), 0),
        (205, 11, box_mask(45, 45, 40, 0, 43, 44), 0),
        (205, 3, box_mask(45, 45, 0, 30, 8, 44), 0),
    ]
    return build_coco(images, annotations, CATEGORIES)


def gt_as_detections(coco, score=1.0):
    """Ground truth of ``coco`` in the tester's per-image per-class structure.

    Returns image_ids, all_boxes[i][j] (n, 5) x1,y1,x2,y2 inclusive + score, all_masks[i][j].
    """
    coco_to_class = {cid: j for j, cid in CLASS_TO_COCO_ID.items()}
    image_ids = sorted(coco.getImgIds())
    num_classes = len(CLASS_TO_COCO_ID) + 1
    all_boxes, all_masks = [], []
    for image_id in image_ids:
        boxes = [[] for _ in range(num_classes)]
        masks = [[] for _ in range(num_classes)]
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])):
            x, y, w, h = ann['bbox']
            j = coco_to_class[ann['category_id']]
            boxes[j].append([x, y, x + w - 1, y + h - 1, score])
            masks[j].append(coco.annToRLE(ann))
        all_boxes.append([np.array(b, np.float32).reshape(-1, 5) for b in boxes])  # (n, 5)
        all_masks.append(masks)
    return image_ids, all_boxes, all_masks
