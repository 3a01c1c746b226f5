"""The shapes generator and its COCO-format output read back through lib.dataset.coco."""
import json
import os
import time

import cv2
import numpy as np
import pytest

from lib.dataset import decode_masks, get_imdb
from lib.dataset.shapes import (DEFAULT_ARGS, ensure_shapes, full_args, generate_shapes, main,
                                render_image, write_split)
from lib.dataset.shapes_render import CLASSES

SMALL = dict(num_train=6, num_val=3, seed=5, max_shapes=5, min_shape_size=30, max_shape_size=110)


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes')
    out = str(root / 'shapes')
    generate_shapes(out, **SMALL)
    return str(root), out


def extent(mask):
    """Inclusive [x1, y1, x2, y2] of a boolean mask (independent of the library's helper)."""
    cols, rows = np.any(mask, axis=0), np.any(mask, axis=1)
    xs, ys = np.where(cols)[0], np.where(rows)[0]
    return [xs[0], ys[0], xs[-1], ys[-1]]


@pytest.mark.parametrize('split', ['train', 'val'])
def test_masks_boxes_and_pixels_match_the_drawing(small_set, split):
    root, out = small_set
    imdb = get_imdb('shapes', split, root, out, num_classes=len(CLASSES) + 1, generator_args=SMALL)
    roidb = imdb.gt_roidb()
    assert len(roidb) == SMALL['num_%s' % split]
    args = full_args(**SMALL)
    total = 0
    for index, entry in enumerate(roidb):
        image, label, instances = render_image(args, split, index)
        on_disk = cv2.imread(entry['image'])
        np.testing.assert_array_equal(on_disk, image)              # PNG is lossless and deterministic
        masks = decode_masks(entry)
        assert masks.shape == (len(instances),) + label.shape
        assert (entry['height'], entry['width']) == label.shape
        for k, inst in enumerate(instances):
            drawn = label == k + 1
            np.testing.assert_array_equal(masks[k], drawn)         # exactly the drawn visible pixels
            assert np.all(on_disk[drawn] == inst['color'])          # those pixels carry the shape's colour
            assert drawn.sum() >= args['min_visible']
            np.testing.assert_array_equal(entry['boxes'][k], extent(drawn))
            assert entry['gt_classes'][k] == inst['class']
            assert imdb.classes[entry['gt_classes'][k]] == CLASSES[inst['class'] - 1]
        assert not np.any(masks.sum(axis=0) > 1)                    # visible masks never overlap
        total += len(instances)
    assert total > len(roidb)                                       # several shapes per image on average


def test_flipped_entries_mirror_masks_and_boxes(small_set):
    root, out = small_set
    imdb = get_imdb('shapes', 'train', root, out, generator_args=SMALL)
    roidb = imdb.gt_roidb()
    both = imdb.append_flipped_images(roidb)
    assert len(both) == 2 * len(roidb)
    for entry, flipped in zip(roidb, both[len(roidb):]):
        assert flipped['flipped'] and not entry['flipped']
        masks, fmasks = decode_masks(entry), decode_masks(flipped)
        np.testing.assert_array_equal(fmasks, masks[:, :, ::-1])
        for k in range(len(fmasks)):
            np.testing.assert_array_equal(flipped['boxes'][k], extent(fmasks[k].astype(bool)))


