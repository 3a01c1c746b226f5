"""What training and testing share: output folders, devices, datasets and their ground truth."""
import os

import mxnet as mx

from lib.dataset.factory import get_imdb
from lib.eval.roidb_gt import coco_from_roidb

# how a user picks another output folder, in the error of an output folder that fails
OUTPUT_FIX = "give a writable folder with output_path=<folder>"


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


def load_imdb(cfg, image_set):
    """The image database of ``image_set``, checked against dataset.NUM_CLASSES."""
    return get_imdb(cfg.dataset.dataset, image_set, cfg.dataset.root_path, cfg.dataset.dataset_path,
                    num_classes=cfg.dataset.NUM_CLASSES, generator_args=generator_args(cfg))


def ground_truth(imdb, roidb):
    """(pycocotools COCO ground truth, {class index: category id}) of a test set."""
    coco = getattr(imdb, 'coco', None)
    if coco is not None and hasattr(imdb, 'class_to_coco_id'):
        return coco, dict(imdb.class_to_coco_id)
    return coco_from_roidb(roidb, imdb.classes), {j: j for j in range(1, len(imdb.classes))}
