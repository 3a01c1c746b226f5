"""fcis.core.tester: the release's MIN_DROP_SIZE and mask voting (TEST.MIN_DROP_MODE,
TEST.MASK_VOTE_MODE), and the project's behaviours behind those keys."""
import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest

from fcis.config import ConfigError, load_config
from fcis.core.tester import ImageFrame, image_detections, kept_rois
from lib.masks.voting import crops_to_rles, mask_voting
from tests.lib.masks.release_voting_reference import reference_release_voting


def make_test_cfg(**changes):
    """The default TEST section with KEY=VALUE overrides."""
    return load_config(None, ['%s=%s' % (k, v) for k, v in changes.items()]).TEST


def test_min_drop_size_counts_input_pixels_and_only_with_iter_2():
    rois = np.array([[0, 0, 9, 9], [0, 0, 19, 19], [0, 0, 39, 39], [0, 0, 39, 14]], np.float32)
    # input sides 10, 20, 40, (40, 15); at scale 2 the original sides are 5, 10, 20, (20, 7.5)
    release = make_test_cfg(**{'TEST.MIN_DROP_SIZE': 16})
    assert release.MIN_DROP_MODE == 'release'
    assert list(kept_rois(rois, 2.0, release)) == [1, 2]
    one_pass = make_test_cfg(**{'TEST.MIN_DROP_SIZE': 16, 'TEST.ITER': 1})
    assert list(kept_rois(rois, 2.0, one_pass)) == [0, 1, 2, 3]
    assert list(kept_rois(rois, 2.0, make_test_cfg(**{'TEST.MIN_DROP_SIZE': 0}))) == [0, 1, 2, 3]
    original = {'TEST.MIN_DROP_SIZE': 16, 'TEST.MIN_DROP_MODE': 'original'}
    assert list(kept_rois(rois, 2.0, make_test_cfg(**original))) == [2]
    assert list(kept_rois(rois, 2.0, make_test_cfg(**dict(original, **{'TEST.ITER': 1})))) == [2]


def test_modes_are_checked_when_the_config_loads():
    with pytest.raises(ConfigError, match='TEST.MASK_VOTE_MODE must be one of release, roi'):
        load_config(None, ['TEST.MASK_VOTE_MODE=tight'])
    with pytest.raises(ConfigError, match='TEST.MIN_DROP_MODE must be one of release, original'):
        load_config(None, ['TEST.MIN_DROP_MODE=input'])


def random_outputs(rng, num_rois=60, num_classes=4, input_hw=(96, 128)):
    """Test-symbol outputs of one image: rois (R, 5) in input pixels, cls_prob (R, C),
    seg_pred (R, 2, 21, 21)."""
    corner = rng.uniform(-10, 100, (num_rois, 2))
    size = rng.uniform(2, 50, (num_rois, 2))
    rois = np.hstack([np.zeros((num_rois, 1)), corner, corner + size]).astype(np.float32)
    rois[:, [1, 3]] = np.clip(rois[:, [1, 3]], 0, input_hw[1] - 1)
    rois[:, [2, 4]] = np.clip(rois[:, [2, 4]], 0, input_hw[0] - 1)
    fg = rng.uniform(size=(num_rois, 1, 21, 21)).astype(np.float32)
    return {'rois': rois, 'cls_prob': rng.dirichlet(np.ones(num_classes), num_rois).astype(np.float32),
            'seg_pred': np.concatenate([1 - fg, fg], axis=1)}


def test_release_pipeline_equals_the_reference_with_the_release_vote_size(test_seed):
    """Original image 60x80 at scale 1.5 in a padded 96x128 input: the release votes in a
    round(96/1.5) x round(128/1.5) = 64 x 85 image, then its evaluation clips each tight box
    to 60x80, resizes the 21x21 vote to it and thresholds at 0.4."""
    rng = np.random.RandomState(test_seed + 3)
    frame = ImageFrame(1.5, 60, 80, 96, 128)
    assert frame.vote_size() == (64, 85)
    cfg = make_test_cfg(**{'TEST.MIN_DROP_SIZE': 16})
    checked = 0
    for _ in range(3):
        outputs = random_outputs(rng)
        dets, rles = image_detections(outputs, frame, 4, cfg)
        keep = kept_rois(outputs['rois'][:, 1:5], 1.5, cfg)
        assert 0 < len(keep) < 60
        ref_dets, ref_soft = reference_release_voting(
            outputs['seg_pred'][keep, 1], outputs['rois'][keep, 1:5] / np.float32(1.5),
            outputs['cls_prob'][keep], 4, 100, 64, 85)
        for j in range(1, 4):
            boxes = ref_dets[j][:, :4].copy()
            boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, 79)
            boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, 59)
            np.testing.assert_array_equal(dets[j][:, :4], boxes)
            np.testing.assert_array_equal(dets[j][:, 4], ref_dets[j][:, 4])
            for n, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
                full = np.zeros((60, 80), np.uint8)
                full[y1:y2 + 1, x1:x2 + 1] = cv2.resize(ref_soft[j][n], (x2 - x1 + 1, y2 - y1 + 1)) >= 0.4
                np.testing.assert_array_equal(mask_utils.decode(rles[j][n]), full)
                checked += 1
    assert checked >= 30


def test_roi_mode_and_original_drop_give_the_projects_roi_voting(test_seed):
    rng = np.random.RandomState(test_seed + 4)
    frame = ImageFrame(1.5, 60, 80, 96, 128)
    cfg = make_test_cfg(**{'TEST.MASK_VOTE_MODE': 'roi', 'TEST.MIN_DROP_MODE': 'original',
                      'TEST.MIN_DROP_SIZE': 10})
    outputs = random_outputs(rng)
    dets, rles = image_detections(outputs, frame, 4, cfg)
    # the reference: drop in original pixels, then lib.masks.voting.mask_voting
    boxes = outputs['rois'][:, 1:5] / 1.5
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) + 1
    keep = np.where(sides >= 10)[0]
    assert 0 < len(keep) < 60
    ref_dets, ref_crops = mask_voting(outputs['seg_pred'][keep, 1], boxes[keep],
                                      outputs['cls_prob'][keep], 4, 100, 60, 80)
    total = 0
    for j in range(1, 4):
        np.testing.assert_array_equal(dets[j], ref_dets[j])
        assert rles[j] == crops_to_rles(ref_dets[j], ref_crops[j], 60, 80)
        total += len(dets[j])
    assert total > 10
