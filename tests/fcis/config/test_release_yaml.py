"""The original release's three YAML files (their key sets and values, typed here as
data) load unchanged: every key mapped, checked, or logged as without effect."""
import copy
import logging

import pytest
import yaml

from fcis.config import load_config
from fcis.config.config import ConfigError


def release_coco():
    """Keys and values of the release's resnet_v1_101_coco_fcis_end2end_ohem.yaml."""
    proposal = {'CXX_PROPOSAL': False, 'RPN_NMS_THRESH': 0.7, 'RPN_PRE_NMS_TOP_N': 6000,
                'RPN_POST_NMS_TOP_N': 300, 'RPN_MIN_SIZE': 2}
    return {
        'MXNET_VERSION': 'mxnet', 'output_path': './output/fcis/coco',
        'symbol': 'resnet_v1_101_fcis', 'gpus': '0,1,2,3,4,5,6,7', 'CLASS_AGNOSTIC': True,
        'SCALES': [600, 1000], 'MASK_SIZE': 21, 'BINARY_THRESH': 0.4,
        'default': {'frequent': 100, 'kvstore': 'device'},
        'network': {
            'pretrained': './model/pretrained_model/resnet_v1_101', 'pretrained_epoch': 0,
            'PIXEL_MEANS': [103.06, 115.90, 123.15], 'IMAGE_STRIDE': 0,
            'RCNN_FEAT_STRIDE': 16, 'RPN_FEAT_STRIDE': 16,
            'FIXED_PARAMS': ['conv1', 'bn_conv1', 'res2', 'bn2', 'gamma', 'beta'],
            'FIXED_PARAMS_SHARED': ['conv1', 'bn_conv1', 'res2', 'bn2', 'res3', 'bn3', 'res4',
                                    'bn4', 'gamma', 'beta'],
            'ANCHOR_RATIOS': [0.5, 1, 2], 'ANCHOR_SCALES': [4, 8, 16, 32], 'NUM_ANCHORS': 12},
        'dataset': {'NUM_CLASSES': 81, 'dataset': 'coco', 'dataset_path': './data/coco',
                    'image_set': 'train2014+valminusminival2014', 'root_path': './data',
                    'test_image_set': 'test-dev2015', 'proposal': 'rpn'},
        'TRAIN': dict(proposal, **{
            'lr': 0.0005, 'lr_step': '5.33', 'warmup': True, 'warmup_lr': 0.00005,
            'warmup_step': 250, 'begin_epoch': 0, 'end_epoch': 8, 'model_prefix': 'e2e',
            'RESUME': False, 'FLIP': True, 'SHUFFLE': True, 'ENABLE_OHEM': True,
            'BATCH_IMAGES': 1, 'END2END': True, 'ASPECT_GROUPING': True, 'BATCH_ROIS': -1,
            'BATCH_ROIS_OHEM': 128, 'FG_FRACTION': 0.25, 'FG_THRESH': 0.5,
            'BG_THRESH_HI': 0.5, 'BG_THRESH_LO': 0, 'BBOX_REGRESSION_THRESH': 0.5,
            'BBOX_WEIGHTS': [1.0, 1.0, 1.0, 1.0], 'RPN_BATCH_SIZE': 256,
            'RPN_FG_FRACTION': 0.5, 'RPN_POSITIVE_OVERLAP': 0.7, 'RPN_NEGATIVE_OVERLAP': 0.3,
            'RPN_CLOBBER_POSITIVES': False, 'GAP_SELECT_FROM_ALL': False,
            'RPN_BBOX_WEIGHTS': [1.0, 1.0, 1.0, 1.0], 'RPN_POSITIVE_WEIGHT': -1.0,
            'BBOX_NORMALIZATION_PRECOMPUTED': True, 'BBOX_MEANS': [0.0, 0.0, 0.0, 0.0],
            'BBOX_STDS': [0.2, 0.2, 0.5, 0.5], 'BINARY_THRESH': 0.4,
            'LOSS_WEIGHT': [1.0, 10.0, 1.0], 'CONVNEW3': True}),
        'TEST': dict(proposal, **{
            'HAS_RPN': True, 'BATCH_IMAGES': 1, 'PROPOSAL_NMS_THRESH': 0.7,
            'PROPOSAL_PRE_NMS_TOP_N': 20000, 'PROPOSAL_POST_NMS_TOP_N': 2000,
            'PROPOSAL_MIN_SIZE': 2, 'NMS': 0.3, 'test_epoch': 8, 'ITER': 2,
            'MIN_DROP_SIZE': 2, 'USE_MASK_MERGE': True, 'USE_GPU_MASK_MERGE': True}),
    }


