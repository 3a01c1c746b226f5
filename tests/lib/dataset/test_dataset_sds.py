"""PASCAL VOC SDS on a tiny SBD-format fixture written with scipy.io.savemat."""
import os

import cv2
import numpy as np
import pytest
import scipy.io

from lib.dataset import decode_masks, get_imdb
from lib.dataset.sds import VOC_CLASSES


def write_mat(path, struct_name, fields):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    scipy.io.savemat(path, {struct_name: fields})


def make_fixture(folder):
    """Three images: two instances with Categories, one instance only (scalar after squeeze),
    and one whose inst file lacks Categories (class read from the cls map)."""
    h, w = 24, 32
    # image a: person (15) and car (7); instance 2 is bordered by 255 boundary pixels
    inst_a = np.zeros((h, w), np.uint8)
    inst_a[2:10, 3:12] = 1
    inst_a[12:22, 15:30] = 2
    inst_a[11, 14:31] = 255
    cls_a = np.where(inst_a == 1, 15, np.where(inst_a == 2, 7, 0)).astype(np.uint8)
    cls_a[inst_a == 255] = 255
    # image b: one dog (12), touching the right border
    inst_b = np.zeros((h, w), np.uint8)
    inst_b[5:20, 20:32] = 1
    cls_b = (inst_b * 12).astype(np.uint8)
    # image c: instances 1 (cat, 8) and 3 (sheep, 17); no Categories in inst
    inst_c = np.zeros((h, w), np.uint8)
    inst_c[0:6, 0:6] = 1
    inst_c[10:20, 10:14] = 3
    cls_c = np.where(inst_c == 1, 8, np.where(inst_c == 3, 17, 0)).astype(np.uint8)
    fixtures = {
        'a': (inst_a, cls_a, np.array([[15], [7]], np.uint8)),
        'b': (inst_b, cls_b, np.array([[12]], np.uint8)),
        'c': (inst_c, cls_c, None),
    }
    for name, (inst, cls, cats) in fixtures.items():
        fields = {'Segmentation': inst, 'Boundaries': np.zeros((1, 1), object)}
        if cats is not None:
            fields['Categories'] = cats
        write_mat(os.path.join(folder, 'inst', name + '.mat'), 'GTinst', fields)
        present = np.unique(cls[(cls > 0) & (cls < 255)]).reshape(-1, 1)
        write_mat(os.path.join(folder, 'cls', name + '.mat'), 'GTcls',
                  {'Segmentation': cls, 'Boundaries': np.zeros((1, 1), object),
                   'CategoriesPresent': present})
        os.makedirs(os.path.join(folder, 'img'), exist_ok=True)
        cv2.imwrite(os.path.join(folder, 'img', name + '.jpg'), np.zeros((h, w, 3), np.uint8))
    with open(os.path.join(folder, 'train.txt'), 'w') as f:
        f.write('a\nb\nc\n')
    return fixtures


@pytest.fixture
def sbd(tmp_path):
    folder = str(tmp_path / 'VOCSDS')
    return str(tmp_path), folder, make_fixture(folder)


def test_instances_classes_boxes(sbd):
    root, folder, fixtures = sbd
    imdb = get_imdb('sds', 'train', root, folder, num_classes=21)
    assert imdb.classes == ['__background__'] + list(VOC_CLASSES) and imdb.num_classes == 21
    roidb = imdb.gt_roidb()
    assert [e['image_id'] for e in roidb] == ['a', 'b', 'c']
    expected_classes = {'a': [15, 7], 'b': [12], 'c': [8, 17]}
    for entry in roidb:
        inst, cls, _ = fixtures[entry['image_id']]
        assert entry['image'] == os.path.join(folder, 'img', entry['image_id'] + '.jpg')
        assert (entry['height'], entry['width']) == inst.shape
        ids = [v for v in np.unique(inst) if v not in (0, 255)]
        masks = decode_masks(entry)
        assert masks.shape == (len(ids),) + inst.shape
        for k, inst_id in enumerate(ids):
            truth = inst == inst_id
            np.testing.assert_array_equal(masks[k], truth)
            ys, xs = np.nonzero(truth)
            np.testing.assert_array_equal(entry['boxes'][k], [xs.min(), ys.min(), xs.max(), ys.max()])
            assert cls[truth][0] == entry['gt_classes'][k]          # agrees with the class map
        np.testing.assert_array_equal(entry['gt_classes'], expected_classes[entry['image_id']])


def test_flipped_and_cached(sbd):
    root, folder, _ = sbd
    imdb = get_imdb('sds', 'train', root, folder)
    roidb = imdb.gt_roidb()
    assert os.path.exists(imdb.cache_file('gt_roidb'))
    again = get_imdb('sds', 'train', root, folder).gt_roidb()
    for x, y in zip(roidb, again):
        np.testing.assert_array_equal(x['boxes'], y['boxes'])
        assert x['masks'] == y['masks']
    flipped = imdb.append_flipped_images(roidb)[len(roidb):]
    for entry, fl in zip(roidb, flipped):
        np.testing.assert_array_equal(decode_masks(fl), decode_masks(entry)[:, :, ::-1])
        np.testing.assert_array_equal(fl['boxes'][:, 0], entry['width'] - 1 - entry['boxes'][:, 2])


def test_changed_mat_file_rebuilds_cache(sbd):
    root, folder, fixtures = sbd
    get_imdb('sds', 'train', root, folder).gt_roidb()
    inst, _, cats = fixtures['b']
    inst = inst.copy()
    inst[0:3, 0:3] = 2                                   # a new instance of class 3 (bird)
    write_mat(os.path.join(folder, 'inst', 'b.mat'), 'GTinst',
              {'Segmentation': inst, 'Categories': np.array([[12], [3]], np.uint8)})
    entry = get_imdb('sds', 'train', root, folder).gt_roidb()[1]
    np.testing.assert_array_equal(entry['gt_classes'], [12, 3])


def test_sds_errors(sbd, tmp_path):
    root, folder, _ = sbd
    with pytest.raises(IOError, match='val.txt'):
        get_imdb('sds', 'val', root, folder)
    with pytest.raises(ValueError, match='NUM_CLASSES=81'):
        get_imdb('sds', 'train', root, folder, num_classes=81)
    write_mat(os.path.join(folder, 'inst', 'a.mat'), 'Wrong', {'Segmentation': np.zeros((2, 2), np.uint8)})
    with pytest.raises(ValueError, match="no struct 'GTinst'"):
        get_imdb('sds', 'train', root, folder, use_cache=False).gt_roidb()
