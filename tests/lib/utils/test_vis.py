"""Drawing detections: input layouts, masked pixels recolored, thresholds, grids, PNG files."""
import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest

from lib.utils.vis import (distinct_colors, draw_detections, draw_gt_vs_pred, draw_instances,
                           make_grid, to_bgr_uint8, write_png)

CLASS_NAMES = ['__background__', 'square', 'disc']


def rect_mask(height, width, y1, x1, y2, x2):
    mask = np.zeros((height, width), np.uint8)
    mask[y1:y2 + 1, x1:x2 + 1] = 1
    return mask


def rle(mask):
    return mask_util.encode(np.asfortranarray(mask))


def one_detection(height, width):
    """Per-class structure with one 'square' detection (score .9) in the image's top-left."""
    mask = rect_mask(height, width, 2, 3, height // 2, width // 2)
    boxes = [np.zeros((0, 5)), np.array([[3, 2, width // 2, height // 2, 0.9]]), np.zeros((0, 5))]
    return boxes, [[], [rle(mask)], []], mask.astype(bool)


@pytest.mark.parametrize('image', [
    np.full((37, 53), 90, np.uint8),                                       # grayscale, odd size
    np.full((41, 29, 1), 90, np.uint8),                                    # single channel
    np.dstack([np.full((33, 47, 3), 90, np.uint8), np.full((33, 47), 255, np.uint8)]),  # BGRA
    np.full((35, 61, 3), 90 / 255.0, np.float32),                          # float in [0, 1]
])
def test_draw_on_any_layout_recolors_masked_pixels(image):
    height, width = image.shape[:2]
    boxes, masks, mask = one_detection(height, width)
    drawn = draw_detections(image, boxes, masks, CLASS_NAMES, score_thresh=0.5)
    assert drawn.shape == (height, width, 3) and drawn.dtype == np.uint8
    inside = drawn[mask]  # (n, 3)
    assert (np.abs(inside.astype(int) - 90).max(axis=1) > 10).all()  # every masked pixel tinted
    # Bottom-right corner is far from the mask, box and label: untouched gray.
    assert (drawn[-3:, -3:] == 90).all()


def test_input_is_not_modified_and_rgb_flag_swaps_channels():
    image = np.zeros((10, 12, 4), np.uint8)
    image[..., 0] = 200  # R of RGBA / B of BGRA
    assert (to_bgr_uint8(image)[..., 0] == 200).all()
    assert (to_bgr_uint8(image, rgb=True)[..., 2] == 200).all()
    boxes, masks, _ = one_detection(10, 12)
    before = image.copy()
    draw_detections(image, boxes, masks, CLASS_NAMES)
    assert (image == before).all()


def test_mask_blend_is_alpha_mix_of_image_and_instance_color():
    height, width = 60, 80
    image = np.full((height, width, 3), 40, np.uint8)
    mask = rect_mask(height, width, 20, 20, 50, 70)
    color = np.array([[10, 200, 250]], np.uint8)
    drawn = draw_instances(image, [[20, 20, 70, 50]], [mask], [1], CLASS_NAMES, alpha=0.25,
                           colors=color)
    # An interior pixel away from outline, box and label: 0.75 * 40 + 0.25 * color.
    expected = np.round(0.75 * 40 + 0.25 * color[0].astype(float))
    np.testing.assert_array_equal(drawn[40, 45], expected)


def test_each_instance_gets_its_own_color():
    height, width = 50, 90
    image = np.zeros((height, width, 3), np.uint8)
    masks = [rect_mask(height, width, 20, 5, 45, 40), rect_mask(height, width, 20, 50, 45, 85)]
    drawn = draw_instances(image, [[5, 20, 40, 45], [50, 20, 85, 45]], masks, [1, 1],
                           CLASS_NAMES, scores=[0.8, 0.7])
    assert not np.array_equal(drawn[35, 20], drawn[35, 70])
    colors = distinct_colors(30)
    assert len({tuple(c) for c in colors}) == 30


def test_score_threshold_skips_low_scores():
    image = np.full((40, 40, 3), 90, np.uint8)
    boxes, masks, _ = one_detection(40, 40)
    boxes[1][0, 4] = 0.3
    assert (draw_detections(image, boxes, masks, CLASS_NAMES, score_thresh=0.5) == 90).all()
    assert not (draw_detections(image, boxes, masks, CLASS_NAMES, score_thresh=0.2) == 90).all()


def test_mask_size_mismatch_is_a_clear_error():
    boxes, masks, _ = one_detection(20, 20)
    with pytest.raises(ValueError, match='full-image'):
        draw_detections(np.zeros((21, 20), np.uint8), boxes, masks, CLASS_NAMES)


def test_gt_vs_pred_side_by_side_and_png(tmp_path):
    height, width = 45, 31
    image = np.full((height, width, 3), 90, np.uint8)
    boxes, masks, mask = one_detection(height, width)
    gt_entry = {'boxes': boxes[1][:, :4], 'gt_classes': np.array([1]), 'masks': masks[1]}
    picture = draw_gt_vs_pred(image, gt_entry, boxes, masks, CLASS_NAMES, min_side=1)
    assert picture.ndim == 3 and picture.shape[0] > height and picture.shape[1] >= 2 * width
    # The picture holds the ground-truth drawing on the left and the prediction on the right.
    gt = draw_instances(image, gt_entry['boxes'], masks[1], [1], CLASS_NAMES)
    pred = draw_detections(image, boxes, masks, CLASS_NAMES)

    def places(panel):
        return [(top, left) for top in range(picture.shape[0] - height + 1)
                for left in range(picture.shape[1] - width + 1)
                if np.array_equal(picture[top:top + height, left:left + width], panel)]
    gt_places, pred_places = places(gt), places(pred)
    assert len(gt_places) >= 1 and len(pred_places) >= 1
    assert min(left for _, left in gt_places) < max(left for _, left in pred_places)

    path = write_png(str(tmp_path / 'vis' / 'example.png'), picture)
    assert (cv2.imread(path) == picture).all()
    with pytest.raises(ValueError, match='.png'):
        write_png(str(tmp_path / 'example.jpg'), picture)


def test_small_images_are_drawn_zoomed_with_replicated_mask_pixels(test_seed):
    height, width = 45, 31
    image = np.random.RandomState(test_seed).randint(0, 255, (height, width, 3)).astype(np.uint8)
    boxes, masks, mask = one_detection(height, width)
    plain = draw_detections(image, boxes, masks, CLASS_NAMES)
    zoomed = draw_detections(image, boxes, masks, CLASS_NAMES, zoom=3)
    assert zoomed.shape == (3 * height, 3 * width, 3)
    # away from outlines and labels (the bottom-right of the mask), every 3x3 block of the
    # zoomed drawing repeats the plain drawing's pixel; outside any drawing, the image's
    inner = [(y, x) for y in range(height // 2 - 4, height // 2) for x in range(width // 2 - 4, width // 2)]
    outside = [(y, x) for y in range(height - 8, height) for x in range(width - 8, width)]
    for y, x in inner + outside:
        block = zoomed[3 * y:3 * y + 3, 3 * x:3 * x + 3].reshape(-1, 3)
        assert (block == plain[y, x]).all(), (y, x)
    assert all((plain[y, x] != image[y, x]).any() for y, x in inner)   # really recolored
    # the box's inclusive corners scale to the corners of the zoomed pixels
    x2, y2 = width // 2, height // 2
    assert (zoomed[3 * y2 + 2, 3 * 3:3 * x2] != zoomed[3 * y2 + 4, 3 * 3:3 * x2]).any()
    picture = draw_gt_vs_pred(image, {'boxes': boxes[1][:, :4], 'gt_classes': np.array([1]),
                                      'masks': masks[1]}, boxes, masks, CLASS_NAMES, min_side=120)
    assert picture.shape[1] >= 2 * 3 * width                       # ceil(120 / 31) = 4 >= 3


def test_titles_are_never_cut():
    title = 'predictions (score >= 0.50)'
    grid = make_grid([np.zeros((10, 20), np.uint8)], titles=[title])
    text_width = cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0]
    assert grid.shape[1] >= text_width


def test_grid_layout():
    images = [np.zeros((10, 20), np.uint8), np.zeros((15, 5, 3), np.uint8), np.zeros((7, 7, 4))]
    grid = make_grid(images, columns=2, gap=2)
    # 2 rows of cells 15 high, 2 columns of cells 20 wide, plus gaps.
    assert grid.shape == (2 * 15 + 3 * 2, 2 * 20 + 3 * 2, 3)
