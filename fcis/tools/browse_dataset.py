"""Draw the ground truth of a dataset as the network sees it:

    python -m fcis.tools.browse_dataset --cfg experiments/fcis/cfgs/<exp>.yaml \
        [--num 8] [--out DIR] [--split train|test] [KEY=VALUE ...]

Each of the first ``--num`` images of the split (training: the images used, flipped copies
left out) is read, resized and its masks resized by the training loader's own
``fcis.core.minibatch.load_train_image`` at the first pair of SCALES, then drawn with its
masks, boxes and class names (``lib.utils.vis.draw_instances``) to ``<out>/<image>.png``
(default out: ``<output_path>/<cfg name>/browse_<split>``). The dataset report is printed
first. A failure the user can fix ends in one line "error: ..." (fcis.cli.run_main).
"""
import argparse
import logging
import os
import sys

from fcis.cli import run_main
from fcis.config import load_config
from fcis.core.minibatch import load_train_image
from fcis.core.run import load_roidb
from lib.dataset.roidb import filter_roidb
from lib.utils.image import normalize_scales, tensor_to_image
from lib.utils.vis import draw_instances, write_png


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--cfg', required=True, help='experiment YAML (experiments/fcis/cfgs/)')
    parser.add_argument('--num', type=int, default=8, help='images to draw (default 8)')
    parser.add_argument('--out', default='', help='folder of the PNGs')
    parser.add_argument('--split', choices=('train', 'test'), default='train',
                        help='dataset.image_set (train) or dataset.test_image_set (test)')
    parser.add_argument('overrides', nargs='*', help='config overrides KEY=VALUE')
    return parser.parse_intermixed_args(argv)


def network_view(entry, cfg):
    """(image (h, w, 3) uint8 BGR, boxes (K, 4), masks (K, h, w) float32 0/1, labels (K,)) of
    a roidb entry after the training loader's reading and resizing (first pair of SCALES)."""
    target_size, max_size = normalize_scales(cfg.SCALES)[0]
    prepared = load_train_image(entry, target_size, max_size, cfg.network.PIXEL_MEANS)
    image = tensor_to_image(prepared['data'], cfg.network.PIXEL_MEANS)
    gt_boxes = prepared['gt_boxes']                                   # (K, 5)
    return image, gt_boxes[:, :4], prepared['gt_masks'], gt_boxes[:, 4].astype(int)


def draw_entry(entry, cfg, classes):
    """(h, w, 3) uint8 BGR picture of ``network_view(entry, cfg)`` with the class names."""
    image, boxes, masks, labels = network_view(entry, cfg)
    return draw_instances(image, boxes, list(masks), labels, classes)


def browse(cfg, split, num, out_dir):
    """Write the pictures of the first ``num`` images of ``split``; returns their paths."""
    imdb, roidb = load_roidb(cfg, split)
    if split == 'train':
        roidb = filter_roidb(roidb)
    paths = []
    for entry in roidb[:max(0, num)]:
        name = os.path.splitext(os.path.basename(entry['image']))[0] + '.png'
        paths.append(write_png(os.path.join(out_dir, name), draw_entry(entry, cfg, imdb.classes)))
    return paths


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.cfg, args.overrides)
    logger = logging.getLogger('fcis')
    if not logger.handlers:
        logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stderr)
        logger.setLevel(logging.INFO)
    image_set = cfg.dataset.image_set if args.split == 'train' else cfg.dataset.test_image_set
    out_dir = args.out or os.path.join(cfg.output_path, cfg.cfg_name, 'browse_%s' % args.split)
    paths = browse(cfg, args.split, args.num, out_dir)
    print('%d pictures of %s (%s split) in %s' % (len(paths), image_set, args.split, out_dir))
    return paths


if __name__ == '__main__':
    run_main(main)
