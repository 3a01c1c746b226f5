"""A small hand-made COCO-format set for the own-data tests (a plain module, not a conftest).

``write_own_set(folder)`` writes ``folder/images/*.jpg`` (one flat folder for both splits),
``folder/train.json`` and ``folder/val.json``: 6 images of 64x96 (height x width), 4 train and
2 val, each with a filled rectangle per instance on a gray background. Masks are exact
compressed RLE of the rectangles; categories have the non-contiguous ids 3 ('bar') and
8 ('block'). ``cli_overrides`` points the shapes YAML at such a set.
"""
import copy
import json
import os

import cv2
import numpy as np
import pycocotools.mask as mask_utils

HEIGHT, WIDTH = 64, 96
CATEGORIES = [{'id': 3, 'name': 'bar'}, {'id': 8, 'name': 'block'}]
# per image: (image id, split, [(annotation id, category id, x1, y1, x2, y2 inclusive)])
LAYOUT = [
    (1, 'train', [(11, 3, 8, 10, 30, 50), (12, 8, 50, 20, 85, 45)]),
    (2, 'train', [(21, 8, 10, 5, 60, 40)]),
    (3, 'train', [(31, 3, 40, 8, 70, 58), (32, 3, 5, 30, 25, 60)]),
    (4, 'train', [(41, 8, 20, 15, 80, 50)]),
    (5, 'val', [(51, 3, 10, 10, 40, 55)]),
    (6, 'val', [(61, 8, 30, 5, 90, 40), (62, 3, 5, 35, 25, 60)]),
]
COLORS = {3: (40, 40, 220), 8: (220, 160, 40)}


def rect_mask(x1, y1, x2, y2, height=HEIGHT, width=WIDTH):
    """(height, width) uint8 mask of the inclusive rectangle."""
    mask = np.zeros((height, width), np.uint8)
    mask[y1:y2 + 1, x1:x2 + 1] = 1
    return mask


def annotation(ann_id, image_id, cat, x1, y1, x2, y2):
    """COCO annotation of an inclusive rectangle, its mask as compressed RLE."""
    rle = mask_utils.encode(np.asfortranarray(rect_mask(x1, y1, x2, y2)))
    return {'id': ann_id, 'image_id': image_id, 'category_id': cat, 'iscrowd': 0,
            'area': float((x2 - x1 + 1) * (y2 - y1 + 1)),
            'bbox': [x1, y1, x2 - x1 + 1, y2 - y1 + 1],
            'segmentation': {'size': [HEIGHT, WIDTH], 'counts': rle['counts'].decode('ascii')}}


def split_content(split):
    """The COCO dict of ``split`` ('train' or 'val') of LAYOUT."""
    images, anns = [], []
    for image_id, image_split, objects in LAYOUT:
        if image_split != split:
            continue
        images.append({'id': image_id, 'file_name': 'im%d.jpg' % image_id,
                       'height': HEIGHT, 'width': WIDTH})
        anns += [annotation(a, image_id, c, *box) for a, c, *box in objects]
    return {'images': images, 'annotations': anns, 'categories': copy.deepcopy(CATEGORIES)}


def write_json(path, content):
    with open(path, 'w') as f:
        json.dump(content, f, indent=1)
    return path


def write_own_set(folder):
    """Write the set into ``folder``; returns {'train': json path, 'val': json path, 'images': dir}."""
    images = os.path.join(folder, 'images')
    os.makedirs(images, exist_ok=True)
    for image_id, _, objects in LAYOUT:
        picture = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
        for _, cat, x1, y1, x2, y2 in objects:
            picture[y1:y2 + 1, x1:x2 + 1] = COLORS[cat]
        cv2.imwrite(os.path.join(images, 'im%d.jpg' % image_id), picture)
    return {'train': write_json(os.path.join(folder, 'train.json'), split_content('train')),
            'val': write_json(os.path.join(folder, 'val.json'), split_content('val')),
            'images': images}


def cli_overrides(paths, work, *extra):
    """KEY=VALUE overrides of a tiny run of the shapes YAML on the set ``paths`` (write_own_set),
    caches and outputs under ``work``; 64x96 images scaled x2 to 128x192."""
    return ['output_path=%s' % os.path.join(work, 'out'),
            'dataset.root_path=%s' % os.path.join(work, 'cache_root'),
            'dataset.dataset_path=%s' % os.path.join(work, 'no_dataset_here'),
            'dataset.NUM_CLASSES=3',
            'dataset.train_annotation_file=%s' % paths['train'],
            'dataset.train_image_root=%s' % paths['images'],
            'dataset.test_annotation_file=%s' % paths['val'],
            'dataset.test_image_root=%s' % paths['images'],
            'SCALES=[[128, 192]]', 'network.ANCHOR_SCALES=[2,4,8]', 'default.frequent=1',
            'TRAIN.end_epoch=1', 'TRAIN.warmup_step=2', 'TEST.test_epoch=1',
            'TEST.VIS_NUM=1'] + list(extra)
