"""Deterministic generator of the synthetic "shapes" instance-segmentation set, in COCO format.

    python -m lib.dataset.shapes --out data/shapes [--num-train 400 --num-val 60 --seed 0]

writes ``<out>/annotations/instances_{train,val}.json`` and ``<out>/images/{train,val}/*.png``
(the COCO layout of ``lib.dataset.coco``) plus ``<out>/shapes_meta.json`` recording the
generator arguments. Each image is rendered from its own seed (derived from the set seed,
the split and the image index), so any image can be re-rendered alone with
``render_image``. Masks are exact compressed RLE (occluded parts excluded).
"""
import argparse
import json
import logging
import os
import shutil
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from lib.masks.rle import encode_mask
from lib.utils.threads import usable_cores

from .coco import write_coco_json
from .roidb import mask_extent
from .shapes_render import CLASSES, render_sample

logger = logging.getLogger(__name__)

META_FILE = 'shapes_meta.json'

DEFAULT_ARGS = {
    'num_train': 400, 'num_val': 60, 'seed': 0,
    'min_image_size': 160, 'max_image_size': 256,   # each side drawn independently
    'min_shapes': 1, 'max_shapes': 4,
    'min_shape_size': 24, 'max_shape_size': 96,     # circumscribed diameter, pixels
    'min_visible': 64,                              # instances with fewer visible pixels are dropped
}


def image_seed(seed, split, index):
    """Seed of image ``index`` of ``split``: independent of every other image."""
    return int(np.random.SeedSequence([seed, zlib.crc32(split.encode()), index]).generate_state(1)[0])


def render_image(args, split, index):
    """Render image ``index`` of ``split`` with generator ``args`` (a full DEFAULT_ARGS dict).

    Returns (image (H, W, 3) uint8 BGR, label map (H, W) int32, instances list).
    """
    rng = np.random.RandomState(image_seed(args['seed'], split, index))
    height = rng.randint(args['min_image_size'], args['max_image_size'] + 1)
    width = rng.randint(args['min_image_size'], args['max_image_size'] + 1)
    num_shapes = rng.randint(args['min_shapes'], args['max_shapes'] + 1)
    return render_sample(rng, height, width, num_shapes, args['min_shape_size'],
                         args['max_shape_size'], min_visible=args['min_visible'])


def full_args(**overrides):
    """DEFAULT_ARGS updated with ``overrides`` (unknown names are an error)."""
    unknown = set(overrides) - set(DEFAULT_ARGS)
    if unknown:
        raise ValueError('unknown shapes generator argument(s) %s; known: %s'
                         % (sorted(unknown), sorted(DEFAULT_ARGS)))
    args = dict(DEFAULT_ARGS)
    args.update({k: int(v) for k, v in overrides.items()})
    if not (0 < args['min_image_size'] <= args['max_image_size']
            and 1 <= args['min_shapes'] <= args['max_shapes']
            and 0 < args['min_shape_size'] <= args['max_shape_size']):
        raise ValueError('shapes generator: every min_* must be positive and <= its max_* (%r)' % args)
    return args


def render_to_file(image_dir, args, split, index):
    """Render image ``index`` of ``split`` and write it as PNG into ``image_dir``; returns
    (file name, (height, width), [COCO annotation of each instance without its 'id' and
    'image_id']): category, exact RLE, area and box of the visible pixels."""
    image, label, instances = render_image(args, split, index)
    file_name = '%06d.png' % index
    if not cv2.imwrite(os.path.join(image_dir, file_name), image):
        raise IOError('cannot write %s' % os.path.join(image_dir, file_name))
    annotations = []
    for k, inst in enumerate(instances):
        mask = label == k + 1
        x1, y1, x2, y2 = mask_extent(mask)
        annotations.append({'category_id': inst['class'], 'segmentation': encode_mask(mask),
                            'area': int(mask.sum()), 'bbox': [x1, y1, x2 - x1 + 1, y2 - y1 + 1],
                            'iscrowd': 0})
    return file_name, image.shape[:2], annotations


