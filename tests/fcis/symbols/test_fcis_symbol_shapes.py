"""Shapes and wiring of the FCIS train/test symbols for the shipped VOC and COCO configs
(infer_shape only: no ResNet-101 forward)."""
import os

import pytest

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.symbols import (TEST_OUTPUT_NAMES, TRAIN_OUTPUT_NAMES, get_test_symbol,
                          get_train_symbol)

CFG_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis', 'cfgs')
VOC = os.path.join(CFG_DIR, 'resnet_v1_101_voc_sds_fcis_end2end.yaml')
COCO = os.path.join(CFG_DIR, 'resnet_v1_101_coco_fcis_end2end_ohem.yaml')
IMAGE = (1, 3, 600, 1000)
FEAT = (38, 63)
K = 4  # ground-truth instances in the synthetic input shapes


def train_shapes(sym):
    shapes = dict(data=IMAGE, im_info=(1, 3), gt_boxes=(1, K, 5), gt_masks=(1, K) + IMAGE[2:])
    args, outs, _ = sym.infer_shape(**shapes)
    return dict(zip(sym.list_arguments(), args)), dict(zip(sym.list_outputs(), outs))


# (config, classes C, anchors A, ROIs per image in training: VOC 128 sampled, COCO (OHEM's
# pool) every one of the 300 proposals and K GT rows)
CASES = [(VOC, 21, 9, 128), (COCO, 81, 12, 300 + K)]


@pytest.mark.parametrize('cfg_file,num_classes,num_anchors,train_rois', CASES)
def test_train_symbol_shapes(cfg_file, num_classes, num_anchors, train_rois):
    cfg = load_config(cfg_file)
    args = network_args(cfg, is_train=True)
    assert args.num_anchors == num_anchors
    sym = get_train_symbol(args)
    assert sym.list_outputs() == [n + '_output' for n in TRAIN_OUTPUT_NAMES]
    arg, out = train_shapes(sym)
    a, c, b, s = num_anchors, num_classes, train_rois, 21
    assert arg['rpn_cls_score_weight'] == (2 * a, 512, 1, 1)
    assert arg['rpn_bbox_pred_weight'] == (4 * a, 512, 1, 1)
    assert arg['rpn_conv_3x3_weight'] == (512, 1024, 3, 3)
    assert arg['conv_new_1_weight'] == (1024, 2048, 1, 1)
    assert arg['fcis_cls_seg_weight'] == (7 * 7 * 2 * c, 1024, 1, 1)
    assert arg['fcis_cls_seg_weight'][0] == {21: 2058, 81: 7938}[c]
    assert arg['fcis_bbox_weight'] == (392, 1024, 1, 1)
    assert arg['label'] == (1, a * FEAT[0] * FEAT[1])
    assert arg['bbox_target'] == arg['bbox_weight'] == (1, 4 * a) + FEAT
    expected = {
        'rpn_cls_prob': (1, 2, a * FEAT[0], FEAT[1]), 'rpn_bbox_loss': (1, 4 * a) + FEAT,
        'cls_prob': (b, c), 'bbox_loss': (b, 8), 'seg_prob': (b, 2, s, s),
        'rpn_label': (1, a * FEAT[0] * FEAT[1]), 'rcnn_label': (b,), 'mask_target': (b, s, s)}
    assert out == {k + '_output': v for k, v in expected.items()}


@pytest.mark.parametrize('cfg_file,num_classes,num_anchors,train_rois', CASES)
@pytest.mark.parametrize('iters', [2, 1])
def test_test_symbol_shapes(cfg_file, num_classes, num_anchors, train_rois, iters):
    cfg = load_config(cfg_file, ['TEST.ITER=%d' % iters])
    sym = get_test_symbol(network_args(cfg, is_train=False))
    assert sym.list_outputs() == [n + '_output' for n in TEST_OUTPUT_NAMES]
    assert sym.list_arguments()[0] == 'data'
    assert not {'label', 'gt_boxes', 'gt_masks'} & set(sym.list_arguments())
    args, outs, _ = sym.infer_shape(data=IMAGE, im_info=(1, 3))
    arg = dict(zip(sym.list_arguments(), args))
    assert arg['rpn_cls_score_weight'][0] == 2 * num_anchors
    assert arg['fcis_cls_seg_weight'][0] == 49 * 2 * num_classes
    r = 300 * iters
    assert outs == [(r, 5), (r, num_classes), (r, 8), (r, 2, 21, 21)]


