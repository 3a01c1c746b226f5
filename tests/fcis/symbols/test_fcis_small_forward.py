"""One training step and one test forward of the FCIS symbols with the small trunk on the
CPU (synthetic image, boxes and masks): finite losses, gradients on the heads, frozen
parameters unchanged, test outputs consistent with the ops that produce them."""
import os

import mxnet as mx
import numpy as np
import pytest

import fcis.operators  # noqa: F401  (registers fcis_box_parser for the reference below)
from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.params import fixed_param_names, load_params
from fcis.symbols import (NEW_LAYERS, TEST_DATA_NAMES, TEST_OUTPUT_NAMES, TRAIN_DATA_NAMES,
                          TRAIN_LABEL_NAMES, TRAIN_OUTPUT_NAMES, get_test_symbol,
                          get_train_symbol)

SHAPES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis',
                      'cfgs', 'shapes_fcis_end2end.yaml')
H, W = 224, 320
FH, FW = 28, 40  # res4 map, stride 8 (no pool1): 224 -> 112 -> 56 -> 28; 320 -> 40
FIXED = ['conv1', 'bn_conv1', 'res2', 'bn2', 'gamma', 'beta']


def small_config(*overrides):
    return load_config(SHAPES, ['network.BN_USE_GLOBAL_STATS=True'] + list(overrides))


def synthetic_batch(num_anchors, seed):
    """Image, im_info, 3 GT boxes with masks (+ a padding row), random RPN labels/targets."""
    rng = np.random.RandomState(seed)
    image = rng.randn(1, 3, H, W).astype(np.float32)
    gt_boxes = np.array([[[20, 30, 120, 150, 1], [150, 40, 300, 200, 3],
                          [60, 100, 110, 210, 4], [0, 0, 0, 0, -1]]], np.float32)
    gt_masks = np.zeros((1, 4, H, W), np.float32)
    for k in range(3):
        x1, y1, x2, y2 = gt_boxes[0, k, :4].astype(int)
        gt_masks[0, k, y1:y2, x1:x2] = rng.rand(y2 - y1, x2 - x1) > 0.3
    label = rng.choice([-1, 0, 1], size=(1, num_anchors * FH * FW), p=[0.8, 0.15, 0.05])
    fg = (label.reshape(num_anchors, 1, FH, FW) == 1).repeat(4, axis=1)
    bbox_weight = fg.reshape(1, 4 * num_anchors, FH, FW).astype(np.float32)
    bbox_target = rng.randn(1, 4 * num_anchors, FH, FW).astype(np.float32)
    data = [image, np.array([[H, W, 1.0]], np.float32), gt_boxes, gt_masks]
    labels = [label.astype(np.float32), bbox_target, bbox_weight]
    return data, labels


def train_module(cfg, seed):
    args = network_args(cfg, is_train=True)
    sym = get_train_symbol(args)
    data, labels = synthetic_batch(args.num_anchors, seed)
    arg_params, aux_params = load_params(sym, {'data': data[0].shape})
    fixed = fixed_param_names(sym.list_arguments(), FIXED, match_suffix=True)  # every BN frozen
    mod = mx.mod.Module(sym, data_names=TRAIN_DATA_NAMES, label_names=TRAIN_LABEL_NAMES,
                        fixed_param_names=fixed, context=mx.cpu())
    mod.bind(data_shapes=list(zip(TRAIN_DATA_NAMES, [d.shape for d in data])),
             label_shapes=list(zip(TRAIN_LABEL_NAMES, [l.shape for l in labels])))
    mod.init_params(arg_params=arg_params, aux_params=aux_params)
    mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.01})
    batch = mx.io.DataBatch([mx.nd.array(d) for d in data], [mx.nd.array(l) for l in labels])
    return mod, batch, fixed


