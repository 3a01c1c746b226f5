"""COCO-format reading: polygons, uncompressed and compressed RLE, crowd, empty images,
non-contiguous category ids, class maps, joined sets and error messages."""
import json
import logging
import os

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from pycocotools.coco import COCO

from lib.dataset import decode_masks, filter_roidb, get_imdb
from lib.dataset.coco import COCODataset

H, W = 40, 50


def column_major_rle(mask):
    """Uncompressed COCO RLE counts of a binary mask (written here, independently of pycocotools)."""
    flat = mask.astype(np.uint8).flatten(order='F')
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            counts.append(run)
            value, run = pixel, 1
    counts.append(run)
    return counts


def box_mask(x1, y1, x2, y2, h=H, w=W):
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[y1:y2 + 1, x1:x2 + 1] = 1
    return mask


RLE_MASK = box_mask(30, 2, 44, 12)
RLE_MASK[5:8, 35:40] = 0                              # a hole: not a plain rectangle
COMPRESSED_MASK = box_mask(2, 25, 12, 38)
CROWD_MASK = box_mask(30, 25, 39, 34)


def coco_content(extra_annotations=()):
    compressed = mask_utils.encode(np.asfortranarray(COMPRESSED_MASK))
    anns = [
        {'id': 1, 'image_id': 1, 'category_id': 7, 'iscrowd': 0, 'area': 300.0,
         'bbox': [5, 5, 20, 15], 'segmentation': [[5, 5, 25, 5, 25, 20, 5, 20]]},
        {'id': 2, 'image_id': 1, 'category_id': 12, 'iscrowd': 0, 'area': float(RLE_MASK.sum()),
         'bbox': [30, 2, 15, 11], 'segmentation': {'size': [H, W], 'counts': column_major_rle(RLE_MASK)}},
        {'id': 3, 'image_id': 1, 'category_id': 3, 'iscrowd': 0, 'area': float(COMPRESSED_MASK.sum()),
         'bbox': [2, 25, 11, 14], 'segmentation': {'size': [H, W], 'counts': compressed['counts'].decode()}},
        {'id': 4, 'image_id': 1, 'category_id': 3, 'iscrowd': 1, 'area': 100.0,
         'bbox': [30, 25, 10, 10], 'segmentation': {'size': [H, W], 'counts': column_major_rle(CROWD_MASK)}},
        {'id': 5, 'image_id': 1, 'category_id': 7, 'iscrowd': 0, 'area': 0.0,
         'bbox': [10, 10, 0, 5], 'segmentation': [[10, 10, 10, 15, 10, 12]]},   # degenerate: ignored
        {'id': 6, 'image_id': 3, 'category_id': 12, 'iscrowd': 0, 'area': 50.0, 'bbox': [1, 1, 18, 8],
         'segmentation': [[1, 1, 6, 1, 6, 6, 1, 6], [12, 2, 18, 2, 18, 8, 12, 8]]},  # two parts
    ] + list(extra_annotations)
    return {'images': [{'id': 1, 'file_name': 'one.jpg', 'height': H, 'width': W},
                       {'id': 2, 'file_name': 'two.jpg', 'height': 30, 'width': 20},
                       {'id': 3, 'file_name': 'three.jpg', 'height': 20, 'width': 25}],
            'annotations': anns,
            'categories': [{'id': 12, 'name': 'zebra'}, {'id': 3, 'name': 'cat'}, {'id': 7, 'name': 'dog'}]}


def write_set(dataset_path, image_set, content, image_folder=None):
    os.makedirs(os.path.join(dataset_path, 'annotations'), exist_ok=True)
    os.makedirs(os.path.join(dataset_path, 'images', image_folder or image_set), exist_ok=True)
    path = os.path.join(dataset_path, 'annotations', 'instances_%s.json' % image_set)
    with open(path, 'w') as f:
        json.dump(content, f)
    return path


@pytest.fixture
def custom(tmp_path):
    path = write_set(str(tmp_path / 'coco'), 'custom', coco_content())
    return str(tmp_path), str(tmp_path / 'coco'), path


def test_classes_and_category_maps(custom):
    root, dataset, _ = custom
    imdb = get_imdb('coco', 'custom', root, dataset, num_classes=4)
    assert imdb.classes == ['__background__', 'cat', 'dog', 'zebra']
    assert imdb.class_to_coco_id == {1: 3, 2: 7, 3: 12}
    assert imdb.coco_id_to_class == {3: 1, 7: 2, 12: 3}
    assert imdb.image_ids == [1, 2, 3]
    assert sorted(imdb.coco.getCatIds()) == [3, 7, 12]


