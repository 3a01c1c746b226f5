"""'fcis_box_parser': move ROIs by the FCIS class-agnostic box regression (testing, ITER=2).

The foreground deltas (columns 4:8 of bbox_pred) are de-normalized (d * std + mean),
applied to the ROIs (dw, dh clipped at log(1000/16) before exp only with delta_clip='True'),
and the boxes clipped to the image. The batch index is kept, so
the output feeds PSROIPooling again as a second set of ROIs.
"""
import mxnet as mx
import numpy as np

from lib.utils.ndarray_copy import assign_array
from fcis.operators._attrs import parse_bool, parse_floats
from fcis.operators.proposal import decode_boxes

OP_NAME = 'fcis_box_parser'


def parse_boxes(rois, bbox_deltas, im_info, means, stds, delta_clip=False):
    """Regressed ROIs.

    rois: (R, 5) [batch_idx, x1, y1, x2, y2]
    bbox_deltas: (R, 8) normalized deltas, columns 4:8 foreground
    im_info: (3,) [height, width, scale]
    means, stds: (4,) normalization of the deltas
    delta_clip: clip dw, dh at log(1000/16) before exp
    returns: (R, 5) float32 [batch_idx, x1, y1, x2, y2] clipped to the image.
    """
    deltas = bbox_deltas[:, 4:8] * np.asarray(stds) + np.asarray(means)  # (R, 4)
    boxes = decode_boxes(rois[:, 1:5], deltas, im_info, delta_clip)  # (R, 4)
    return np.hstack([rois[:, :1], boxes]).astype(np.float32)


class BoxParserOperator(mx.operator.CustomOp):
    """Forward: parse_boxes. Backward: zero gradients."""

    def __init__(self, means, stds, delta_clip):
        super().__init__()
        self._means = means
        self._stds = stds
        self._delta_clip = delta_clip

    def forward(self, is_train, req, in_data, out_data, aux):
        rois = in_data[0].asnumpy()  # (R, 5)
        bbox_deltas = in_data[1].asnumpy()  # (R, 8)
        im_info = in_data[2].asnumpy()  # (1, 3)
        out = parse_boxes(rois, bbox_deltas, im_info[0], self._means, self._stds,
                          self._delta_clip)
        assign_array(out_data[0], req[0], out)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        for i, grad in enumerate(in_grad):
            self.assign(grad, req[i], 0)


@mx.operator.register(OP_NAME)
class BoxParserProp(mx.operator.CustomOpProp):
    """Attributes: bbox_means, bbox_stds (strings such as '(0.2, 0.2, 0.5, 0.5)'),
    delta_clip ('False' / 'True')."""

    def __init__(self, bbox_means='(0.0, 0.0, 0.0, 0.0)', bbox_stds='(0.2, 0.2, 0.5, 0.5)',
                 delta_clip='False'):
        super().__init__(need_top_grad=False)
        self._delta_clip = parse_bool(OP_NAME, 'delta_clip', delta_clip)
        self._means = np.array(parse_floats(OP_NAME, 'bbox_means', bbox_means, 4))
        self._stds = np.array(parse_floats(OP_NAME, 'bbox_stds', bbox_stds, 4))

    def list_arguments(self):
        return ['rois', 'bbox_pred', 'im_info']

    def list_outputs(self):
        return ['rois']

    def infer_shape(self, in_shape):
        num_rois = in_shape[0][0]
        expected = [(num_rois, 5), (num_rois, 8), (1, 3)]
        for name, shape, want in zip(self.list_arguments(), in_shape, expected):
            if tuple(shape) != want:
                raise ValueError('%s: %s has shape %s, expected %s (one image, class-agnostic '
                                 'boxes); reshape it before the op'
                                 % (OP_NAME, name, tuple(shape), want))
        return in_shape, [(num_rois, 5)], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return []

    def create_operator(self, ctx, shapes, dtypes):
        return BoxParserOperator(self._means, self._stds, self._delta_clip)