def test_anchor_count_follows_scales_and_ratios():
    cfg = load_config(VOC, ['network.ANCHOR_SCALES=[2, 4, 8, 16, 32]',
                            'network.ANCHOR_RATIOS=[0.5, 1]'])
    args = network_args(cfg, is_train=True)
    assert args.num_anchors == 10
    arg, out = train_shapes(get_train_symbol(args))
    assert arg['rpn_cls_score_weight'][0] == 20 and arg['rpn_bbox_pred_weight'][0] == 40
    assert out['rpn_cls_prob_output'] == (1, 2, 10 * FEAT[0], FEAT[1])


def test_conv_new_1_has_lr_mult_3_and_the_trunk_none():
    sym = get_train_symbol(network_args(load_config(VOC), is_train=True))
    attrs = sym.attr_dict()
    assert float(attrs['conv_new_1_weight']['__lr_mult__']) == 3.0
    assert float(attrs['conv_new_1_bias']['__lr_mult__']) == 3.0
    assert '__lr_mult__' not in attrs.get('fcis_cls_seg_weight', {})
    assert '__lr_mult__' not in attrs.get('res4a_branch2a_weight', {})


def test_fcis_cls_seg_lr_mult_from_config():
    """network.FCIS_CLS_SEG_LR_MULT puts an lr multiplier on fcis_cls_seg only (default none)."""
    cfg = load_config(VOC, ['network.FCIS_CLS_SEG_LR_MULT=10'])
    attrs = get_train_symbol(network_args(cfg, is_train=True)).attr_dict()
    assert float(attrs['fcis_cls_seg_weight']['__lr_mult__']) == 10.0
    assert float(attrs['fcis_cls_seg_bias']['__lr_mult__']) == 10.0
    assert '__lr_mult__' not in attrs.get('fcis_bbox_weight', {})
    assert float(attrs['conv_new_1_weight']['__lr_mult__']) == 3.0
    with pytest.raises(ValueError, match='FCIS_CLS_SEG_LR_MULT must be > 0'):
        network_args(load_config(VOC, ['network.FCIS_CLS_SEG_LR_MULT=0']), is_train=True)


def test_ohem_switch_inserts_the_annotator():
    def has_ohem(overrides):
        sym = get_train_symbol(network_args(load_config(VOC, overrides), is_train=True))
        return any(n.startswith('box_annotator_ohem') for n in sym.get_internals().list_outputs())
    assert not has_ohem([])
    assert has_ohem(['TRAIN.ENABLE_OHEM=True'])


def test_cxx_proposal_switch_keeps_the_shapes():
    cfg = load_config(VOC, ['TRAIN.CXX_PROPOSAL=True', 'TEST.CXX_PROPOSAL=True'])
    train = get_train_symbol(network_args(cfg, is_train=True))
    assert any(n.startswith('rois') for n in train.get_internals().list_outputs())
    _, out = train_shapes(train)
    assert out['cls_prob_output'] == (128, 21)
    test = get_test_symbol(network_args(cfg, is_train=False))
    assert test.infer_shape(data=IMAGE, im_info=(1, 3))[1][0] == (600, 5)
    assert 'Proposal' in test.tojson() and 'fcis_proposal' not in test.tojson()


@pytest.mark.parametrize('part', ['train', 'test'])
def test_more_than_one_image_per_device_is_refused_before_building(part):
    """FCISArgs built in code with batch_images 2 (the custom ops take one image): the
    check names both keys instead of a failure inside MXNet's operator creation."""
    import dataclasses
    args = network_args(load_config(VOC, []), is_train=True)
    bad = dataclasses.replace(args, **{part: dataclasses.replace(getattr(args, part),
                                                                 batch_images=2)})
    with pytest.raises(ValueError, match='TRAIN.BATCH_IMAGES and TEST.BATCH_IMAGES must be 1'):
        get_train_symbol(bad)


@pytest.mark.parametrize('overrides,stride', [([], 16), (['network.STEM_POOL=False'], 8)])
def test_feature_strides_must_be_the_trunks(overrides, stride):
    """With pool1 the trunk's stride is 16, without it 8; strides that differ are named."""
    other = 24 - stride
    good = ['network.RPN_FEAT_STRIDE=%d' % stride, 'network.RCNN_FEAT_STRIDE=%d' % stride]
    sym = get_train_symbol(network_args(load_config(VOC, overrides + good), is_train=True))
    arg, _ = train_shapes(sym)
    fh, fw = -(-IMAGE[2] // stride), -(-IMAGE[3] // stride)
    assert arg['bbox_target'] == (1, 36, fh, fw)
    bad = load_config(VOC, overrides + ['network.RPN_FEAT_STRIDE=%d' % other])
    with pytest.raises(ValueError, match='RPN_FEAT_STRIDE and RCNN_FEAT_STRIDE must be the '
                                         "trunk's feature stride .*%d" % stride):
        get_train_symbol(network_args(bad, is_train=True))
