"""Datasets: the common image-database interface (``imdb``), COCO, PASCAL VOC SDS and the
synthetic shapes generator, with the roidb helpers the loaders use."""
from .coco import COCODataset
from .factory import get_imdb
from .imdb import IMDB, ConcatIMDB
from .roidb import append_flipped, decode_masks, filter_roidb, flip_boxes
from .sds import SDSDataset

__all__ = ['COCODataset', 'SDSDataset', 'IMDB', 'ConcatIMDB', 'get_imdb',
           'append_flipped', 'decode_masks', 'filter_roidb', 'flip_boxes']
