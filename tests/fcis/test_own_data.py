"""Own data by paths: the dataset.{train,test}_{annotation_file,image_root} keys, part by part
for joined training sets, and a COCO set with one flat image folder trained and tested
through the launcher."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from fcis.config import load_config
from fcis.core.run import load_imdb
from own_data import cli_overrides, split_content, write_json, write_own_set

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
LAUNCHER = os.path.join(ROOT, 'experiments', 'fcis', 'fcis_end2end_train_test.py')


@pytest.fixture(scope='module')
def own(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('own_flat'))
    return dict(write_own_set(folder), work=os.path.join(folder, 'work'))


def test_joined_training_sets_take_paths_part_by_part(own, tmp_path):
    # part 'b' keeps the default layout under dataset_path
    dataset_path = str(tmp_path / 'mydata')
    os.makedirs(os.path.join(dataset_path, 'images', 'b'))
    os.makedirs(os.path.join(dataset_path, 'annotations'))
    write_json(os.path.join(dataset_path, 'annotations', 'instances_b.json'), split_content('val'))
    cfg = load_config(CFG, cli_overrides(own, str(tmp_path / 'work'), 'dataset.dataset=coco',
                                         'dataset.image_set=a+b',
                                         'dataset.dataset_path=%s' % dataset_path,
                                         'dataset.train_annotation_file=%s+' % own['train'],
                                         'dataset.train_image_root=%s+' % own['images']))
    roidb = load_imdb(cfg, 'train').gt_roidb()
    assert [e['image'] for e in roidb] == (
        [os.path.join(own['images'], 'im%d.jpg' % i) for i in (1, 2, 3, 4)] +
        [os.path.join(dataset_path, 'images', 'b', 'im%d.jpg' % i) for i in (5, 6)])
    # one image root serves every part
    cfg.dataset.train_annotation_file = '%s+%s' % (own['train'], own['val'])
    cfg.dataset.train_image_root = own['images']
    roidb = load_imdb(cfg, 'train').gt_roidb()
    assert [e['image'] for e in roidb] == [os.path.join(own['images'], 'im%d.jpg' % i)
                                          for i in range(1, 7)]


def test_default_layout_is_unchanged(own, tmp_path):
    dataset_path = str(tmp_path / 'mydata')
    shutil.copytree(own['images'], os.path.join(dataset_path, 'images', 'val2014'))
    os.makedirs(os.path.join(dataset_path, 'annotations'))
    shutil.copy(own['val'], os.path.join(dataset_path, 'annotations', 'instances_minival2014.json'))
    cfg = load_config(CFG, ['dataset.dataset=coco', 'dataset.NUM_CLASSES=3',
                            'dataset.root_path=%s' % tmp_path, 'dataset.dataset_path=%s' % dataset_path,
                            'dataset.test_image_set=minival2014'])
    imdb = load_imdb(cfg, 'test')
    assert imdb.annotation_file == os.path.join(dataset_path, 'annotations',
                                                'instances_minival2014.json')
    assert [e['image'] for e in imdb.gt_roidb()] == [
        os.path.join(dataset_path, 'images', 'val2014', 'im%d.jpg' % i) for i in (5, 6)]


def test_flat_folder_set_trains_and_tests_through_the_launcher(own):
    command = [sys.executable, LAUNCHER, '--cfg', CFG, 'dataset.dataset=coco'] + \
        cli_overrides(own, own['work'])
    done = subprocess.run(command, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS='1'),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    out = os.path.join(own['work'], 'out', 'shapes_fcis_end2end')
    assert os.path.isfile(os.path.join(out, 'train', 'e2e-0001.params'))
    with open(os.path.join(out, 'train', 'train.log')) as f:
        log = f.read()
    assert "dataset report of the train split 'train' (%s):" % own['train'] in log
    assert '  images used                            4' in log
    assert '    bar                                  3' in log
    assert 'Epoch[0] Batch[2/2]' in log      # 4 images, 1 epoch, 2 training processes
    with open(os.path.join(out, 'val', 'metrics.json')) as f:
        metrics = json.load(f)
    assert metrics['sds']['num_classes'] == 2 and 'AP' in metrics['segm']
    assert os.listdir(os.path.join(out, 'val', 'vis')) == ['im5.png']
    assert not os.path.exists(os.path.join(own['work'], 'no_dataset_here'))