@pytest.mark.parametrize('ohem', [False, True])
def test_training_step(ohem, test_seed):
    overrides = ['TRAIN.ENABLE_OHEM=True', 'TRAIN.BATCH_ROIS=-1',
                 'TRAIN.BATCH_ROIS_OHEM=32'] if ohem else []
    mod, batch, fixed = train_module(small_config(*overrides), test_seed)
    assert 'conv1_weight' in fixed and 'bn3a_branch2a_gamma' in fixed
    assert 'res3a_branch2a_weight' not in fixed
    before = {n: a.copy() for n, a in mod.get_params()[0].items()}

    mod.forward_backward(batch)
    outputs = dict(zip(TRAIN_OUTPUT_NAMES, [o.asnumpy() for o in mod.get_outputs()]))
    for name in ('rpn_cls_prob', 'rpn_bbox_loss', 'cls_prob', 'bbox_loss', 'seg_prob'):
        assert np.all(np.isfinite(outputs[name])), name
    np.testing.assert_allclose(outputs['cls_prob'].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(outputs['seg_prob'].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(outputs['rpn_label'], batch.label[0].asnumpy())
    labels, masks = outputs['rcnn_label'], outputs['mask_target']
    assert (labels > 0).any(), 'the synthetic GT boxes must give foreground ROIs'
    assert np.all(masks[labels <= 0] == -1)  # masks only for foreground ROIs
    assert set(np.unique(masks[labels > 0])) <= {0.0, 1.0}
    if ohem:
        assert (labels >= 0).sum() == 32  # OHEM keeps BATCH_ROIS_OHEM ROIs
        assert labels.shape[0] > 32

    grads = dict(zip(mod._exec_group.param_names, mod._exec_group.grad_arrays))
    for layer in NEW_LAYERS:
        g = grads[layer + '_weight'][0].asnumpy()
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0, layer
    assert np.abs(grads['res3a_branch2a_weight'][0].asnumpy()).max() > 0
    for name in fixed:  # grad_req 'null': no gradient array at all
        assert all(g is None for g in grads[name]), name

    mod.update()
    after = mod.get_params()[0]
    for name in fixed:
        np.testing.assert_array_equal(after[name].asnumpy(), before[name].asnumpy(), name)
    for name in ('fcis_cls_seg_weight', 'rpn_cls_score_weight', 'res4a_branch2a_weight'):
        assert np.abs(after[name].asnumpy() - before[name].asnumpy()).max() > 0, name


def test_test_forward_second_pass_and_mask_choice(test_seed):
    cfg = small_config()
    args = network_args(cfg, is_train=False)
    sym = get_test_symbol(args)
    data, _ = synthetic_batch(args.num_anchors, test_seed)
    arg_params, aux_params = load_params(sym, {'data': data[0].shape})
    mod = mx.mod.Module(sym, data_names=TEST_DATA_NAMES, label_names=None, context=mx.cpu())
    mod.bind(data_shapes=[('data', data[0].shape), ('im_info', (1, 3))], for_training=False)
    mod.init_params(arg_params=arg_params, aux_params=aux_params)
    mod.forward(mx.io.DataBatch([mx.nd.array(data[0]), mx.nd.array(data[1])]), is_train=False)
    out = dict(zip(TEST_OUTPUT_NAMES, [o.asnumpy() for o in mod.get_outputs()]))

    post = cfg.TEST.RPN_POST_NMS_TOP_N
    rois, cls_prob, bbox_pred, seg_pred = (out[n] for n in TEST_OUTPUT_NAMES)
    assert rois.shape == (2 * post, 5) and cls_prob.shape == (2 * post, cfg.dataset.NUM_CLASSES)
    S = cfg.network.PSROI_POOLED_SIZE
    assert bbox_pred.shape == (2 * post, 8) and seg_pred.shape == (2 * post, 2, S, S)
    np.testing.assert_allclose(cls_prob.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(seg_pred.sum(axis=1), 1.0, rtol=1e-5)

    # second-pass ROIs = the box parser applied to the first pass
    second = mx.nd.Custom(mx.nd.array(rois[:post]), mx.nd.array(bbox_pred[:post]),
                          mx.nd.array(data[1]), op_type='fcis_box_parser',
                          bbox_means=str(args.test.bbox_means),
                          bbox_stds=str(args.test.bbox_stds)).asnumpy()
    np.testing.assert_allclose(rois[post:], second, rtol=1e-5, atol=1e-3)
    assert np.all(rois[:, 3] <= W - 1) and np.all(rois[:, 4] <= H - 1)


def test_test_mask_is_the_softmax_of_the_top_class_pair(test_seed):
    """seg_pred = softmax of the (outside, inside) maps of the best foreground class (NumPy
    reference on the assembled maps), bit for bit the softmax over all classes then the pick."""
    cfg = small_config()
    args = network_args(cfg, is_train=False)
    sym = get_test_symbol(args)
    internals = sym.get_internals()
    probe = mx.sym.Group([internals[n + '_output']
                          for n in ('psroipool_cls_seg', 'cls_prob', 'seg_pred')])
    data, _ = synthetic_batch(args.num_anchors, test_seed)
    arg_params, aux_params = load_params(sym, {'data': data[0].shape})
    arg_params['fcis_cls_seg_weight'] *= 300  # spread the maps so the classes differ
    exe = probe.simple_bind(mx.cpu(), grad_req='null', data=data[0].shape, im_info=(1, 3))
    for name, array in exe.arg_dict.items():
        if name in arg_params:
            arg_params[name].copyto(array)
    for name, array in exe.aux_dict.items():
        aux_params[name].copyto(array)
    maps, cls_prob, seg_pred = [o.asnumpy() for o in exe.forward(
        is_train=False, data=mx.nd.array(data[0]), im_info=mx.nd.array(data[1]))]

    num, classes, size = maps.shape[0], args.num_classes, args.pooled_size
    top = 1 + np.argmax(cls_prob[:, 1:], axis=1)  # (R,) best foreground class
    assert len(set(top.tolist())) > 1
    pair = maps.reshape(num, classes, 2, size, size)[np.arange(num), top].astype(np.float64)
    ref = np.exp(pair - pair.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)  # (R, 2, S, S)
    np.testing.assert_allclose(seg_pred, ref, rtol=1e-5, atol=1e-7)
    all_pairs = mx.nd.ChannelOperator(mx.nd.array(maps), op_type='Group_Softmax', group=classes)
    picked = mx.nd.ChannelOperator(all_pairs, mx.nd.array(cls_prob), op_type='Group_Pick',
                                   group=classes, pick_type='Score_Pick').asnumpy()
    np.testing.assert_array_equal(seg_pred, picked)