def test_annotation_fields(small_set):
    _, out = small_set
    with open(os.path.join(out, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    assert [c['name'] for c in coco['categories']] == list(CLASSES)
    for ann in coco['annotations']:
        assert ann['iscrowd'] == 0
        assert isinstance(ann['segmentation']['counts'], str)
        x, y, w, h = ann['bbox']
        assert w >= 1 and h >= 1 and ann['area'] <= w * h


def test_deterministic_from_seed(tmp_path):
    a, b, c = str(tmp_path / 'a'), str(tmp_path / 'b'), str(tmp_path / 'c')
    generate_shapes(a, num_train=3, num_val=1, seed=1)
    generate_shapes(b, num_train=3, num_val=1, seed=1)
    generate_shapes(c, num_train=3, num_val=1, seed=2)
    ann = 'annotations/instances_train.json'
    read = lambda root, rel: open(os.path.join(root, rel), 'rb').read()  # noqa: E731
    assert read(a, ann) == read(b, ann)
    assert read(a, 'images/train/000002.png') == read(b, 'images/train/000002.png')
    assert read(a, ann) != read(c, ann)


def test_same_bytes_whatever_the_number_of_workers(tmp_path):
    """Images are rendered on worker threads and taken in order: one worker and three give
    the same PNG and annotation bytes (instance ids numbered across the split)."""
    args = full_args(**SMALL)
    counts = [write_split(str(tmp_path / str(w)), 'train', 7, args, workers=w) for w in (1, 3)]
    assert counts[0] == counts[1] > 7
    for rel in ['annotations/instances_train.json'] + [
            'images/train/%06d.png' % i for i in range(7)]:
        one, three = [open(str(tmp_path / str(w) / rel), 'rb').read() for w in (1, 3)]
        assert one == three, rel
    ann = json.load(open(str(tmp_path / '3' / 'annotations/instances_train.json')))
    assert [a['id'] for a in ann['annotations']] == list(range(1, counts[0] + 1))
    assert sorted({a['image_id'] for a in ann['annotations']}) == list(range(1, 8))


def test_ensure_regenerates_on_other_arguments_and_protects_foreign_folders(tmp_path):
    out = str(tmp_path / 'set')
    assert ensure_shapes(out, num_train=2, num_val=1) is not None
    assert ensure_shapes(out, num_train=2, num_val=1) is None          # up to date: nothing done
    assert ensure_shapes(out, num_train=2) is None                     # only given arguments compared
    ensure_shapes(out, num_train=3, num_val=1)
    assert len(os.listdir(os.path.join(out, 'images', 'train'))) == 3
    foreign = tmp_path / 'coco'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('user data')
    with pytest.raises(IOError, match='not written by the shapes generator'):
        generate_shapes(str(foreign), num_train=1, num_val=1)
    assert (foreign / 'keep.txt').exists()
    with pytest.raises(ValueError, match='unknown shapes generator argument'):
        full_args(num_trian=3)


def test_cli(tmp_path, capsys):
    out = str(tmp_path / 'cli')
    main(['--out', out, '--num-train', '2', '--num-val', '1', '--max-shapes', '2'])
    assert 'wrote' in capsys.readouterr().out
    with open(os.path.join(out, 'annotations', 'instances_val.json')) as f:
        assert len(json.load(f)['images']) == 1


def test_default_set_is_varied(tmp_path):
    start = time.time()
    summary = generate_shapes(str(tmp_path / 'default'))
    seconds = time.time() - start
    print('default shapes set: %.1f s, %d + %d images, %d + %d instances'
          % (seconds, summary['train_images'], summary['val_images'],
             summary['train_instances'], summary['val_instances']))
    assert summary['train_images'] == DEFAULT_ARGS['num_train']
    with open(str(tmp_path / 'default' / 'annotations' / 'instances_train.json')) as f:
        coco = json.load(f)
    shapes = np.array([(im['height'], im['width']) for im in coco['images']])
    assert shapes.min() >= DEFAULT_ARGS['min_image_size'] and shapes.max() <= DEFAULT_ARGS['max_image_size']
    assert np.any(shapes[:, 0] > shapes[:, 1]) and np.any(shapes[:, 0] < shapes[:, 1])  # both orientations
    counts = np.bincount([a['category_id'] for a in coco['annotations']], minlength=len(CLASSES) + 1)
    assert np.all(counts[1:] > 0.1 * len(coco['annotations']))   # every class well represented
    per_image = np.bincount([a['image_id'] for a in coco['annotations']])
    assert per_image[1:].max() <= DEFAULT_ARGS['max_shapes']
