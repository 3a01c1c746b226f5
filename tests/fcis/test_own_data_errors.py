"""Bad own data through the real entry point: each defect ends the launcher with exit status 1,
one 'error:' line naming the culprit (file, key, annotation or image id) and no traceback.

Every case runs experiments/fcis/fcis_end2end_train_test.py with the shapes YAML pointed at a
copy of the small hand-made set of ``own_data`` carrying one defect. All but the last fail
while the data is loaded, before training; the last (dataset.CHECK_IMAGES=false) fails in the
training loader's background thread.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from own_data import cli_overrides, write_own_set

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
LAUNCHER = os.path.join(ROOT, 'experiments', 'fcis', 'fcis_end2end_train_test.py')


@pytest.fixture(scope='module')
def pristine(tmp_path_factory):
    """The defect-free set, written once; each test copies it."""
    return str(tmp_path_factory.mktemp('own_set'))


@pytest.fixture
def own(pristine, tmp_path):
    """A fresh copy of the set: {'train', 'val' json paths, 'images' dir, 'work' dir}."""
    if not os.path.isdir(os.path.join(pristine, 'images')):
        write_own_set(pristine)
    folder = str(tmp_path / 'set')
    shutil.copytree(pristine, folder)
    return {'train': os.path.join(folder, 'train.json'), 'val': os.path.join(folder, 'val.json'),
            'images': os.path.join(folder, 'images'), 'work': str(tmp_path / 'work')}


def run_launcher(own, *extra):
    """(exit status, stderr) of a --skip-test run of the launcher on the set ``own``."""
    command = [sys.executable, LAUNCHER, '--cfg', CFG, '--skip-test'] + cli_overrides(
        own, own['work'], *extra)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)
    return done.returncode, done.stderr.decode('utf-8', 'replace')


def error_line(own, *extra):
    """The launcher's one 'error:' line, after checking status 1 and no traceback."""
    status, stderr = run_launcher(own, *extra)
    assert status == 1, stderr[-3000:]
    assert 'Traceback' not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith('error: ')]
    assert len(lines) == 1 and stderr.rstrip().endswith(lines[0]), stderr[-3000:]
    print(lines[0])
    return lines[0]


def edit_json(path, change):
    """Apply ``change(content)`` to the json file ``path``."""
    with open(path) as f:
        content = json.load(f)
    change(content)
    with open(path, 'w') as f:
        json.dump(content, f)


def annotation_of(content, ann_id):
    return next(a for a in content['annotations'] if a['id'] == ann_id)


def test_missing_image_file(own):
    os.remove(os.path.join(own['images'], 'im2.jpg'))
    line = error_line(own)
    assert 'image file not found: %s (image id 2 of %s)' % (
        os.path.join(own['images'], 'im2.jpg'), own['train']) in line
    assert 'dataset.train_image_root' in line


def test_truncated_jpeg(own):
    path = os.path.join(own['images'], 'im3.jpg')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    line = error_line(own)
    assert 'image file %s is a truncated or corrupt JPEG' % path in line
    assert 'image id 3 of %s' % own['train'] in line and 'replace the file' in line


def test_text_file_named_jpg(own):
    path = os.path.join(own['images'], 'im4.jpg')
    with open(path, 'w') as f:
        f.write('not a picture\n')
    line = error_line(own)
    assert "image file %s is not an image OpenCV can read (it starts with b'not a pi')" % path in line
    assert 'image id 4 of %s' % own['train'] in line


def test_missing_annotation_file(own):
    missing = os.path.join(os.path.dirname(own['train']), 'nope.json')
    line = error_line(own, 'dataset.train_annotation_file=%s' % missing)
    assert 'annotation file not found: %s (dataset.train_annotation_file)' % missing in line


def test_truncated_annotation_file(own):
    with open(own['train']) as f:
        text = f.read()
    lines = text.splitlines(True)
    with open(own['train'], 'w') as f:
        f.write(''.join(lines[:12]))        # 12 whole lines, cut inside the first image
    line = error_line(own)
    assert 'annotation file %s is not valid json' % own['train'] in line
    assert 'at line 13 column 1 (the file ends there: it is truncated)' in line


