"""FCIS training metrics against loop-based NumPy references written here."""
import math

import mxnet as mx
import numpy as np
import pytest

from fcis.core.metric import (FCISAcc, FCISAccFG, FCISL1Loss, FCISLogLoss, FCISMaskLoss,
                              RPNAcc, RPNL1Loss, RPNLogLoss, get_metrics, nonfinite_values)
from fcis.symbols.names import TRAIN_OUTPUT_NAMES

# the training symbol's outputs as sym.list_outputs() names them
NAMES = list(TRAIN_OUTPUT_NAMES)
OUTPUTS = [n + '_output' for n in NAMES]
LABELS = ['label', 'bbox_target', 'bbox_weight']


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def make_batch(rng, n=2, a=3, fh=4, fw=5, r=10, c=4, s=6):
    """Random training outputs and labels with ignored entries."""
    rpn_prob = softmax(rng.randn(n, 2, a * fh, fw), 1)                 # (N, 2, A*fh, fw)
    rpn_label = rng.randint(-1, 2, size=(n, a * fh * fw)).astype(np.float32)
    rpn_bbox_loss = rng.rand(n, 4 * a, fh, fw)
    cls_prob = softmax(rng.randn(r, c), 1)                             # (R, C)
    rcnn_label = rng.randint(-1, c, size=(r,)).astype(np.float32)
    rcnn_label[:2] = [1, 0]                                            # at least one fg and bg
    bbox_loss = rng.rand(r, 8)
    seg_prob = softmax(rng.randn(r, 2, s, s), 1)                        # (R, 2, S, S)
    mask_target = rng.randint(-1, 2, size=(r, s, s)).astype(np.float32)
    arrays = dict(rpn_cls_prob=rpn_prob, rpn_bbox_loss=rpn_bbox_loss, cls_prob=cls_prob,
                  bbox_loss=bbox_loss, seg_prob=seg_prob, mask_target=mask_target,
                  rcnn_label=rcnn_label, rpn_label=rpn_label, label=rpn_label)
    preds = [mx.nd.array(arrays[n]) for n in NAMES]
    labels = [mx.nd.array(rpn_label), mx.nd.zeros((1,)), mx.nd.zeros((1,))]
    return arrays, labels, preds


def reference(arrays):
    """Loop-based values of every metric."""
    out = {}
    p, l = arrays['rpn_cls_prob'], arrays['label']
    n, _, h, w = p.shape
    hits = logs = valid = 0
    for i in range(n):
        for y in range(h):
            for x in range(w):
                lab = l[i, y * w + x]
                if lab == -1:
                    continue
                probs = p[i, :, y, x]
                valid += 1
                hits += int(np.argmax(probs) == lab)
                logs += -math.log(probs[int(lab)] + 1e-14)
    out['RPNAcc'], out['RPNLogLoss'] = hits / valid, logs / valid
    out['RPNL1Loss'] = arrays['rpn_bbox_loss'].sum() / valid
    cp, cl = arrays['cls_prob'], arrays['rcnn_label']
    ok = [r for r in range(len(cl)) if cl[r] != -1]
    fg = [r for r in ok if cl[r] > 0]
    out['FCISAcc'] = np.mean([np.argmax(cp[r]) == cl[r] for r in ok])
    out['FCISAccFG'] = np.mean([np.argmax(cp[r]) == cl[r] for r in fg])
    out['FCISLogLoss'] = np.mean([-math.log(cp[r, int(cl[r])] + 1e-14) for r in ok])
    out['FCISL1Loss'] = arrays['bbox_loss'].sum() / len(ok)
    sp, mt = arrays['seg_prob'], arrays['mask_target']
    ce = [-math.log(sp[r, int(mt[r, y, x]), y, x] + 1e-14)
          for r in range(mt.shape[0]) for y in range(mt.shape[1]) for x in range(mt.shape[2])
          if mt[r, y, x] != -1]
    out['FCISMaskLoss'] = np.mean(ce)
    return out


def test_each_metric_matches_reference():
    rng = np.random.RandomState(0)
    arrays, labels, preds = make_batch(rng)
    ref = reference(arrays)
    for cls in (RPNAcc, RPNLogLoss, RPNL1Loss, FCISAcc, FCISAccFG, FCISLogLoss, FCISL1Loss,
                FCISMaskLoss):
        m = cls(OUTPUTS, LABELS)
        m.update(labels, preds)
        name, value = m.get()
        assert value == pytest.approx(ref[name], rel=1e-5), name


