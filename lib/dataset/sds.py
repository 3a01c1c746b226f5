"""PASCAL VOC SDS: the SBD release (Hariharan et al.) used by FCIS for VOC 2012 instances.

Layout (the SBD ``benchmark_RELEASE/dataset`` folder)::

    <dataset_path>/img/<name>.jpg
    <dataset_path>/inst/<name>.mat   struct GTinst: Segmentation (H, W) uint8 instance ids,
                                     Categories (per instance, class 1..20), Boundaries
    <dataset_path>/cls/<name>.mat    struct GTcls: Segmentation (H, W) class ids, ...
    <dataset_path>/train.txt, val.txt  one image name per line (or, as the original FCIS
                                     release lays out VOCSDS, ImageSets/Main/<set>.txt)

Instances are the values of the instance map other than 0 (background) and 255 (object
boundaries / void). An instance's class is taken from GTinst.Categories; when that field
is missing or inconsistent, from the class map at the instance's pixels. Boxes are the
masks' tight extents.
"""
import logging
import os

import numpy as np
import scipy.io

from lib.masks.rle import encode_mask

from .cache import CACHE_FORMAT, file_sha1, stat_fingerprint
from .imdb import IMDB
from .roidb import make_entry, mask_extent

logger = logging.getLogger(__name__)

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')


def _struct_field(mat, struct_name, field, path):
    """Field ``field`` of the 1x1 struct ``struct_name`` in a loadmat dict (None if absent)."""
    if struct_name not in mat:
        raise ValueError("%s has no struct '%s' (is it an SBD %s file?)"
                         % (path, struct_name, 'inst' if struct_name == 'GTinst' else 'cls'))
    struct = mat[struct_name]
    return getattr(struct, field, None)


def load_instance_map(path):
    """(instance map (H, W) uint8, per-instance categories array or None) from an inst .mat."""
    mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    seg = _struct_field(mat, 'GTinst', 'Segmentation', path)
    if seg is None or np.ndim(seg) != 2:
        raise ValueError('%s: GTinst.Segmentation must be an (H, W) array' % path)
    cats = _struct_field(mat, 'GTinst', 'Categories', path)
    if cats is not None:
        cats = np.atleast_1d(np.asarray(cats)).reshape(-1)
        cats = cats.astype(np.int64) if cats.size else None
    return np.asarray(seg), cats


def load_class_map(path):
    """Class map (H, W) from a cls .mat (GTcls.Segmentation)."""
    mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    seg = _struct_field(mat, 'GTcls', 'Segmentation', path)
    if seg is None or np.ndim(seg) != 2:
        raise ValueError('%s: GTcls.Segmentation must be an (H, W) array' % path)
    return np.asarray(seg)


def instance_class(inst_id, mask, categories, class_map, num_classes):
    """Class (1..num_classes-1) of instance ``inst_id``: GTinst.Categories, else the cls map."""
    if categories is not None and inst_id <= len(categories):
        cls = int(categories[inst_id - 1])
        if 1 <= cls < num_classes:
            return cls
    if class_map is not None:
        values = class_map[mask]
        values = values[(values > 0) & (values < num_classes)]
        if values.size:
            return int(np.bincount(values.astype(np.int64)).argmax())
    return None


def split_file(dataset_path, image_set):
    """<dataset_path>/<image_set>.txt, else <dataset_path>/ImageSets/Main/<image_set>.txt."""
    candidates = [os.path.join(dataset_path, image_set + '.txt'),
                  os.path.join(dataset_path, 'ImageSets', 'Main', image_set + '.txt')]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise IOError('SDS image list not found: %s or %s (expected the SBD layout '
                  '<dataset_path>/{img,inst,cls}/ and <image_set>.txt, see data/README.md)'
                  % tuple(candidates))


class SDSDataset(IMDB):
    """PASCAL VOC SDS (SBD layout, see the module docstring).

    Args:
        image_set: 'train' or 'val' (any ``<image_set>.txt`` in the dataset folder).
        root_path: folder of the cache ('<root_path>/cache').
        dataset_path: the SBD dataset folder.
        num_classes: expected classes including background (21); a mismatch is an error.
    """

    def __init__(self, image_set, root_path, dataset_path, num_classes=None, use_cache=True):
        IMDB.__init__(self, 'sds', image_set, root_path, dataset_path)
        self.split_file = split_file(dataset_path, image_set)
        with open(self.split_file) as f:
            self.image_ids = [line.strip() for line in f if line.strip()]
        self.classes = ['__background__'] + list(VOC_CLASSES)
        self.use_cache = use_cache
        self.check_num_classes(num_classes, 'PASCAL VOC SDS')

    def image_path(self, name):
        return os.path.join(self.dataset_path, 'img', name + '.jpg')

    def inst_path(self, name):
        return os.path.join(self.dataset_path, 'inst', name + '.mat')

    def cls_path(self, name):
        return os.path.join(self.dataset_path, 'cls', name + '.mat')

    def gt_roidb(self):
        mats = [p for n in self.image_ids for p in (self.inst_path(n), self.cls_path(n))]
        key = {'format': CACHE_FORMAT, 'split': file_sha1(self.split_file),
               'mats': stat_fingerprint(mats), 'path': os.path.abspath(self.dataset_path)}
        return self.cached('gt_roidb', key, self._build_roidb, self.use_cache)

    def _build_roidb(self):
        return [self._image_entry(name) for name in self.image_ids]

    def _image_entry(self, name):
        inst_path, cls_path = self.inst_path(name), self.cls_path(name)
        if not os.path.isfile(inst_path):
            raise IOError('SDS instance file not found: %s' % inst_path)
        inst_map, categories = load_instance_map(inst_path)
        class_map = load_class_map(cls_path) if os.path.isfile(cls_path) else None
        if class_map is not None and class_map.shape != inst_map.shape:
            raise ValueError('%s and %s have different sizes' % (inst_path, cls_path))
        boxes, classes, masks = [], [], []
        for inst_id in np.unique(inst_map):
            if inst_id in (0, 255):
                continue
            mask = inst_map == inst_id
            cls = instance_class(int(inst_id), mask, categories, class_map, self.num_classes)
            if cls is None:
                raise ValueError('%s: no class for instance %d (GTinst.Categories is missing and '
                                 '%s gives none)' % (inst_path, inst_id, cls_path))
            boxes.append(mask_extent(mask))
            classes.append(cls)
            masks.append(encode_mask(mask))
        height, width = inst_map.shape
        return make_entry(self.image_path(name), height, width, boxes, classes, masks, name)
