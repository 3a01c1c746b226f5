"""Annotation caches: atomic writes, rebuilt when the annotation file changes or is corrupt."""
import json
import logging
import os

import numpy as np
import pytest

from lib.dataset.cache import load_cache, save_cache
from lib.dataset.coco import COCODataset
from lib.dataset.shapes import generate_shapes


@pytest.fixture
def shapes_set(tmp_path):
    out = str(tmp_path / 'shapes')
    generate_shapes(out, num_train=3, num_val=1, seed=3)
    return str(tmp_path), out


def test_save_and_load_roundtrip(tmp_path):
    path = str(tmp_path / 'sub' / 'c.pkl')
    save_cache(path, {'k': 1}, [np.arange(3)])
    assert os.listdir(str(tmp_path / 'sub')) == ['c.pkl']          # no temporary file left
    np.testing.assert_array_equal(load_cache(path, {'k': 1})[0], np.arange(3))
    assert load_cache(path, {'k': 2}) is None                       # other key: stale
    assert load_cache(str(tmp_path / 'missing.pkl'), {'k': 1}) is None


def test_second_load_uses_the_cache(shapes_set, monkeypatch):
    root, out = shapes_set
    first = COCODataset('train', root, out, name='shapes').gt_roidb()

    def fail(self):
        raise AssertionError('the roidb should come from the cache')
    monkeypatch.setattr(COCODataset, '_build_roidb', fail)
    monkeypatch.setattr(COCODataset, '_build_meta', fail)
    second = COCODataset('train', root, out, name='shapes').gt_roidb()
    assert [e['masks'] for e in first] == [e['masks'] for e in second]


def test_changed_annotation_file_rebuilds(shapes_set):
    root, out = shapes_set
    COCODataset('train', root, out, name='shapes').gt_roidb()
    path = os.path.join(out, 'annotations', 'instances_train.json')
    with open(path) as f:
        content = json.load(f)
    content['annotations'] = [a for a in content['annotations'] if a['image_id'] != 1]
    with open(path, 'w') as f:
        json.dump(content, f)
    roidb = COCODataset('train', root, out, name='shapes').gt_roidb()
    assert len(roidb[0]['boxes']) == 0


def test_corrupt_cache_is_rebuilt_with_a_warning(shapes_set, caplog):
    root, out = shapes_set
    imdb = COCODataset('train', root, out, name='shapes')
    good = imdb.gt_roidb()
    with open(imdb.cache_file('gt_roidb'), 'wb') as f:
        f.write(b'\x80\x04 truncated pickle')
    with caplog.at_level(logging.WARNING):
        again = COCODataset('train', root, out, name='shapes').gt_roidb()
    assert 'is corrupt' in caplog.text and 'rebuilding' in caplog.text
    assert [e['masks'] for e in again] == [e['masks'] for e in good]
    assert load_cache(imdb.cache_file('gt_roidb'), imdb._key) is not None  # rewritten