def test_rpn_labels_come_from_the_iterator_without_rpn_label_output():
    rng = np.random.RandomState(3)
    arrays, labels, preds = make_batch(rng)
    ref = reference(arrays)
    keep = [i for i, n in enumerate(NAMES) if n != 'rpn_label']
    metrics = get_metrics([OUTPUTS[i] for i in keep], LABELS)
    metrics.update(labels, [preds[i] for i in keep])
    values = dict(zip(*metrics.get()))
    for name in ('RPNAcc', 'RPNLogLoss', 'RPNL1Loss'):
        assert values[name] == pytest.approx(ref[name], rel=1e-5), name


def test_composite_accumulates_over_batches():
    rng = np.random.RandomState(1)
    b1, b2 = make_batch(rng), make_batch(rng)
    metrics = get_metrics(OUTPUTS, LABELS)
    for _, labels, preds in (b1, b2):
        metrics.update(labels, preds)
    names, values = metrics.get()
    assert len(names) == 8
    # accuracy over two batches = total hits / total valid (not the mean of two means)
    hits = valid = 0
    for arrays, _, _ in (b1, b2):
        keep = arrays['rcnn_label'] != -1
        hits += np.sum(arrays['cls_prob'].argmax(1)[keep] == arrays['rcnn_label'][keep])
        valid += keep.sum()
    assert dict(zip(names, values))['FCISAcc'] == pytest.approx(hits / valid)
    metrics.reset_local()                      # what the logging callback does: epoch totals stay
    names, values = metrics.get_global()
    assert dict(zip(names, values))['FCISAcc'] == pytest.approx(hits / valid)
    assert all(math.isnan(v) for v in metrics.get()[1])


class _CountingArray(object):
    """An output whose asnumpy() calls are counted."""

    def __init__(self, array, calls):
        self._array, self._calls = array, calls

    def asnumpy(self):
        self._calls.append(1)
        return self._array.asnumpy()


def test_composite_converts_each_array_once_with_the_bits_of_single_metrics():
    rng = np.random.RandomState(2)
    batches = [make_batch(rng) for _ in range(3)]
    alone = [cls(OUTPUTS, LABELS) for cls in (RPNAcc, RPNLogLoss, RPNL1Loss, FCISAcc,
                                              FCISAccFG, FCISLogLoss, FCISL1Loss, FCISMaskLoss)]
    by_list, by_dict = get_metrics(OUTPUTS, LABELS), get_metrics(OUTPUTS, LABELS)
    for _, labels, preds in batches:
        for metric in alone:
            metric.update(labels, preds)
        calls = []
        by_list.update(labels, [_CountingArray(p, calls) for p in preds])
        # the 8 metrics read the 8 outputs 16 times; each is converted once
        assert len(calls) == 8
        by_dict.update_dict(dict(zip(LABELS, labels)), dict(zip(OUTPUTS, preds)))
    want = [m.get()[1] for m in alone]
    assert by_list.get()[1] == want and by_dict.get()[1] == want  # exact floats


def test_missing_names_are_reported():
    with pytest.raises(ValueError, match='seg_prob'):
        FCISMaskLoss(['cls_prob'], LABELS)
    with pytest.raises(ValueError, match='no FCIS metric'):
        get_metrics(['foo_output'], ['bar'])
    partial = get_metrics(['rpn_cls_prob', 'rpn_bbox_loss', 'rpn_label'], [])
    assert [m.name for m in partial.metrics] == ['RPNAcc', 'RPNLogLoss', 'RPNL1Loss']


def test_nonfinite_detection_skips_empty_metrics():
    rng = np.random.RandomState(2)
    arrays, labels, preds = make_batch(rng)
    metrics = get_metrics(OUTPUTS, LABELS)
    no_fg = arrays['rcnn_label'].copy()
    no_fg[no_fg > 0] = 0
    preds[NAMES.index('rcnn_label')] = mx.nd.array(no_fg)
    metrics.update(labels, preds)
    assert nonfinite_values(metrics) == []            # FCISAccFG has no sample: not an error
    bad = arrays['bbox_loss'].copy()
    bad[0, 0] = np.nan
    preds[NAMES.index('bbox_loss')] = mx.nd.array(bad)
    metrics.update(labels, preds)
    found = nonfinite_values(metrics)
    assert [n for n, _ in found] == ['FCISL1Loss'] and math.isnan(found[0][1])
