"""Turning roidb entries into network inputs (NumPy only; the loaders wrap these in NDArrays).

Per training batch of N images (one per device), padded to a common (H, W):

    data        (N, 3, H, W)   float32, BGR minus pixel means, zero padding
    im_info     (N, 3)         [height, width, scale] of each scaled image (padding excluded)
    gt_boxes    (N, K, 5)      [x1, y1, x2, y2, class] in the scaled frame; rows of -1 pad
                               images with fewer than K = max instances of the batch
    gt_masks    (N, K, H, W)   float32 0/1 instance masks in the scaled frame, zero padding
    label       (N, A*fh*fw)   RPN labels -1/0/1 in (A, fh, fw) order
    bbox_target (N, 4A, fh, fw)
    bbox_weight (N, 4A, fh, fw)

with (fh, fw) = feat_shape_fn(H, W), the size of the RPN output map.
"""
import dataclasses
import threading

import numpy as np

from lib.dataset.roidb import decode_masks
from lib.rpn.anchor_target import assign_anchor
from lib.utils.image import (image_to_tensor, normalize_scales, pad_tensors, read_image,
                             resize_image, resize_masks, round_up)


def conv_out_size(size, kernel, stride, pad, ceil=False):
    """Output length of a convolution/pooling window: floor rounding (MXNet's default), or
    ceil rounding with ``ceil`` (pooling_convention 'full', Caffe's)."""
    span = size + 2 * pad - kernel
    return (-(-span // stride) if ceil else span // stride) + 1


def default_feat_shape(height, width):
    """(fh, fw) of the stride-16 ResNet trunk's res4 map for an input of (height, width).

    conv1 (k7, s2, p3) -> pool1 (k3, s2, p0, ceil rounding) -> res3a (k1, s2) -> res4a
    (k1, s2), as ``fcis.symbols.resnet_v1`` builds them.
    """
    def trunk(size):
        size = conv_out_size(size, 7, 2, 3)
        size = conv_out_size(size, 3, 2, 0, ceil=True)
        size = conv_out_size(size, 1, 2, 0)
        return conv_out_size(size, 1, 2, 0)
    return trunk(height), trunk(width)


def symbol_feat_shape_fn(symbol, data_name='data'):
    """feat_shape_fn(H, W) reading (fh, fw) from ``symbol.infer_shape`` (cached, thread-safe).

    ``symbol``: an MXNet symbol whose single output is the RPN map (e.g. rpn_cls_score),
    depending only on the input ``data_name``.
    """
    cache, lock = {}, threading.Lock()

    def feat_shape(height, width):
        with lock:
            if (height, width) not in cache:
                _, out_shapes, _ = symbol.infer_shape(**{data_name: (1, 3, height, width)})
                cache[(height, width)] = tuple(int(v) for v in out_shapes[0][-2:])
            return cache[(height, width)]
    return feat_shape


def read_entry_image(entry):
    """(H, W, 3) uint8 BGR image of a roidb entry, flipped per entry; its size must be the
    annotated one."""
    image = read_image(entry['image'], entry.get('flipped', False))
    if image.shape[:2] != (entry['height'], entry['width']):
        raise ValueError('image %s is %dx%d but its annotation says %dx%d (height x width); fix the '
                         'annotation file' % (entry['image'], image.shape[0], image.shape[1],
                                              entry['height'], entry['width']))
    return image


def prepare_image(image, target_size, max_size, pixel_means):
    """Resize and normalize an (H, W, 3) uint8 BGR image.

    Returns (data (1, 3, h, w) float32, im_info (3,) float32 [h, w, scale]).
    """
    resized, scale = resize_image(image, target_size, max_size)
    info = np.array([resized.shape[0], resized.shape[1], scale], dtype=np.float32)
    return image_to_tensor(resized, pixel_means), info


def load_image(entry, target_size, max_size, pixel_means):
    """Read, flip (per entry), resize and normalize one image: :func:`prepare_image` of
    :func:`read_entry_image`."""
    return prepare_image(read_entry_image(entry), target_size, max_size, pixel_means)


def test_scale(cfg):
    """(shorter side, max longer side) of the test images: the first pair of TEST.SCALES,
    or of SCALES when TEST.SCALES is empty (the release tests at its first training scale)."""
    scales = cfg.TEST.get('SCALES') or cfg.SCALES
    return normalize_scales(scales)[0]


@dataclasses.dataclass(frozen=True)
class ImageInput:
    """How a test image becomes the test symbol's input: resized by (target_size, max_size),
    normalized by pixel_means (BGR), zero-padded bottom/right to a multiple of image_stride
    (0: no padding). The tester's loader and fcis.predictor both use it."""
    target_size: int
    max_size: int
    pixel_means: tuple
    image_stride: int = 0

    @classmethod
    def from_cfg(cls, cfg):
        """The test input of a config: test_scale(cfg), network.PIXEL_MEANS and
        network.IMAGE_STRIDE."""
        target_size, max_size = test_scale(cfg)
        return cls(target_size, max_size, tuple(float(m) for m in cfg.network.PIXEL_MEANS),
                   int(cfg.network.IMAGE_STRIDE))

    def prepare(self, image):
        """(H, W, 3) uint8 BGR -> (data (1, 3, h', w') float32 with h', w' multiples of
        image_stride, im_info (1, 3) float32 [h, w, scale] of the unpadded resized image)."""
        data, info = prepare_image(image, self.target_size, self.max_size, self.pixel_means)
        height = round_up(data.shape[2], self.image_stride)
        width = round_up(data.shape[3], self.image_stride)
        return pad_tensors([data], height, width), info[np.newaxis]


def load_train_image(entry, target_size, max_size, pixel_means):
    """One training image: dict data (1,3,h,w), im_info (3,), gt_boxes (K,5), gt_masks (K,h,w)."""
    data, info = load_image(entry, target_size, max_size, pixel_means)
    scale = float(info[2])
    gt_boxes = np.hstack([entry['boxes'] * scale,
                          entry['gt_classes'][:, None]]).astype(np.float32)  # (K, 5)
    gt_masks = resize_masks(decode_masks(entry), data.shape[2], data.shape[3])  # (K, h, w)
    return {'data': data, 'im_info': info, 'gt_boxes': gt_boxes, 'gt_masks': gt_masks}


def stack_train_images(images, image_stride=0):
    """Pad and stack per-image dicts of ``load_train_image`` into the batch arrays (no labels)."""
    height = round_up(max(im['data'].shape[2] for im in images), image_stride)
    width = round_up(max(im['data'].shape[3] for im in images), image_stride)
    max_k = max(im['gt_boxes'].shape[0] for im in images)
    gt_boxes = np.full((len(images), max_k, 5), -1, dtype=np.float32)        # (N, K, 5)
    gt_masks = np.zeros((len(images), max_k, height, width), dtype=np.float32)  # (N, K, H, W)
    for i, im in enumerate(images):
        k, h, w = im['gt_masks'].shape
        gt_boxes[i, :k] = im['gt_boxes']
        gt_masks[i, :k, :h, :w] = im['gt_masks']
    return {'data': pad_tensors([im['data'] for im in images], height, width, 0.0),
            'im_info': np.stack([im['im_info'] for im in images]),            # (N, 3)
            'gt_boxes': gt_boxes, 'gt_masks': gt_masks}


def rpn_targets(batch, feat_shape, rng, anchors):
    """RPN label/bbox_target/bbox_weight (N, ...) for the stacked ``batch`` (see module doc);
    anchors: AnchorTargetArgs (fcis.core.loader_args)."""
    anchor_args = anchors.keywords()
    per_image = []
    for i in range(batch['data'].shape[0]):
        gt = batch['gt_boxes'][i]
        per_image.append(assign_anchor(feat_shape, gt[gt[:, 4] > 0], batch['im_info'][i], rng,
                                       **anchor_args))
    return {name: np.concatenate([t[name] for t in per_image], axis=0)
            for name in ('label', 'bbox_target', 'bbox_weight')}