def write_split(out_dir, split, count, args, workers=None):
    """Render ``count`` images of ``split`` into ``out_dir``; returns the number of instances.

    ``workers`` threads (default: the usable cores) render and encode the images (OpenCV
    and the RLE encoder release the GIL); the results are taken in image order, so the
    files are the same bytes whatever the number of workers."""
    image_dir = os.path.join(out_dir, 'images', split)
    os.makedirs(image_dir, exist_ok=True)
    images, annotations = [], []
    with ThreadPoolExecutor(max_workers=workers or usable_cores()) as pool:
        rendered = pool.map(lambda i: render_to_file(image_dir, args, split, i), range(count))
        for index, (file_name, (height, width), instances) in enumerate(rendered):
            image_id = index + 1
            images.append({'id': image_id, 'file_name': file_name,
                           'height': int(height), 'width': int(width)})
            for inst in instances:
                annotations.append({'id': len(annotations) + 1, 'image_id': image_id, **inst})
    categories = [{'id': i + 1, 'name': name, 'supercategory': 'shape'} for i, name in enumerate(CLASSES)]
    write_coco_json(os.path.join(out_dir, 'annotations', 'instances_%s.json' % split), images,
                    annotations, categories, info={'description': 'synthetic shapes (lib.dataset.shapes)',
                                                   'split': split, 'generator_args': args})
    return len(annotations)


def read_meta(out_dir):
    """Generator arguments recorded in ``out_dir`` (None when it is not a generated set)."""
    try:
        with open(os.path.join(out_dir, META_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_complete(out_dir, args, keys=None):
    """True when ``out_dir`` holds a complete generated set whose arguments equal ``args``
    (only on ``keys`` when given)."""
    meta = read_meta(out_dir)
    if meta is None or not all(os.path.isfile(os.path.join(out_dir, 'annotations', 'instances_%s.json' % s))
                               for s in ('train', 'val')):
        return False
    keys = list(args) if keys is None else list(keys)
    return all(meta.get(k) == args[k] for k in keys)


def generate_shapes(out_dir, **overrides):
    """Generate the train and val splits into ``out_dir`` (replacing an earlier generated set).

    The set is written into a temporary sibling folder and renamed into place, so readers
    never see a partial set. A folder that exists but was not made by this generator is
    never touched (IOError). Returns a summary dict (counts and seconds).
    """
    args = full_args(**overrides)
    start = time.time()
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and os.listdir(out_dir) and read_meta(out_dir) is None:
        raise IOError('%s exists and was not written by the shapes generator; choose another '
                      '--out folder or remove it' % out_dir)
    tmp = '%s.tmp-%d' % (out_dir, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    counts = {'train': write_split(tmp, 'train', args['num_train'], args),
              'val': write_split(tmp, 'val', args['num_val'], args)}
    with open(os.path.join(tmp, META_FILE), 'w') as f:
        json.dump(args, f, indent=1, sort_keys=True)
    _move_into_place(tmp, out_dir, args)
    summary = {'out': out_dir, 'train_images': args['num_train'], 'val_images': args['num_val'],
               'train_instances': counts['train'], 'val_instances': counts['val'],
               'seconds': time.time() - start}
    logger.info('generated shapes set %s in %.1f s', out_dir, summary['seconds'])
    return summary


def _move_into_place(tmp, out_dir, args):
    """Rename ``tmp`` to ``out_dir``; if another process finished the same set first, keep theirs."""
    if os.path.exists(out_dir):
        if is_complete(out_dir, args):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        old = '%s.old-%d' % (out_dir, os.getpid())
        os.rename(out_dir, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        if not is_complete(out_dir, args):
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_shapes(out_dir, **overrides):
    """Generate the set into ``out_dir`` unless it already holds one that agrees with ``overrides``.

    Only the arguments passed are compared: a set made with ``--max-shapes 6`` is kept when
    the caller asks for nothing but ``num_train=400`` and it has 400 training images.
    Returns the summary of ``generate_shapes``, or None when nothing was generated.
    """
    args = full_args(**overrides)
    if is_complete(out_dir, args, keys=overrides):
        return None
    logger.info('generating the shapes set in %s', out_dir)
    return generate_shapes(out_dir, **overrides)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Generate the synthetic shapes set (COCO format).')
    parser.add_argument('--out', default='data/shapes', help='output folder (default data/shapes)')
    for name, value in DEFAULT_ARGS.items():
        parser.add_argument('--' + name.replace('_', '-'), type=int, default=value,
                            help='default %d' % value)
    ns = parser.parse_args(argv)
    overrides = {name: getattr(ns, name) for name in DEFAULT_ARGS}
    summary = generate_shapes(ns.out, **overrides)
    print('wrote %(out)s: %(train_images)d train images (%(train_instances)d instances), '
          '%(val_images)d val images (%(val_instances)d instances) in %(seconds).1f s' % summary)


if __name__ == '__main__':
    main()
