"""What training and testing share: output folders, devices, datasets and their ground truth.

A split is 'train' (dataset.image_set, dataset.train_annotation_file, dataset.train_image_root)
or 'test' (dataset.test_image_set, dataset.test_annotation_file, dataset.test_image_root).
"""
import logging
import os

import mxnet as mx

from fcis.config import ConfigError
from lib.dataset.factory import get_imdb
from lib.dataset.imdb import DatasetError
from lib.dataset.report import dataset_report, format_report
from lib.eval.roidb_gt import coco_from_roidb
from lib.utils.image import check_image_file

SET_KEYS = {'train': 'image_set', 'test': 'test_image_set'}

# how a user picks another output folder, in the error of an output folder that fails
OUTPUT_FIX = 'give a writable folder with output_path=<folder>'


def train_output_dir(cfg):
    """<output_path>/<cfg name>/<image_set>: checkpoints, logs, metrics and loss curves."""
    return os.path.join(cfg.output_path, cfg.cfg_name, cfg.dataset.image_set.replace('+', '_'))


def test_output_dir(cfg):
    """<output_path>/<cfg name>/<test_image_set>: detections, metrics.json and pictures."""
    return os.path.join(cfg.output_path, cfg.cfg_name, cfg.dataset.test_image_set.replace('+', '_'))


def contexts(cfg):
    """Devices of the run: the GPUs listed in ``gpus``, else ``num_cpu_devices`` CPU contexts."""
    gpus = [g.strip() for g in str(cfg.gpus).split(',') if g.strip()]
    if gpus:
        return [mx.gpu(int(g)) for g in gpus]
    return [mx.cpu(i) for i in range(max(1, int(cfg.num_cpu_devices)))]


def generator_args(cfg):
    """Arguments of the shapes generator (None for other datasets)."""
    if cfg.dataset.dataset != 'shapes':
        return None
    return {'num_train': int(cfg.dataset.num_train_images), 'num_val': int(cfg.dataset.num_val_images)}


def image_sets(cfg, split):
    """The '+'-separated image sets of a split ('train' or 'test')."""
    return [s for s in cfg.dataset[SET_KEYS[split]].split('+') if s]


def _key_parts(cfg, key, sets, one_for_all):
    """Value of dataset.<key> split at '+', one part per image set ('' parts: default layout);
    with ``one_for_all`` a single value serves every set."""
    value = cfg.dataset[key].strip()
    if not value:
        return [''] * len(sets)
    parts = [p.strip() for p in value.split('+')]
    if one_for_all and len(parts) == 1:
        return parts * len(sets)
    if len(parts) != len(sets):
        raise ConfigError("dataset.%s has %d '+'-joined parts but the image sets '%s' are %d; give "
                          "one per image set, in the same order (an empty part keeps the default "
                          "layout)" % (key, len(parts), '+'.join(sets), len(sets)))
    return parts


def split_paths(cfg, split):
    """[(annotation file or '', image folder or '')] per image set of a split, each given
    path checked to exist ('' = the default layout under dataset.dataset_path)."""
    sets = image_sets(cfg, split)
    ann_key, root_key = '%s_annotation_file' % split, '%s_image_root' % split
    annotations = _key_parts(cfg, ann_key, sets, one_for_all=False)
    roots = _key_parts(cfg, root_key, sets, one_for_all=True)
    for path in annotations:
        if path and not os.path.isfile(path):
            raise DatasetError('annotation file not found: %s (dataset.%s); give the path of a '
                               'COCO-format json (data/README.md)' % (path, ann_key))
    for path in roots:
        if path and not os.path.isdir(path):
            raise DatasetError("image folder not found: %s (dataset.%s); give the folder the "
                               "json's file_names are relative to" % (path, root_key))
    return list(zip(annotations, roots))


def load_imdb(cfg, split):
    """The image database of a split ('train' or 'test'), checked against dataset.NUM_CLASSES."""
    return get_imdb(cfg.dataset.dataset, cfg.dataset[SET_KEYS[split]], cfg.dataset.root_path,
                    cfg.dataset.dataset_path, num_classes=cfg.dataset.NUM_CLASSES,
                    generator_args=generator_args(cfg), paths=split_paths(cfg, split))


def annotation_files(imdb):
    """The annotation files of an image database (of each joined part); [] for sds."""
    return [d.annotation_file for d in getattr(imdb, 'imdbs', [imdb]) if hasattr(d, 'annotation_file')]


def check_images(roidb, imdb, split):
    """Raise DatasetError naming the first image of ``roidb`` that is missing or does not
    decode (lib.utils.image.check_image_file), with its image id and the fix."""
    sources = ', '.join(annotation_files(imdb)) or 'the dataset'
    for entry in roidb:
        try:
            check_image_file(entry['image'])
        except OSError as err:
            fix = ('put the file there, or set dataset.%s_image_root to the folder the file_names '
                   'are relative to' % split if not os.path.isfile(entry['image'])
                   else 'replace the file or remove the image from the annotation file')
            raise DatasetError('%s (image id %s of %s); %s, or skip this check with '
                               'dataset.CHECK_IMAGES=false' % (err, entry['image_id'], sources, fix)
                               ) from None


def load_roidb(cfg, split, logger=None):
    """(imdb, ground-truth roidb) of a split with its dataset report logged and, with
    dataset.CHECK_IMAGES, every image file checked. An empty training set is an error."""
    logger = logger or logging.getLogger('fcis')
    imdb = load_imdb(cfg, split)
    roidb = imdb.gt_roidb()
    report = dataset_report(roidb, imdb.classes)
    sources = ', '.join(annotation_files(imdb)) or cfg.dataset.dataset_path
    logger.info('%s', format_report(report, "dataset report of the %s split '%s' (%s):"
                                    % (split, cfg.dataset[SET_KEYS[split]], sources)))
    if split == 'train' and report['images_used'] == 0:
        reasons = ', '.join('%d %s' % (s['count'], r) for r, s in report['skipped_images'].items())
        raise DatasetError('no training image has a usable annotated instance in %s (%d images: %s; '
                           'see the dataset report); annotate at least one instance' %
                           (sources, report['images'], reasons or 'none listed'))
    if cfg.dataset.CHECK_IMAGES:
        check_images(roidb, imdb, split)
    return imdb, roidb


def ground_truth(imdb, roidb):
    """(pycocotools COCO ground truth, {class index: category id}) of a test set."""
    coco = getattr(imdb, 'coco', None)
    if coco is not None and hasattr(imdb, 'class_to_coco_id'):
        return coco, dict(imdb.class_to_coco_id)
    return coco_from_roidb(roidb, imdb.classes), {j: j for j in range(1, len(imdb.classes))}