def test_invalid_annotation_json(own):
    with open(own['train'], 'w') as f:
        f.write('{"images": [\n  {"id": 1 "file_name": "im1.jpg"}\n]}\n')  # comma missing
    line = error_line(own)
    assert ("annotation file %s is not valid json: Expecting ',' delimiter at line 2 column 12"
            % own['train']) in line


def test_annotation_without_image_id(own):
    edit_json(own['train'], lambda c: annotation_of(c, 12).pop('image_id'))
    line = error_line(own)
    assert "annotation file %s: annotation 12 (annotations[1]) has no 'image_id'" % own['train'] in line


def test_unknown_category_id(own):
    edit_json(own['train'], lambda c: annotation_of(c, 21).update(category_id=99))
    line = error_line(own)
    assert ("%s: annotation 21 of image 2 has category_id 99, which is not in 'categories' "
            "(ids [3, 8])" % own['train']) in line


def test_segmentation_of_another_size(own):
    small = mask_utils.encode(np.asfortranarray(np.ones((32, 48), np.uint8)))
    segm = {'size': [32, 48], 'counts': small['counts'].decode('ascii')}
    edit_json(own['train'], lambda c: annotation_of(c, 31).update(segmentation=segm))
    line = error_line(own)
    assert ('%s: annotation 31 of image 3: segmentation size [32, 48] differs from the image '
            'size [64, 96]' % own['train']) in line


def test_no_annotated_image(own):
    def degenerate(content):
        for ann in content['annotations']:
            ann['segmentation'] = []            # no polygon: an empty segmentation
    edit_json(own['train'], degenerate)
    line = error_line(own)
    assert ('no training image has a usable annotated instance in %s (4 images: 4 every '
            'annotation left out' % own['train']) in line


def test_wrong_num_classes(own):
    line = error_line(own, 'dataset.NUM_CLASSES=5')
    assert ('NUM_CLASSES=5 does not match %s, which defines 2 categories' % own['train']) in line
    assert 'set dataset.NUM_CLASSES to 3' in line
    # the shapes dataset type with given annotation files generates nothing
    assert not os.path.exists(os.path.join(own['work'], 'no_dataset_here'))


def test_part_count_mismatch_names_the_key(own):
    line = error_line(own, 'dataset.train_annotation_file=%s+%s' % (own['train'], own['val']))
    assert "dataset.train_annotation_file has 2 '+'-joined parts but the image sets 'train' are 1" in line


def test_image_missing_during_training_names_the_file(own):
    os.remove(os.path.join(own['images'], 'im2.jpg'))
    line = error_line(own, 'dataset.CHECK_IMAGES=false')
    assert 'image file not found: %s' % os.path.join(own['images'], 'im2.jpg') in line


def test_output_path_that_cannot_be_created(own):
    os.makedirs(own['work'], exist_ok=True)
    blocker = os.path.join(own['work'], 'a_file')
    with open(blocker, 'w') as f:
        f.write('not a folder')
    line = error_line(own, 'output_path=%s' % os.path.join(blocker, 'out'))
    assert 'cannot create folder %s' % os.path.join(blocker, 'out') in line
    assert 'output_path=' in line


def test_unknown_config_key_names_the_key(own):
    line = error_line(own, 'TRAIN.lr_stepz=3')
    assert "unknown config key 'TRAIN.lr_stepz'" in line


@pytest.mark.parametrize('override, named', [
    ('TRAIN.BATCH_ROIS_OHEM=0', 'TRAIN.BATCH_ROIS_OHEM must be >= 1'),
    ('TRAIN.RPN_POST_NMS_TOP_N=0', 'RPN_POST_NMS_TOP_N (TRAIN. or TEST.) must be >= 1'),
    ('TRAIN.BATCH_ROIS=0', 'TRAIN.BATCH_ROIS must be >= 1, or -1 for all ROIs'),
])
def test_roi_counts_that_cannot_work(own, override, named):
    """Settings a Python CustomOp refuses when MXNet creates it (inside a ctypes callback,
    where the exception ends the process with a segmentation fault) stop the run first."""
    assert named in error_line(own, override)
