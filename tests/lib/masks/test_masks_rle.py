"""lib.masks.rle vs pycocotools and NumPy."""
import json

import numpy as np
import pycocotools.mask as mask_util
import pytest

from lib.masks.rle import (annotation_to_rle, decode_rle, encode_crop, encode_mask, mask_iou,
                           normalize_rle, polygons_to_rle, rle_area)


def random_masks(rng, n, h=23, w=31):
    return (rng.uniform(size=(n, h, w)) > 0.6).astype(np.uint8)


def test_round_trip_single_and_stack_json():
    rng = np.random.RandomState(0)
    masks = random_masks(rng, 4)
    rles = encode_mask(masks)
    assert len(rles) == 4 and all(isinstance(r['counts'], str) for r in rles)
    json.dumps(rles)  # serializable
    np.testing.assert_array_equal(decode_rle(rles), masks)
    single = encode_mask(masks[2].astype(bool))
    assert single == rles[2]
    np.testing.assert_array_equal(decode_rle(single), masks[2])
    # non-contiguous input
    np.testing.assert_array_equal(decode_rle(encode_mask(masks[:, ::2, ::3])), masks[:, ::2, ::3])


def test_area_and_iou_vs_numpy():
    rng = np.random.RandomState(1)
    a, b = random_masks(rng, 3), random_masks(rng, 2)
    ra, rb = encode_mask(a), encode_mask(b)
    np.testing.assert_array_equal(rle_area(ra), a.reshape(3, -1).sum(1))
    assert rle_area(ra[0]) == int(a[0].sum())
    inter = np.einsum('dhw,ghw->dg', a.astype(np.int64), b.astype(np.int64))
    union = a.reshape(3, -1).sum(1)[:, None] + b.reshape(2, -1).sum(1)[None] - inter
    np.testing.assert_allclose(mask_iou(ra, rb), inter / union)
    crowd = mask_iou(ra, rb, iscrowd=[0, 1])
    np.testing.assert_allclose(crowd[:, 1], inter[:, 1] / a.reshape(3, -1).sum(1))
    assert mask_iou([], rb).shape == (0, 2)


def test_polygon_matches_pycocotools_and_annotation_forms():
    poly = [[2, 2, 20, 2, 20, 15, 2, 15], [25, 1, 29, 1, 27, 6]]
    rle = polygons_to_rle(poly, 23, 31)
    expected = mask_util.decode(mask_util.merge(mask_util.frPyObjects(poly, 23, 31)))
    np.testing.assert_array_equal(decode_rle(rle), expected)
    assert decode_rle(rle)[8, 10] == 1 and decode_rle(rle)[20, 10] == 0
    assert annotation_to_rle(poly, 23, 31) == rle
    # uncompressed RLE (COCO crowd style): column-major runs 0-run, 1-run, ...
    uncompressed = {'size': [4, 3], 'counts': [2, 5, 5]}
    dense = decode_rle(annotation_to_rle(uncompressed, 4, 3))
    np.testing.assert_array_equal(dense.flatten(order='F'), [0, 0] + [1] * 5 + [0] * 5)
    assert annotation_to_rle(rle, 23, 31) == rle
    assert decode_rle(polygons_to_rle([], 5, 6)).sum() == 0
    with pytest.raises(ValueError, match='even number'):
        polygons_to_rle([[1, 2, 3, 4]], 5, 6)


def _full_frame_rle(crop, x1, y1, h, w):
    """pycocotools' RLE of the (h, w) image holding ``crop`` at (x1, y1)."""
    frame = np.zeros((h, w), dtype=np.uint8)
    frame[y1:y1 + crop.shape[0], x1:x1 + crop.shape[1]] = crop != 0
    rle = mask_util.encode(np.asfortranarray(frame))
    return {'size': [h, w], 'counts': rle['counts'].decode('ascii')}


def test_encode_crop_equals_full_frame_encoding():
    rng = np.random.RandomState(5)
    h, w = 17, 23
    cases = [(np.ones((h, w), np.uint8), 0, 0), (np.zeros((h, w), np.uint8), 0, 0),
             (np.ones((1, 1), np.uint8), 0, 0), (np.ones((1, 1), np.uint8), w - 1, h - 1),
             (np.ones((h, 1), np.uint8), 3, 0), (np.ones((3, w), np.uint8), 0, h - 3),
             (np.full((4, 5), 7, np.uint8), 2, 2)]  # any nonzero value is foreground
    for _ in range(200):
        ch, cw = rng.randint(1, h + 1), rng.randint(1, w + 1)
        crop = (rng.uniform(size=(ch, cw)) > rng.uniform(0.1, 0.9)).astype(np.uint8)
        cases.append((crop, rng.randint(0, w - cw + 1), rng.randint(0, h - ch + 1)))
    for crop, x1, y1 in cases:
        rle = encode_crop(crop, x1, y1, h, w)
        assert rle == _full_frame_rle(crop, x1, y1, h, w)
        assert isinstance(rle['counts'], str)


def test_encode_crop_empty_and_outside():
    empty = encode_crop(np.zeros((0, 4), np.uint8), 99, 99, 5, 6)  # empty: position unused
    assert empty == encode_mask(np.zeros((5, 6), np.uint8))
    with pytest.raises(ValueError, match='does not fit'):
        encode_crop(np.ones((3, 3), np.uint8), 4, 0, 5, 6)
    with pytest.raises(ValueError, match='does not fit'):
        encode_crop(np.ones((3, 3), np.uint8), 0, -1, 5, 6)


def test_normalize_rle_both_ways():
    mask = np.zeros((6, 4), np.uint8)
    mask[1:4, 2] = 1
    raw = mask_util.encode(np.asfortranarray(mask))  # counts bytes, size [6, 4]
    as_str = normalize_rle(raw)
    assert as_str == {'size': [6, 4], 'counts': raw['counts'].decode('ascii')}
    assert normalize_rle(as_str, bytes) == {'size': [6, 4], 'counts': raw['counts']}
    assert normalize_rle(as_str, str) == as_str
    assert normalize_rle(raw, bytes)['counts'] is raw['counts']
    # column-major runs of the mask above: 13 zeros (columns 0, 1 and row 0), 3 ones, 8 zeros
    assert mask_util.decode(normalize_rle(as_str, bytes)).flatten(order='F').tolist() == \
        [0] * 13 + [1] * 3 + [0] * 8
    with pytest.raises(TypeError, match='compressed'):
        normalize_rle({'size': [6, 4], 'counts': [9, 3, 12]})


def test_annotation_to_rle_skips_short_polygons_and_checks_the_size():
    square = [1, 1, 4, 1, 4, 4, 1, 4]
    rle = annotation_to_rle([square, [0, 0, 2, 2], [1, 2, 3]], 6, 7)  # two unusable parts
    expected = mask_util.decode(mask_util.frPyObjects([square], 6, 7))[:, :, 0]
    np.testing.assert_array_equal(decode_rle(rle), expected)
    assert expected.sum() == 9 and expected[1:4, 1:4].all()  # pixels 1..3 of the square
    assert decode_rle(annotation_to_rle([[0, 0, 2, 2]], 6, 7)).sum() == 0  # none left: empty
    with pytest.raises(ValueError, match=r'size \[6, 7\] differs from the image size \[6, 8\]'):
        annotation_to_rle(rle, 6, 8)
    with pytest.raises(ValueError, match="needs 'size'"):
        annotation_to_rle({'counts': [3, 4]}, 6, 7)
    with pytest.raises(ValueError, match="unknown segmentation format 'str'"):
        annotation_to_rle('mask.png', 6, 7)
