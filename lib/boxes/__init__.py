"""Boxes: overlaps (compiled), regression transforms, clipping."""
from lib.boxes.bbox import (BBOX_XFORM_CLIP, bbox_overlaps, bbox_pred, bbox_transform,
                            clip_boxes, filter_small_boxes)

__all__ = ['BBOX_XFORM_CLIP', 'bbox_overlaps', 'bbox_pred', 'bbox_transform', 'clip_boxes',
           'filter_small_boxes']
