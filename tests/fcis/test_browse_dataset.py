"""The dataset browser (python -m fcis.tools.browse_dataset) on the hand-made set of own_data:
it writes one PNG per image used, at the size the network sees, and draws the masks the
training loader makes (64x96 images scaled x2: every mask pixel becomes a 2x2 block)."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import fcis.tools.browse_dataset as browser
from fcis.config import load_config
from fcis.core.run import load_roidb
from own_data import HEIGHT, LAYOUT, WIDTH, cli_overrides, rect_mask, write_own_set

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')


@pytest.fixture(scope='module')
def own(tmp_path_factory):
    """The set with image 2's only annotation made empty: 3 training images are used."""
    folder = str(tmp_path_factory.mktemp('browse_set'))
    paths = write_own_set(folder)
    with open(paths['train']) as f:
        content = json.load(f)
    next(a for a in content['annotations'] if a['id'] == 21)['segmentation'] = []
    with open(paths['train'], 'w') as f:
        json.dump(content, f)
    return dict(paths, work=os.path.join(folder, 'work'))


def browse(own, out, *args):
    command = [sys.executable, '-m', 'fcis.tools.browse_dataset', '--cfg', CFG, '--out', out] + \
        list(args) + cli_overrides(own, own['work'])
    done = subprocess.run(command, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS='1'),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return sorted(os.listdir(out)), done.stderr.decode()


def test_browser_writes_a_png_per_image_used(own, tmp_path):
    names, log = browse(own, str(tmp_path / 'train'), '--num', '10')
    assert names == ['im1.png', 'im3.png', 'im4.png']        # image 2 has no usable instance
    assert 'empty segmentation' in log and 'images used                            3' in log
    for name in names:
        assert cv2.imread(str(tmp_path / 'train' / name)).shape == (2 * HEIGHT, 2 * WIDTH, 3)
    names, _ = browse(own, str(tmp_path / 'test'), '--split', 'test', '--num', '1')
    assert names == ['im5.png']


def test_drawn_masks_are_the_loaders_resized_masks(own, monkeypatch):
    cfg = load_config(CFG, cli_overrides(own, own['work']))
    imdb, roidb = load_roidb(cfg, 'train')
    drawn = []

    def record(image, boxes, masks, labels, class_names, **kwargs):
        drawn.append((image, np.asarray(boxes), np.stack(masks), list(labels)))
        return image
    monkeypatch.setattr(browser, 'draw_instances', record)
    browser.draw_entry(roidb[0], cfg, imdb.classes)
    image, boxes, masks, labels = drawn[0]
    objects = LAYOUT[0][2]                                # image 1: a bar and a block
    assert image.shape == (2 * HEIGHT, 2 * WIDTH, 3) and image.dtype == np.uint8
    assert labels == [1, 2] and [imdb.classes[j] for j in labels] == ['bar', 'block']
    for k, (_, _, x1, y1, x2, y2) in enumerate(objects):
        expected = np.kron(rect_mask(x1, y1, x2, y2), np.ones((2, 2), np.uint8))
        np.testing.assert_array_equal(masks[k], expected)
        np.testing.assert_allclose(boxes[k], [2 * x1, 2 * y1, 2 * x2, 2 * y2])
    # the picture is the image file scaled x2, in BGR order (channels swapped would differ by
    # ~180 on the rectangles); bilinear against pixel-repeated differs only at edges
    source = cv2.imread(roidb[0]['image']).astype(int)
    upsampled = np.repeat(np.repeat(source, 2, axis=0), 2, axis=1)
    assert np.abs(image.astype(int) - upsampled).mean() < 3
