"""Ground truth of any image database as an in-memory pycocotools COCO object.

COCO-format datasets carry their own ``COCO`` object; others (PASCAL VOC SDS) are turned
into one here from their roidb, so that both evaluations (COCOeval and SDS mAP^r) read
one kind of ground truth. Category ids are the contiguous class indices 1..C-1.
"""
import numpy as np
import pycocotools.mask as mask_utils
from pycocotools.coco import COCO


def coco_from_roidb(roidb, classes):
    """roidb (unflipped entries) + class names (index 0 background) -> pycocotools COCO.

    Each entry gives one image (``image_id``, ``height``, ``width``) and one annotation per
    instance (``masks[k]`` RLE, ``gt_classes[k]``); areas are mask areas, boxes COCO xywh.
    """
    images, annotations = [], []
    for entry in roidb:
        if entry.get('flipped', False):
            continue
        images.append({'id': entry['image_id'], 'height': int(entry['height']),
                       'width': int(entry['width']), 'file_name': entry['image']})
        for rle, cls in zip(entry['masks'], np.asarray(entry['gt_classes']).tolist()):
            rle = dict(rle)
            area = float(mask_utils.area(rle))
            x, y, w, h = mask_utils.toBbox(rle).tolist()
            annotations.append({'id': len(annotations) + 1, 'image_id': entry['image_id'],
                                'category_id': int(cls), 'segmentation': rle, 'area': area,
                                'bbox': [x, y, w, h], 'iscrowd': 0})
    coco = COCO()
    coco.dataset = {'images': images, 'annotations': annotations,
                    'categories': [{'id': j, 'name': name} for j, name in enumerate(classes) if j > 0]}
    coco.createIndex()
    return coco
