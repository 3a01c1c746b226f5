"""Dataset factory: ``get_imdb('coco', 'train2014+valminusminival2014', './data', './data/coco')``."""
from .coco import COCODataset
from .imdb import ConcatIMDB, DatasetError
from .sds import SDSDataset

DATASETS = ('coco', 'sds', 'shapes')


def _single_imdb(name, image_set, root_path, dataset_path, num_classes, use_cache, paths):
    if name == 'sds':
        if any(paths):
            raise DatasetError('annotation files and image folders can be given for COCO-format '
                               'sets (dataset coco or shapes); the sds set is read from '
                               'dataset_path (layout in data/README.md)')
        return SDSDataset(image_set, root_path, dataset_path, num_classes, use_cache=use_cache)
    return COCODataset(image_set, root_path, dataset_path, num_classes, paths=paths, name=name,
                       use_cache=use_cache)


def get_imdb(name, image_set, root_path, dataset_path, num_classes=None, generator_args=None,
             use_cache=True, paths=None):
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
        paths: one (annotation file, image folder) pair per '+' part of ``image_set``
            ('' parts: the default layout under ``dataset_path``); None: all default. The
            shapes set is generated only when some part uses the default annotation file.

    Returns an IMDB (a ConcatIMDB for 'a+b').
    """
    if name not in DATASETS:
        raise ValueError("unknown dataset '%s'; choose one of %s" % (name, ', '.join(DATASETS)))
    sets = [s for s in image_set.split('+') if s]
    if not sets:
        raise ValueError("empty image set '%s'" % image_set)
    paths = list(paths) if paths is not None else [('', '')] * len(sets)
    if len(paths) != len(sets):
        raise ValueError("%d (annotation file, image folder) pairs for the %d image sets of '%s'"
                         % (len(paths), len(sets), image_set))
    if name == 'shapes' and not all(annotations for annotations, _ in paths):
        from .shapes import ensure_shapes  # imported here so `python -m lib.dataset.shapes` runs cleanly
        ensure_shapes(dataset_path, **(generator_args or {}))
    imdbs = [_single_imdb(name, s, root_path, dataset_path, num_classes, use_cache, p)
             for s, p in zip(sets, paths)]
    return imdbs[0] if len(imdbs) == 1 else ConcatIMDB(imdbs)
