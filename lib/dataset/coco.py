"""COCO (and any COCO-format dataset) through pycocotools.

Default layout::

    <dataset_path>/annotations/instances_<image_set>.json
    <dataset_path>/images/<image_set>/<file_name>

(a test set without annotations: annotations/image_info_<image_set>.json.)
(minival2014 / valminusminival2014 images live in images/val2014, test-dev2015 images
in images/test2015.) ``paths=(annotation file, image folder)`` replaces either part of the
layout. Classes are the file's categories sorted by id; ``class_to_coco_id`` and
``coco_id_to_class`` map contiguous indices (1..C-1) and category ids both ways.

Annotations that cannot train (an empty box or segmentation, a zero area, no segmentation,
a crowd region without a box) are left out of their image's entry and listed in its
``skipped`` as (reason, annotation id); an annotation of an unknown category or with a
mask of another size than its image is an error (DatasetError naming the annotation).
"""
import logging
import os

import pycocotools.mask as mask_utils

from lib.masks.rle import annotation_to_rle, rle_area
from lib.utils.atomic import write_json_atomic

from .cache import CACHE_FORMAT, file_sha1
from .coco_json import load_coco_api
from .imdb import IMDB, DatasetError
from .roidb import make_entry

logger = logging.getLogger(__name__)

# COCO image sets whose images are stored in another set's folder.
IMAGE_FOLDER_OF_SET = {'minival2014': 'val2014', 'valminusminival2014': 'val2014',
                       'test-dev2015': 'test2015', 'test-dev2017': 'test2017'}


def annotation_file(dataset_path, image_set):
    """annotations/instances_<image_set>.json, or image_info_<image_set>.json (images and
    categories only, as COCO ships test-dev) when only that one exists."""
    instances = os.path.join(dataset_path, 'annotations', 'instances_%s.json' % image_set)
    info = os.path.join(dataset_path, 'annotations', 'image_info_%s.json' % image_set)
    return info if not os.path.isfile(instances) and os.path.isfile(info) else instances


def image_folder(dataset_path, image_set):
    """images/<image_set>/ (images/val2014/ for minival2014 etc., IMAGE_FOLDER_OF_SET)."""
    return os.path.join(dataset_path, 'images', IMAGE_FOLDER_OF_SET.get(image_set, image_set))


def clip_xywh(bbox, height, width):
    """COCO [x, y, w, h] -> inclusive [x1, y1, x2, y2] clipped to the image, or None if empty."""
    x, y, w, h = [float(v) for v in bbox]
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 < x1 or y2 < y1:
        return None
    return [x1, y1, x2, y2]


