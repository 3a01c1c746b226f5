"""'fcis_box_parser': regressed ROIs against hand computation."""
import math

import mxnet as mx
import numpy as np

import fcis.operators  # noqa: F401  (registers the ops)


def run(rois, bbox_pred, im_info, **attrs):
    out = mx.nd.Custom(mx.nd.array(rois), mx.nd.array(bbox_pred), mx.nd.array(im_info),
                       op_type='fcis_box_parser', **attrs)
    return out.asnumpy()


def test_decodes_foreground_deltas_and_clips():
    rois = np.array([[0, 10, 20, 29, 59],     # w 20, h 40, centre (19.5, 39.5)
                     [0, 70, 0, 89, 19]])     # w 20, h 20, centre (79.5, 9.5)
    bbox_pred = np.zeros((2, 8))
    bbox_pred[:, :4] = 9.0                    # background deltas must be ignored
    bbox_pred[0, 4:] = [0.5, -0.25, 0.0, 0.2]  # * std (0.2, 0.2, 0.5, 0.5) = .1 -.05 0 .1
    bbox_pred[1, 4:] = [1.0, 0.0, 1.0, 0.0]    # .2 0 .5 0 (+ mean dx .1) -> pushed right
    im_info = np.array([[64, 90, 1.0]])
    out = run(rois, bbox_pred, im_info, bbox_means='(0.1, 0, 0, 0)',
              bbox_stds='(0.2, 0.2, 0.5, 0.5)')
    # roi 0: dx = .1 + .1 (mean) = .2 -> centre x 19.5 + 4 = 23.5; dy = -.05 -> centre y
    # 39.5 - 2 = 37.5; width 20; height 40 * e^0.1; y2 clipped to 63.
    h0 = 40 * math.exp(0.1)
    expected0 = [0, 23.5 - 9.5, 37.5 - (h0 - 1) / 2, 23.5 + 9.5, min(37.5 + (h0 - 1) / 2, 63)]
    # roi 1: dx = .3 -> centre x 79.5 + 6 = 85.5; width 20 * e^0.5; x2 clipped to 89.
    w1 = 20 * math.exp(0.5)
    expected1 = [0, 85.5 - (w1 - 1) / 2, 0, 89, 19]
    np.testing.assert_allclose(out, [expected0, expected1], atol=1e-4)


def test_keeps_batch_index_and_shapes():
    rois = np.array([[3, 0, 0, 15, 15]])
    out = run(rois, np.zeros((1, 8)), np.array([[32, 32, 2.0]]))
    np.testing.assert_allclose(out, rois)
    sym = mx.sym.Custom(mx.sym.Variable('rois'), mx.sym.Variable('bbox_pred'),
                        mx.sym.Variable('im_info'), op_type='fcis_box_parser')
    _, out_shapes, _ = sym.infer_shape(rois=(300, 5), bbox_pred=(300, 8), im_info=(1, 3))
    assert out_shapes == [(300, 5)]