def release_voc():
    """resnet_v1_101_vocSDS_fcis_end2end.yaml: the COCO file with these values changed."""
    cfg = release_coco()
    cfg.update(output_path='./output/fcis/voc', gpus='0,1,2,3')
    cfg['network'].update(ANCHOR_SCALES=[8, 16, 32], NUM_ANCHORS=9)
    cfg['dataset'].update(NUM_CLASSES=21, dataset='PascalVOC', dataset_path='./data/VOCdevkit',
                          image_set='SDS_train', test_image_set='SDS_val')
    cfg['TRAIN'].update(lr_step='14', warmup=False, warmup_step=0, end_epoch=22,
                        ENABLE_OHEM=False, BATCH_ROIS=128, BG_THRESH_LO=0.1, RPN_MIN_SIZE=16)
    cfg['TEST'].update(RPN_MIN_SIZE=16, PROPOSAL_MIN_SIZE=16, test_epoch=21, MIN_DROP_SIZE=16)
    return cfg


def release_demo():
    """fcis_coco_demo.yaml: the COCO file with these values changed."""
    cfg = release_coco()
    cfg.update(output_path='../output/fcis', gpus='0')
    cfg['default']['frequent'] = 20
    return cfg


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_release_coco_yaml_loads(tmp_path, caplog):
    # caplog's handler on the module's logger itself: an earlier in-process training run
    # may have stopped the project's loggers from propagating to the root
    notes = logging.getLogger('fcis.config.release_keys')
    notes.addHandler(caplog.handler)
    try:
        cfg = load_config(write(tmp_path, 'coco.yaml', release_coco()))
    finally:
        notes.removeHandler(caplog.handler)
    assert cfg.SCALES == [[600, 1000]] and cfg.network.NUM_ANCHORS == 12
    assert cfg.TEST.BINARY_THRESH == 0.4 and cfg.TRAIN.LOSS_WEIGHTS == [1.0, 10.0, 1.0]
    assert cfg.network.CONV_NEW_LR_MULT == 3.0 and cfg.network.PSROI_POOLED_SIZE == 21
    assert cfg.TRAIN.BATCH_ROIS == -1 and cfg.TRAIN.ROI_SAMPLING == 'release'
    assert not cfg.TRAIN.GAP_SELECT_FROM_ALL and cfg.TRAIN.RPN_MIN_SIZE == 2
    ignored = {'network.FIXED_PARAMS_SHARED', 'TRAIN.BBOX_REGRESSION_THRESH', 'TRAIN.END2END',
               'dataset.proposal', 'TEST.PROPOSAL_NMS_THRESH', 'TEST.PROPOSAL_PRE_NMS_TOP_N',
               'TEST.PROPOSAL_POST_NMS_TOP_N', 'TEST.PROPOSAL_MIN_SIZE'}
    for key in ignored:
        lines = {r.message for r in caplog.records if key + ' has no effect' in r.message}
        assert len(lines) == 1, key                         # one line per key


def test_release_voc_yaml_loads(tmp_path):
    cfg = load_config(write(tmp_path, 'voc.yaml', release_voc()))
    assert cfg.dataset.dataset == 'sds' and cfg.dataset.image_set == 'train'
    assert cfg.dataset.test_image_set == 'val'
    assert cfg.dataset.dataset_path == './data/VOCdevkit/VOCSDS'
    assert cfg.network.NUM_ANCHORS == 9 and cfg.TEST.test_epoch == 21
    assert cfg.TRAIN.RPN_MIN_SIZE == cfg.TEST.RPN_MIN_SIZE == 16 and cfg.TEST.MIN_DROP_SIZE == 16


def test_release_demo_yaml_loads(tmp_path):
    cfg = load_config(write(tmp_path, 'demo.yaml', release_demo()))
    assert cfg.gpus == '0' and cfg.dataset.NUM_CLASSES == 81


def test_convnew3_false_gives_lr_mult_1(tmp_path):
    data = release_coco()
    data['TRAIN']['CONVNEW3'] = False
    assert load_config(write(tmp_path, 'c.yaml', data)).network.CONV_NEW_LR_MULT == 1.0


@pytest.mark.parametrize('edit, message', [
    (lambda d: d['network'].update(NUM_ANCHORS=9), "network.NUM_ANCHORS' is 9"),
    (lambda d: d.update(MASK_SIZE=14), "'MASK_SIZE' is 14"),
    (lambda d: d['TRAIN'].update(END2END=False), "'TRAIN.END2END' must be True"),
    (lambda d: d['dataset'].update(proposal='selective_search'), "'dataset.proposal' must be"),
    (lambda d: d['TRAIN'].update(NOT_A_KEY=1), "unknown config key 'TRAIN.NOT_A_KEY'"),
])
def test_release_keys_with_values_not_honoured_are_errors(tmp_path, edit, message):
    data = copy.deepcopy(release_coco())
    edit(data)
    with pytest.raises(ConfigError, match=message.replace('.', r'\.').replace('(', r'\(')):
        load_config(write(tmp_path, 'bad.yaml', data))
