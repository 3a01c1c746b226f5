"""Dataset factory: ``get_imdb('coco', 'train2014+valminusminival2014', './data', './data/coco')``."""
from .coco import COCODataset
from .imdb import ConcatIMDB
from .sds import SDSDataset

DATASETS = ('coco', 'sds', 'shapes')


def _single_imdb(name, image_set, root_path, dataset_path, num_classes, use_cache):
    if name == 'coco':
        return COCODataset(image_set, root_path, dataset_path, num_classes, use_cache=use_cache)
    if name == 'sds':
        return SDSDataset(image_set, root_path, dataset_path, num_classes, use_cache=use_cache)
    return COCODataset(image_set, root_path, dataset_path, num_classes, name='shapes',
                       use_cache=use_cache)


def get_imdb(name, image_set, root_path, dataset_path, num_classes=None, generator_args=None,
             use_cache=True):
    """The image database ``name`` ('coco', 'sds' or 'shapes') for ``image_set``.

    Args:
        name: 'coco' (any COCO-format set), 'sds' (PASCAL VOC SDS, SBD layout) or 'shapes'
            (COCO-format synthetic set, generated into ``dataset_path`` when absent).
        image_set: one set ('train2014') or several joined with '+' ('train2014+valminusminival2014').
        root_path: folder of the caches (``<root_path>/cache``).
        dataset_path: the dataset folder (layouts in data/README.md).
        num_classes: expected number of classes including background (None: no check).
        generator_args: shapes only, arguments of ``lib.dataset.shapes.generate_shapes``
            (num_train, num_val, seed, ...); a folder generated with other arguments is
            regenerated.
        use_cache: cache parsed annotations under ``<root_path>/cache``.

    Returns an IMDB (a ConcatIMDB for 'a+b').
    """
    if name not in DATASETS:
        raise ValueError("unknown dataset '%s'; choose one of %s" % (name, ', '.join(DATASETS)))
    if name == 'shapes':
        from .shapes import ensure_shapes  # imported here so `python -m lib.dataset.shapes` runs cleanly
        ensure_shapes(dataset_path, **(generator_args or {}))
    sets = [s for s in image_set.split('+') if s]
    if not sets:
        raise ValueError("empty image set '%s'" % image_set)
    imdbs = [_single_imdb(name, s, root_path, dataset_path, num_classes, use_cache) for s in sets]
    return imdbs[0] if len(imdbs) == 1 else ConcatIMDB(imdbs)


def load_gt_roidb(name, image_set, root_path, dataset_path, num_classes=None, flip=False,
                  generator_args=None, use_cache=True):
    """(imdb, roidb) of ``get_imdb``; the roidb gets flipped copies appended when ``flip``."""
    imdb = get_imdb(name, image_set, root_path, dataset_path, num_classes, generator_args, use_cache)
    roidb = imdb.gt_roidb()
    if flip:
        roidb = imdb.append_flipped_images(roidb)
    return imdb, roidb
