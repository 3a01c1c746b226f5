"""Draw FCIS detections on images:

    python fcis/demo.py --cfg experiments/fcis/cfgs/shapes_fcis_end2end.yaml \\
        --params output/fcis/shapes/shapes_fcis_end2end/train/e2e-0007.params \\
        --images data/shapes/images/val --out output/demo [--thresh 0.5] [KEY=VALUE ...]

For every image (any size; grayscale, BGR or BGRA/RGBA files), writes <out>/<name>.png with
each instance's mask in its own color, its box, class name and score, and prints how many
instances it drew. Class names come from --classes (comma-separated, or 'coco' for the 80
COCO categories), else from the config's dataset when it is on disk. --params takes any
MXNet .params file with our names, the FCIS release's fcis_coco-0000.params included:

    python fcis/demo.py --cfg experiments/fcis/cfgs/resnet_v1_101_coco_fcis_end2end_ohem.yaml \
        --params model/fcis_coco-0000.params --images demo/ --out output/demo --classes coco
"""
import argparse
import logging
import os
import sys

if __name__ == '__main__':  # entry point: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lib  # noqa: E402,F401  (sets OMP_NUM_THREADS before MXNet loads)
import cv2  # noqa: E402
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from fcis.config import ConfigError, load_config  # noqa: E402
from fcis.config.symbol_args import network_args  # noqa: E402
from fcis.core.model_file import load_model_file  # noqa: E402
from fcis.core.run import contexts, load_imdb  # noqa: E402
from fcis.core.tester import ImageFrame, Predictor, image_detections, voting_backend  # noqa: E402
from fcis.symbols import get_test_symbol  # noqa: E402
from lib.dataset.coco_classes import COCO_CLASSES  # noqa: E402
from lib.utils.checkpoint import CheckpointError  # noqa: E402
from lib.utils.image import image_to_tensor, resize_image  # noqa: E402
from lib.utils.vis import draw_detections, to_bgr_uint8, write_png, zoom_for  # noqa: E402

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
MIN_PICTURE_SIDE = 400  # smaller images are drawn at an integer zoom: labels stay readable


def list_images(items):
    """Image files named by ``items`` (files, or folders whose images are taken sorted)."""
    paths = []
    for item in items:
        if os.path.isdir(item):
            paths += sorted(os.path.join(item, f) for f in os.listdir(item)
                            if f.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise IOError("no such image or folder: %s" % item)
    if not paths:
        raise IOError("no image files (%s) in %s" % (', '.join(IMAGE_EXTENSIONS), ', '.join(items)))
    return paths


def class_names(cfg, given):
    """Names of classes 0..C-1: --classes ('coco': the COCO categories), else the
    dataset's, else 'class j'."""
    if given.strip().lower() == 'coco':
        names = ['__background__'] + list(COCO_CLASSES)
    elif given:
        names = ['__background__'] + [n.strip() for n in given.split(',')]
    else:
        try:
            names = list(load_imdb(cfg, 'test').classes)
        except (IOError, OSError, ValueError) as err:
            logging.warning('class names unavailable (%s); pass --classes', err)
            names = ['__background__'] + ['class %d' % j for j in range(1, cfg.dataset.NUM_CLASSES)]
    if len(names) != cfg.dataset.NUM_CLASSES:
        raise ValueError("%d class names for dataset.NUM_CLASSES=%d (background included)"
                         % (len(names), cfg.dataset.NUM_CLASSES))
    return names


def prepare(image, cfg):
    """(H, W, 3) BGR uint8 -> DataBatch [data (1, 3, h, w), im_info (1, 3)] and the scale."""
    resized, scale = resize_image(image, *cfg.SCALES[0])
    data = image_to_tensor(resized, cfg.network.PIXEL_MEANS)  # (1, 3, h, w)
    im_info = np.array([[resized.shape[0], resized.shape[1], scale]], dtype=np.float32)
    return mx.io.DataBatch(data=[mx.nd.array(data), mx.nd.array(im_info)]), scale


def run_demo(cfg, params_path, image_paths, out_dir, thresh, names):
    """Detect and draw on every image; returns the written PNG paths."""
    args = network_args(cfg, is_train=False)
    arg_params, aux_params = load_model_file(params_path, args.test.bbox_means,
                                             args.test.bbox_stds)
    symbol = get_test_symbol(args)
    os.makedirs(out_dir, exist_ok=True)
    predictor, written = None, []
    for path in image_paths:
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise IOError("cannot decode image %s (corrupt or not an image)" % path)
        image = to_bgr_uint8(raw)  # grayscale / BGRA -> BGR
        batch, scale = prepare(image, cfg)
        if predictor is None:
            shapes = [('data', batch.data[0].shape), ('im_info', batch.data[1].shape)]
            predictor = Predictor(symbol, arg_params, aux_params, contexts(cfg)[0], shapes)
        frame = ImageFrame(scale, image.shape[0], image.shape[1], *batch.data[0].shape[2:4])
        dets, rles = image_detections(predictor.predict(batch), frame, len(names), cfg.TEST,
                                      voting_backend(cfg.TEST, predictor.ctx))
        picture = draw_detections(image, dets, rles, names, score_thresh=thresh,
                                  zoom=zoom_for(image.shape[0], image.shape[1], MIN_PICTURE_SIDE))
        name = os.path.splitext(os.path.basename(path))[0] + '.png'
        written.append(write_png(os.path.join(out_dir, name), picture))
        count = sum(int((d[:, 4] >= thresh).sum()) for d in dets[1:])
        print('%s: %d instances with score >= %.2f -> %s' % (path, count, thresh, written[-1]))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description='Draw FCIS detections on images.')
    parser.add_argument('--cfg', required=True, help='experiment YAML the model was trained with')
    parser.add_argument('--params', required=True, help='trained .params file (e.g. <train dir>/e2e-0007.params)')
    parser.add_argument('--images', required=True, nargs='+', help='image files and/or folders')
    parser.add_argument('--out', required=True, help='folder for the pictures')
    parser.add_argument('--thresh', type=float, default=0.5, help='score threshold of drawn instances')
    parser.add_argument('--classes', default='', help="comma-separated class names (no background), or 'coco'")
    parser.add_argument('overrides', nargs='*', help='config overrides KEY=VALUE')
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.cfg, args.overrides)
        names = class_names(cfg, args.classes)
        run_demo(cfg, args.params, list_images(args.images), args.out, args.thresh, names)
    except (ConfigError, CheckpointError, IOError, ValueError) as err:
        sys.exit('error: %s' % err)


if __name__ == '__main__':
    main()
