"""The common image-database interface.

An IMDB knows its class names and turns its annotations into a *roidb*: a list with one
dict per image, holding

    image        path of the image file
    height,width original image size in pixels
    boxes        (K, 4) float32 [x1, y1, x2, y2], inclusive pixel coordinates ("+1" convention)
    gt_classes   (K,) int32 contiguous class indices 1..C-1 (0 is the background)
    masks        list of K COCO RLE dicts {'size': [H, W], 'counts': str}, ORIGINAL frame
    flipped      bool; a flipped entry stores mirrored boxes, its masks mirror on decoding
    image_id     the dataset's own id of the image (COCO image id, SBD image name)
    crowd_boxes  (M, 4) float32 crowd regions, kept out of the training targets
    skipped      list of (reason, annotation id) of the image's annotations left out
                 (COCO: 'empty box', 'empty segmentation', ...; see lib.dataset.report)

Masks are never decoded for the whole set: ``lib.dataset.roidb.decode_masks`` decodes one
entry when a batch needs it.
"""
import logging
import os

from .cache import load_cache, save_cache
from .roidb import append_flipped

logger = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset file is missing, invalid or inconsistent; the message names the culprit
    (file, key, annotation or image id) and the fix."""


class IMDB(object):
    """Base class of the datasets. Subclasses set ``classes``/``image_ids`` and build the roidb.

    Attributes: ``name`` ('coco', 'sds', 'shapes'), ``image_set``, ``root_path`` (where the
    cache folder lives), ``dataset_path`` (the dataset folder), ``classes`` (names, index 0
    is '__background__'), ``image_ids`` (in roidb order).
    """

    def __init__(self, name, image_set, root_path, dataset_path, cache_path=None):
        self.name = name
        self.image_set = image_set
        self.root_path = root_path
        self.dataset_path = dataset_path
        self.cache_path = cache_path or os.path.join(root_path, 'cache')
        self.classes = ['__background__']
        self.image_ids = []

    def __repr__(self):
        return '%s(%s_%s, %d classes, %d images)' % (type(self).__name__, self.name, self.image_set,
                                                     self.num_classes, self.num_images)

    @property
    def num_classes(self):
        """Number of classes including the background."""
        return len(self.classes)

    @property
    def num_images(self):
        return len(self.image_ids)

    def gt_roidb(self):
        """List of roidb entries, one per image, in ``image_ids`` order."""
        raise NotImplementedError

    def append_flipped_images(self, roidb):
        """``roidb`` followed by a horizontally flipped copy of each entry."""
        return append_flipped(roidb)

    def check_num_classes(self, num_classes, source):
        """Raise ValueError when ``num_classes`` (if given) differs from the dataset's."""
        if num_classes is not None and int(num_classes) != self.num_classes:
            raise DatasetError(
                'NUM_CLASSES=%d does not match %s, which defines %d categories (+1 background '
                '= %d); set dataset.NUM_CLASSES to %d' % (num_classes, source, self.num_classes - 1,
                                                          self.num_classes, self.num_classes))

    def cache_file(self, what):
        """Path of the cache file ``<cache_path>/<name>_<image_set>_<what>.pkl``."""
        return os.path.join(self.cache_path, '%s_%s_%s.pkl' % (self.name, self.image_set, what))

    def cached(self, what, key, build, use_cache=True):
        """Data from the cache file ``what`` if its key matches, else ``build()`` (then saved)."""
        path = self.cache_file(what)
        if use_cache:
            data = load_cache(path, key)
            if data is not None:
                logger.info('%s_%s: loaded %s from %s', self.name, self.image_set, what, path)
                return data
        data = build()
        if use_cache:
            try:
                save_cache(path, key, data)
            except OSError as exc:  # a read-only data folder must not stop training
                logger.warning('could not write cache %s (%s); continuing without it', path, exc)
        return data


class ConcatIMDB(IMDB):
    """Several image sets of one dataset joined with '+' (e.g. 'train2014+valminusminival2014').

    The parts must define the same classes. ``gt_roidb`` concatenates the parts' roidbs;
    the class maps (``class_to_coco_id``, ...) are those of the parts.
    """

    def __init__(self, imdbs):
        first = imdbs[0]
        IMDB.__init__(self, first.name, '+'.join(d.image_set for d in imdbs), first.root_path,
                      first.dataset_path, first.cache_path)
        for other in imdbs[1:]:
            if other.classes != first.classes:
                raise ValueError("image sets %s and %s define different classes; only sets of "
                                 "one dataset can be joined with '+'" % (first.image_set, other.image_set))
        self.imdbs = list(imdbs)
        self.classes = list(first.classes)
        self.image_ids = [i for d in imdbs for i in d.image_ids]

    def gt_roidb(self):
        return [entry for d in self.imdbs for entry in d.gt_roidb()]

    def __getattr__(self, attr):
        # the class maps are shared by all parts; per-set objects (the COCO api) are not
        if attr in ('class_to_coco_id', 'coco_id_to_class', 'class_name_to_index'):
            return getattr(self.imdbs[0], attr)
        if attr == 'coco':
            raise AttributeError('%s_%s joins several image sets and has no single COCO api; '
                                 'evaluate on one image set' % (self.name, self.image_set))
        raise AttributeError(attr)