class COCODataset(IMDB):
    """A COCO-format instance segmentation set read with pycocotools.

    Args:
        image_set: e.g. 'train2014', 'minival2014' (a single set; use get_imdb for 'a+b');
            names the cache files and, in the default layout, the files.
        root_path: folder of the cache ('<root_path>/cache').
        dataset_path: dataset folder (layout above).
        num_classes: expected number of classes including background; a mismatch with the
            file is an error. None skips the check.
        paths: (annotation file, image folder); an empty or None part is the default layout's
            (``annotation_file``, ``image_folder``).
        name: dataset name used in cache files and logs.
        use_cache: cache the parsed roidb (keyed by the annotation file's SHA-1).
    """

    def __init__(self, image_set, root_path, dataset_path, num_classes=None, paths=None,
                 name='coco', use_cache=True):
        IMDB.__init__(self, name, image_set, root_path, dataset_path)
        annotations, images = paths or ('', '')
        self.annotation_file = annotations or annotation_file(dataset_path, image_set)
        if not os.path.isfile(self.annotation_file):
            raise IOError('COCO annotation file not found: %s (expected layout '
                          '<dataset_path>/annotations/instances_<image_set>.json, see '
                          'data/README.md)' % self.annotation_file)
        self.image_dir = images or image_folder(dataset_path, image_set)
        self.use_cache = use_cache
        self._coco = None
        self._key = {'format': CACHE_FORMAT, 'sha1': file_sha1(self.annotation_file),
                     'annotation_file': os.path.abspath(self.annotation_file),
                     'image_dir': os.path.abspath(self.image_dir)}
        meta = self.cached('meta', self._key, self._build_meta, use_cache)
        self.category_ids = meta['category_ids']
        self.classes = ['__background__'] + meta['names']
        self.image_ids = meta['image_ids']
        self.coco_id_to_class = {cid: i + 1 for i, cid in enumerate(self.category_ids)}
        self.class_to_coco_id = {i + 1: cid for i, cid in enumerate(self.category_ids)}
        self.class_name_to_index = {n: i for i, n in enumerate(self.classes)}
        self.check_num_classes(num_classes, self.annotation_file)

    @property
    def coco(self):
        """The pycocotools COCO api of the annotation file (loaded on first use)."""
        if self._coco is None:
            self._coco = load_coco_api(self.annotation_file)
        return self._coco

    def _build_meta(self):
        cats = sorted(self.coco.loadCats(self.coco.getCatIds()), key=lambda c: c['id'])
        if not cats:
            raise DatasetError("%s defines no categories; a COCO-format file needs a "
                               "'categories' list of {'id', 'name'}" % self.annotation_file)
        return {'category_ids': [int(c['id']) for c in cats],
                'names': [str(c['name']) for c in cats],
                'image_ids': sorted(self.coco.getImgIds())}

    def gt_roidb(self):
        """One entry per image (images without annotations have K=0), in ``image_ids`` order."""
        return self.cached('gt_roidb', self._key, self._build_roidb, self.use_cache)

    def _build_roidb(self):
        if not os.path.isdir(self.image_dir):
            raise IOError('image folder not found: %s (expected <dataset_path>/images/'
                          '<image_set>/, see data/README.md)' % self.image_dir)
        roidb = [self._image_entry(image_id) for image_id in self.image_ids]
        skipped = sum(len(entry['skipped']) for entry in roidb)
        if skipped:
            logger.warning('%s: left out %d annotations that cannot train (empty box or mask, '
                           '...; counted by reason in the dataset report)',
                           self.annotation_file, skipped)
        orphans = [ann['id'] for ann in self.coco.dataset.get('annotations', [])
                   if ann['image_id'] not in self.coco.imgs]
        if orphans:
            logger.warning("%s: ignored %d annotations whose image_id is not in 'images' "
                           "(annotation ids %s)", self.annotation_file, len(orphans),
                           ', '.join(str(i) for i in orphans[:5]))
        return roidb

    def _image_entry(self, image_id):
        """The roidb entry of one image; its left-out annotations go to entry['skipped']."""
        info = self.coco.imgs[image_id]
        height, width = int(info['height']), int(info['width'])
        boxes, classes, masks, crowd, skipped = [], [], [], [], []
        for ann in self.coco.imgToAnns.get(image_id, []):
            reason, box, rle = self._annotation(ann, image_id, height, width)
            if reason is not None:
                skipped.append((reason, ann['id']))
            elif ann.get('iscrowd', 0):
                crowd.append(box)
            else:
                boxes.append(box)
                classes.append(self.coco_id_to_class[ann['category_id']])
                masks.append(rle)
        entry = make_entry(os.path.join(self.image_dir, info['file_name']), height, width,
                           boxes, classes, masks, image_id, crowd)
        entry['skipped'] = skipped
        return entry

    def _annotation(self, ann, image_id, height, width):
        """(reason it is left out or None, inclusive box, RLE) of one annotation.

        Raises DatasetError for an unknown category or a mask of another size than the image.
        """
        where = '%s: annotation %s of image %s' % (self.annotation_file, ann['id'], image_id)
        if ann['category_id'] not in self.coco_id_to_class:
            raise DatasetError("%s has category_id %r, which is not in 'categories' (ids %s); "
                               "add the category or remove the annotation"
                               % (where, ann['category_id'], self.category_ids))
        if 'segmentation' not in ann:
            return 'no segmentation', None, None
        try:
            rle = annotation_to_rle(ann['segmentation'], height, width)
        except ValueError as exc:
            raise DatasetError("%s: %s; the mask must be drawn on the image's pixel grid (fix the "
                               "segmentation, or the image's height/width)" % (where, exc)) from None
        area = rle_area(rle)
        bbox = ann.get('bbox')
        if bbox is None and area > 0:
            bbox = mask_utils.toBbox(rle).tolist()
        box = clip_xywh(bbox, height, width) if bbox is not None else None
        if ann.get('iscrowd', 0):
            return ('crowd region without a box' if box is None else None), box, None
        if box is None:
            return 'empty box', None, None
        if area == 0:
            return 'empty segmentation', None, None
        if ann.get('area', 1) <= 0:
            return 'zero area', None, None
        return None, box, rle


def write_coco_json(path, images, annotations, categories, info=None):
    """Write a COCO-format annotation file atomically (helper for generators and tests)."""
    content = {'info': info or {}, 'licenses': [], 'images': images,
               'annotations': annotations, 'categories': categories}
    write_json_atomic(path, content)

