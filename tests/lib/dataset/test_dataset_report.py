"""The dataset report counts a hand-made COCO-format set with known defects exactly: images,
images used, instances per class, crowd regions, and each left-out annotation and image by
reason with its ids."""
import json
import logging
import os

import numpy as np
import pycocotools.mask as mask_utils

from lib.dataset.coco import COCODataset
from lib.dataset.report import dataset_report, format_report
from lib.dataset.roidb import append_flipped

H, W = 40, 50


def rle(x1, y1, x2, y2):
    mask = np.zeros((H, W), np.uint8)
    mask[y1:y2 + 1, x1:x2 + 1] = 1
    return {'size': [H, W], 'counts': mask_utils.encode(np.asfortranarray(mask))['counts'].decode()}


def ann(ann_id, image_id, cat, bbox=(5, 5, 10, 10), segm='rect', **extra):
    out = {'id': ann_id, 'image_id': image_id, 'category_id': cat, 'iscrowd': 0, 'area': 100.0,
           'bbox': list(bbox)}
    if segm is not None:
        out['segmentation'] = rle(5, 5, 14, 14) if segm == 'rect' else segm
    out.update(extra)
    return out


ANNOTATIONS = [
    ann(1, 1, 3), ann(2, 1, 8), ann(3, 1, 3, iscrowd=1),
    ann(4, 1, 8, bbox=(200, 5, 10, 10)),                 # box right of the 50-pixel image
    ann(5, 2, 3, segm=[]),                               # no polygon
    ann(6, 2, 8, segm=None),                             # no 'segmentation'
    ann(7, 4, 3, iscrowd=1),                             # image 4: a crowd region only
    ann(8, 5, 8, area=0.0), ann(9, 5, 8),
    ann(10, 99, 3),                                      # image 99 does not exist
] + [ann(20 + k, 6, 3, segm=[[1, 1, 2, 2]]) for k in range(7)]  # too few points: empty


def write(tmp_path, annotations=ANNOTATIONS):
    content = {'images': [{'id': i, 'file_name': '%d.jpg' % i, 'height': H, 'width': W}
                          for i in range(1, 7)],
               'annotations': annotations,
               'categories': [{'id': 3, 'name': 'bar'}, {'id': 8, 'name': 'block'}]}
    path = str(tmp_path / 'set.json')
    with open(path, 'w') as f:
        json.dump(content, f)
    os.makedirs(str(tmp_path / 'images'), exist_ok=True)
    return COCODataset('mine', str(tmp_path), str(tmp_path), 3,
                       paths=(path, str(tmp_path / 'images')))


def test_report_counts_every_defect_by_reason(tmp_path, caplog):
    imdb = write(tmp_path)
    with caplog.at_level(logging.WARNING):
        roidb = imdb.gt_roidb()
    assert 'left out 11 annotations' in caplog.text
    assert "ignored 1 annotations whose image_id is not in 'images' (annotation ids 10)" in caplog.text
    report = dataset_report(roidb, imdb.classes)
    assert report['images'] == 6 and report['images_used'] == 2 and report['crowd'] == 2
    assert dict(report['instances']) == {'bar': 1, 'block': 2}
    assert {r: (s['count'], s['ids']) for r, s in report['skipped_annotations'].items()} == {
        'empty box': (1, [4]), 'empty segmentation': (8, [5, 20, 21, 22, 23]),
        'no segmentation': (1, [6]), 'zero area': (1, [8])}
    assert {r: (s['count'], s['ids']) for r, s in report['skipped_images'].items()} == {
        'every annotation left out': (2, [2, 6]), 'no annotations': (1, [3]),
        'only crowd regions': (1, [4])}
    assert dataset_report(append_flipped(roidb), imdb.classes) == report  # copies not counted


def test_report_table(tmp_path):
    imdb = write(tmp_path)
    text = format_report(dataset_report(imdb.gt_roidb(), imdb.classes), 'mine:')
    lines = text.splitlines()
    assert lines[0] == 'mine:'
    assert '  images used                            2' in lines
    assert '    block                                2' in lines
    assert '  annotations left out                  11' in lines
    assert '    empty segmentation                   8   ids 5, 20, 21, 22, 23, ...' in lines
    assert '    only crowd regions                   1   ids 4' in lines