def test_entries_match_pycocotools(custom, caplog):
    root, dataset, path = custom
    reference = COCO(path)
    with caplog.at_level(logging.WARNING):
        roidb = COCODataset('custom', root, dataset).gt_roidb()
    assert 'left out 1 annotations' in caplog.text
    first = roidb[0]
    assert first['skipped'] == [('empty segmentation', 5)] and roidb[2]['skipped'] == []
    assert first['image'] == os.path.join(dataset, 'images', 'custom', 'one.jpg')
    assert (first['height'], first['width'], first['image_id'], first['flipped']) == (H, W, 1, False)
    np.testing.assert_array_equal(first['gt_classes'], [2, 3, 1])
    assert first['boxes'].dtype == np.float32 and first['gt_classes'].dtype == np.int32
    np.testing.assert_array_equal(first['boxes'], [[5, 5, 24, 19], [30, 2, 44, 12], [2, 25, 12, 38]])
    masks = decode_masks(first)
    assert masks.shape == (3, H, W) and masks.dtype == np.uint8
    np.testing.assert_array_equal(masks[0], reference.annToMask(reference.anns[1]))
    np.testing.assert_array_equal(masks[1], RLE_MASK)
    np.testing.assert_array_equal(masks[2], COMPRESSED_MASK)
    np.testing.assert_array_equal(first['crowd_boxes'], [[30, 25, 39, 34]])
    third = roidb[2]
    np.testing.assert_array_equal(decode_masks(third)[0], reference.annToMask(reference.anns[6]))


def test_image_without_annotations_is_kept_then_filtered(custom, caplog):
    root, dataset, _ = custom
    roidb = COCODataset('custom', root, dataset).gt_roidb()
    empty = roidb[1]
    assert empty['boxes'].shape == (0, 4) and empty['gt_classes'].shape == (0,)
    assert decode_masks(empty).shape == (0, 30, 20)
    flipped = COCODataset('custom', root, dataset).append_flipped_images(roidb)
    with caplog.at_level(logging.INFO):
        kept = filter_roidb(flipped)
    assert len(kept) == 4 and all(len(e['boxes']) for e in kept)
    assert 'dropped 2 of 6 images' in caplog.text


def test_flipped_entry_mirrors_boxes_and_masks(custom):
    root, dataset, _ = custom
    imdb = COCODataset('custom', root, dataset)
    roidb = imdb.gt_roidb()
    flipped = imdb.append_flipped_images(roidb)[len(roidb)]
    np.testing.assert_array_equal(flipped['boxes'][:, [0, 2]], W - 1 - roidb[0]['boxes'][:, [2, 0]])
    np.testing.assert_array_equal(flipped['crowd_boxes'], [[W - 1 - 39, 25, W - 1 - 30, 34]])
    np.testing.assert_array_equal(decode_masks(flipped), decode_masks(roidb[0])[:, :, ::-1])


def test_num_classes_mismatch_is_a_clear_error(custom):
    root, dataset, _ = custom
    with pytest.raises(ValueError, match='NUM_CLASSES=81 does not match .*set dataset.NUM_CLASSES to 4'):
        get_imdb('coco', 'custom', root, dataset, num_classes=81)


def test_bad_input_errors(tmp_path):
    dataset = str(tmp_path / 'coco')
    with pytest.raises(IOError, match='instances_nope.json'):
        get_imdb('coco', 'nope', str(tmp_path), dataset)
    bad = coco_content([{'id': 9, 'image_id': 1, 'category_id': 99, 'iscrowd': 0, 'area': 4.0,
                         'bbox': [0, 0, 2, 2], 'segmentation': [[0, 0, 2, 0, 2, 2]]}])
    write_set(dataset, 'bad', bad)
    with pytest.raises(ValueError, match='annotation 9 .* category_id 99'):
        get_imdb('coco', 'bad', str(tmp_path), dataset).gt_roidb()
    with pytest.raises(ValueError, match="unknown dataset 'voc'"):
        get_imdb('voc', 'x', str(tmp_path), dataset)


def test_joined_sets_and_shared_image_folder(tmp_path):
    root, dataset = str(tmp_path), str(tmp_path / 'coco')
    write_set(dataset, 'minival2014', coco_content(), image_folder='val2014')
    write_set(dataset, 'train2014', coco_content())
    imdb = get_imdb('coco', 'train2014+minival2014', root, dataset, num_classes=4)
    roidb = imdb.gt_roidb()
    assert len(roidb) == 6 and imdb.num_classes == 4 and imdb.class_to_coco_id[3] == 12
    assert roidb[0]['image'].endswith(os.path.join('images', 'train2014', 'one.jpg'))
    assert roidb[3]['image'].endswith(os.path.join('images', 'val2014', 'one.jpg'))
    other = coco_content()
    other['categories'][0]['name'] = 'horse'
    write_set(dataset, 'other', other)
    with pytest.raises(ValueError, match='different classes'):
        get_imdb('coco', 'train2014+other', root, dataset)
