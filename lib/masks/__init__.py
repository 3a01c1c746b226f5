"""Masks: COCO RLE helpers, pasting/cropping between ROI and image frames, mask voting."""
from lib.masks.paste import (box_extent, crop_and_resize_mask, crop_and_resize_masks, paste_mask,
                             resize_bilinear)
from lib.masks.rle import (annotation_to_rle, decode_rle, encode_crop, encode_mask, mask_iou,
                           normalize_rle, polygons_to_rle, rle_area)
from lib.masks.voting import (crops_to_full, crops_to_rles, mask_nms, mask_region,
                              mask_voting)
from lib.masks.voting_release import ReleaseVoting, release_mask_voting, soft_masks_to_crops

__all__ = ['annotation_to_rle', 'box_extent', 'crop_and_resize_mask', 'crop_and_resize_masks',
           'crops_to_full', 'crops_to_rles', 'decode_rle', 'encode_crop', 'encode_mask',
           'mask_iou', 'mask_nms', 'mask_region', 'mask_voting', 'normalize_rle', 'paste_mask',
           'polygons_to_rle', 'release_mask_voting', 'ReleaseVoting', 'resize_bilinear',
           'rle_area', 'soft_masks_to_crops']
