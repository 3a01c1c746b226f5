"""Reference anchors against hand-derived values."""
import numpy as np
import pytest

from lib.rpn import generate_anchors, shifted_anchors


def test_default_anchors_hand_derived():
    # base box [0, 0, 15, 15]: area 256, centre 7.5.
    # ratio 0.5: w = round(sqrt(512)) = 23, h = round(11.5) = 12 (round half to even)
    # ratio 1:   w = h = 16
    # ratio 2:   w = round(sqrt(128)) = 11, h = 22
    # each (w, h) times scale s, box = 7.5 -/+ (w*s - 1) / 2
    sizes = [(23, 12), (16, 16), (11, 22)]
    expected = []
    for w, h in sizes:
        for s in (8, 16, 32):
            ws, hs = w * s, h * s
            expected.append([7.5 - (ws - 1) / 2, 7.5 - (hs - 1) / 2, 7.5 + (ws - 1) / 2, 7.5 + (hs - 1) / 2])
    anchors = generate_anchors()
    assert anchors.shape == (9, 4) and anchors.dtype == np.float32
    np.testing.assert_array_equal(anchors, expected)
    np.testing.assert_array_equal(anchors[0], [-84, -40, 99, 55])


def test_unit_anchor_and_coco_scales():
    np.testing.assert_array_equal(generate_anchors(16, ratios=[1], scales=[1]), [[0, 0, 15, 15]])
    coco = generate_anchors(16, (0.5, 1, 2), (4, 8, 16, 32))
    assert coco.shape == (12, 4)
    widths, heights = coco[:, 2] - coco[:, 0] + 1, coco[:, 3] - coco[:, 1] + 1
    np.testing.assert_allclose(heights / widths, np.repeat([12 / 23., 1, 2], 4))
    np.testing.assert_allclose((coco[:, 0] + coco[:, 2]) / 2, 7.5)
    with pytest.raises(ValueError):
        generate_anchors(16, ratios=[], scales=[8])


def test_shifted_anchor_order_is_cell_major():
    base = generate_anchors(16, ratios=[1], scales=[1, 2])       # A = 2
    anchors = shifted_anchors(2, 3, 16, base)                    # (2*3*2, 4)
    assert anchors.shape == (12, 4)
    for y in range(2):
        for x in range(3):
            for a in range(2):
                np.testing.assert_array_equal(anchors[(y * 3 + x) * 2 + a], base[a] + [16 * x, 16 * y] * 2)
