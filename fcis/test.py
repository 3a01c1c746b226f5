"""Test a trained FCIS model on the config's test set (``test_net(cfg)``).

Writes to ``<output_path>/<cfg name>/<test_image_set>/``: the detections as a COCO results
file (``detections_results.json``), ``metrics.json`` (COCO segm/bbox and SDS mAP^r), and
``vis/*.png`` pictures of the first TEST.VIS_NUM images (ground truth beside predictions).
A COCO image-info file without annotations (test-dev2015) is not evaluated: the results go to
``detections_<test_image_set>_<cfg name>_results.json``, named as the COCO evaluation server
expects (underscores of the cfg name become '-').
"""
import os

import cv2

from fcis.config.symbol_args import network_args
from fcis.core.checkpoint import load_training_state
from fcis.core.loader import TestLoader
from fcis.core.model_file import load_model_file
from fcis.core.run import OUTPUT_FIX, ground_truth, load_roidb, test_output_dir, train_output_dir
from fcis.core.tester import run_test
from fcis.predictor import Predictor
from lib.eval.coco_eval import run_coco_eval
from lib.eval.report import report_metrics
from lib.eval.results import write_coco_results
from lib.eval.sds_eval import sds_eval
from lib.utils.folders import make_folder
from lib.utils.logger import create_logger
from lib.utils.thread_governor import governor_for
from lib.utils.vis import draw_gt_vs_pred, write_png

RESULTS_FILE = 'detections_results.json'


def has_annotations(imdb):
    """False for a COCO image-info file without an 'annotations' list (a test-dev set)."""
    coco = getattr(imdb, 'coco', None)
    return coco is None or 'annotations' in coco.dataset


def submission_file_name(cfg):
    """'detections_<test set>_<algorithm>_results.json' of the COCO evaluation server; the
    algorithm name is the cfg name without underscores."""
    return 'detections_%s_%s_results.json' % (cfg.dataset.test_image_set,
                                              cfg.cfg_name.replace('_', '-'))


def load_params_file(cfg, path, logger=None):
    """(arg_params, aux_params) of any .params file (ours or the release's) for the test
    symbol of ``cfg`` (fcis.core.model_file)."""
    test_args = network_args(cfg, is_train=False).test
    return load_model_file(path, test_args.bbox_means, test_args.bbox_stds, logger)


def load_model(cfg, epoch, params_dir=None):
    """(arg_params, aux_params) of checkpoint ``epoch`` in the training output folder."""
    state = load_training_state(params_dir or train_output_dir(cfg), cfg.TRAIN.model_prefix, epoch)
    return state.arg_params, state.aux_params


def evaluate(imdb, roidb, results_path, output_dir, extra=None):
    """COCO segm/bbox and SDS mAP^r of a results file (+ ``extra`` entries such as the
    speed); prints the tables, writes metrics.json and returns the metrics."""
    coco_gt, _ = ground_truth(imdb, roidb)
    metrics = run_coco_eval(coco_gt, results_path)
    metrics['sds'] = sds_eval(coco_gt, results_path, thresholds=(0.5, 0.7))
    metrics.update(extra or {})
    report_metrics(metrics, output_dir)
    return metrics


def draw_pictures(roidb, all_boxes, all_masks, classes, count, score_thresh, out_dir):
    """Ground truth beside predictions for the first ``count`` images -> list of PNG paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, entry in enumerate(roidb[:count]):
        image = cv2.imread(entry['image'], cv2.IMREAD_UNCHANGED)
        picture = draw_gt_vs_pred(image, entry, all_boxes[i], all_masks[i], classes, score_thresh)
        name = os.path.splitext(os.path.basename(entry['image']))[0] + '.png'
        paths.append(write_png(os.path.join(out_dir, name), picture))
    return paths


def test_net(cfg, epoch=None, params=None, logger=None):
    """Detect, evaluate and draw on the test set; returns (metrics, output folder).

    epoch: checkpoint to test (default TEST.test_epoch); params: (arg, aux) dicts to use
    instead of a checkpoint.
    """
    output_dir = make_folder(test_output_dir(cfg), OUTPUT_FIX)
    logger = logger or create_logger(output_dir, filename='test.log')
    epoch = cfg.TEST.test_epoch if epoch is None else epoch
    arg_params, aux_params = params or load_model(cfg, epoch)
    imdb, roidb = load_roidb(cfg, 'test', logger)
    predictor = Predictor(cfg, (arg_params, aux_params), class_names=imdb.classes[1:])
    loader = TestLoader(roidb, image_input=predictor.image_input)
    logger.info('testing epoch %s on %d images of %s', epoch, len(roidb), cfg.dataset.test_image_set)
    all_boxes, all_masks, image_ids, seconds = run_test(
        predictor, loader, logger, governor=governor_for(cfg.default.ADAPT_THREADS))
    _, class_map = ground_truth(imdb, roidb)
    annotated = has_annotations(imdb)
    results_path = os.path.join(output_dir, RESULTS_FILE if annotated else submission_file_name(cfg))
    count = write_coco_results(results_path, all_boxes, all_masks, image_ids, class_map)
    logger.info('%d detections written to %s (%.3f s/image)', count, results_path, seconds)
    if annotated:
        metrics = evaluate(imdb, roidb, results_path, output_dir, {'seconds_per_image': seconds})
    else:
        logger.info('%s has no annotations: evaluation skipped; zip %s and submit it to the COCO '
                    'evaluation server', cfg.dataset.test_image_set, os.path.basename(results_path))
        metrics = {'seconds_per_image': seconds, 'results_file': results_path}
    if cfg.TEST.VIS_NUM > 0:
        paths = draw_pictures(roidb, all_boxes, all_masks, imdb.classes, cfg.TEST.VIS_NUM,
                              cfg.TEST.VIS_THRESH, os.path.join(output_dir, 'vis'))
        logger.info('pictures of %d test images in %s', len(paths), os.path.dirname(paths[0]))
    return metrics, output_dir
