"""A short end-to-end run on a tiny generated shapes set: train briefly, test, evaluate.

The model is tested on its own training split (the CI budget allows a few hundred updates,
enough to learn these images but not to generalize), and the same test is run with the
untrained initial parameters: the trained model's mAP^r@0.5 must be far above the untrained
one's. The test also checks what a user gets: a COCO results file pycocotools reads,
metrics.json with the SDS and COCO numbers, and the pictures.
"""
import json
import os

import pytest
from pycocotools.coco import COCO

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.params import FCISInitializer, load_params
from fcis.core import run as fcis_run
from fcis.symbols import get_test_symbol
from fcis import test as fcis_test
from fcis.train_end2end import train_net

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
EPOCHS = 12


def tiny_config(tmp_path):
    """The shapes config on 12 training images (24 with flips) at 64 pixels (8 cells of its
    stride-8 trunk), tested on them at that scale."""
    data = str(tmp_path / 'data')
    return load_config(CFG, [
        'output_path=%s' % (tmp_path / 'out'), 'dataset.root_path=%s' % data,
        'dataset.dataset_path=%s' % os.path.join(data, 'shapes'),
        'dataset.num_train_images=12', 'dataset.num_val_images=2',
        'dataset.test_image_set=train', 'SCALES=[[64, 80]]', 'TEST.SCALES=[]',
        'network.ANCHOR_SCALES=[2,4,8]',
        'TRAIN.FLIP=true', 'default.frequent=50',
        'TRAIN.end_epoch=%d' % EPOCHS, 'TRAIN.lr_step=%d' % (EPOCHS - 2),
        'TRAIN.warmup_step=20', 'TEST.test_epoch=%d' % EPOCHS, 'TEST.VIS_NUM=2'])


def untrained_params(cfg):
    """The initial parameters of a run (as train_net draws them), for the test symbol."""
    symbol = get_test_symbol(network_args(cfg, is_train=False))
    return load_params(symbol, {'data': (1, 3, 64, 80)}, '', 0,
                       initializer=FCISInitializer(cfg.network.MSRA_INIT_LAYERS))


@pytest.mark.slow
def test_short_shapes_run_learns_and_writes_results(tmp_path):
    cfg = tiny_config(tmp_path)
    train_net(cfg)
    trained, out_dir = fcis_test.test_net(cfg)
    untrained, _ = fcis_test.test_net(cfg, params=untrained_params(cfg))

    learned = trained['sds']['mAP^r@0.5']
    baseline = untrained['sds']['mAP^r@0.5']
    assert learned >= 0.3 and learned >= baseline + 0.25, (learned, baseline)
    assert trained['segm']['AP50'] > untrained['segm']['AP50']

    results = os.path.join(out_dir, fcis_test.RESULTS_FILE)
    gt = COCO(os.path.join(cfg.dataset.dataset_path, 'annotations', 'instances_train.json'))
    dets = gt.loadRes(results)  # pycocotools reads our results file
    assert len(dets.getAnnIds()) > 0
    with open(os.path.join(fcis_run.test_output_dir(cfg), 'metrics.json')) as f:
        written = json.load(f)
    assert written['sds']['mAP^r@0.5'] == pytest.approx(baseline)  # the last test run's
    pictures = os.listdir(os.path.join(out_dir, 'vis'))
    assert len(pictures) == 2 and all(p.endswith('.png') for p in pictures)
