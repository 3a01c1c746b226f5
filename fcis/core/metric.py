"""Training metrics of FCIS, computed from the outputs of the training symbol.

Every metric finds its arrays by NAME: ``output_names`` is the training symbol's output
list (index i = ``preds[i]``; a trailing ``_output`` is ignored, so ``sym.list_outputs()``
works) and ``label_names`` the iterator's ``provide_label`` names (index i = ``labels[i]``).
The names used here:

    outputs: rpn_cls_prob  (N, 2, A*fh, fw) or any (N, 2, ...) softmax over bg/fg
             rpn_bbox_loss (N, 4A, fh, fw)  smooth-L1 values (forward of MakeLoss)
             cls_prob      (R, C) or (N, R, C) class softmax of the sampled ROIs
             bbox_loss     (R, 8) or any shape  smooth-L1 values of the ROI boxes
             seg_prob      (R, 2, S, S)     picked mask softmax (bg, inside) per ROI
             mask_target   (R, S, S)        0/1 mask target, -1 = ignored
             rcnn_label    (R,) or (N, R)   ROI class label, -1 = ignored
             rpn_label     (N, A*fh*fw)     RPN anchor label 0/1, -1 = ignored
    labels:  label         (N, A*fh*fw)     the same RPN labels; used when the outputs
                                            have no 'rpn_label'

The defaults are the constants of ``fcis.symbols.names`` (TRAIN_OUTPUT_NAMES,
TRAIN_LABEL_NAMES).

A metric whose arrays are missing from the lists raises ValueError naming them.
"""
import math

import mxnet as mx
import numpy as np

from fcis.symbols.names import TRAIN_LABEL_NAMES, TRAIN_OUTPUT_NAMES

EPS = 1e-14

DEFAULT_OUTPUT_NAMES = TRAIN_OUTPUT_NAMES
DEFAULT_LABEL_NAMES = TRAIN_LABEL_NAMES
ALIASES = {'rpn_label': 'label'}  # output name -> label name holding the same values


def _index(names):
    """Names -> {name without '_output': position}."""
    out = {}
    for i, n in enumerate(names):
        out[n[:-len('_output')] if n.endswith('_output') else n] = i
    return out


def _available(name, outputs, labels):
    """True if ``name`` is an output, a label, or an output alias of a label."""
    return name in outputs or name in labels or ALIASES.get(name) in labels


class _NamedMetric(mx.metric.EvalMetric):
    """EvalMetric reading its inputs by name; subclasses implement ``compute``.

    ``compute(get)`` returns (sum of the per-sample values, number of samples); ``get(name)``
    returns that output or label as a float64 NumPy array.
    """
    needs = ()  # names of the outputs/labels the metric reads

    def __init__(self, name, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(_NamedMetric, self).__init__(name, has_global_stats=True)
        self.output_index = _index(output_names)
        self.label_index = _index(label_names)
        missing = [n for n in self.needs
                   if not _available(n, self.output_index, self.label_index)]
        if missing:
            raise ValueError("metric %s needs %s but the training outputs are %s and the labels "
                             "%s; give the symbol's output names to get_metrics()"
                             % (name, missing, list(output_names), list(label_names)))

    def update(self, labels, preds):
        def get(name):
            if name in self.output_index:
                return preds[self.output_index[name]].asnumpy().astype(np.float64)
            if name not in self.label_index:
                name = ALIASES[name]
            return labels[self.label_index[name]].asnumpy().astype(np.float64)
        total, count = self.compute(get)
        self.sum_metric += total
        self.global_sum_metric += total
        self.num_inst += count
        self.global_num_inst += count

    def compute(self, get):
        raise NotImplementedError


def _flat_probs(prob, label, channels_axis_last):
    """Return probs (M, K) and labels (M,) for a softmax output and its label.

    channels_axis_last: prob (..., K) with label (...); else prob (N, K, ...) with label (N, ...).
    """
    if channels_axis_last:
        k = prob.shape[-1]
        flat = prob.reshape(-1, k)                           # (M, K)
    else:
        n, k = prob.shape[0], prob.shape[1]
        flat = prob.reshape(n, k, -1).transpose(0, 2, 1).reshape(-1, k)  # (N*P, K)
    lab = label.reshape(-1)                                  # (M,)
    if lab.shape[0] != flat.shape[0]:
        raise ValueError("probabilities %s and labels %s do not describe the same number of "
                         "samples" % (prob.shape, label.shape))
    return flat, lab


def _accuracy(prob, label, axis_last, select):
    flat, lab = _flat_probs(prob, label, axis_last)
    keep = select(lab)
    pred = flat[keep].argmax(axis=1)
    return float(np.sum(pred == lab[keep])), int(keep.sum())


def _log_loss(prob, label, axis_last):
    flat, lab = _flat_probs(prob, label, axis_last)
    keep = lab != -1
    picked = flat[keep, lab[keep].astype(np.int64)]
    return float(np.sum(-np.log(picked + EPS))), int(keep.sum())


class RPNAcc(_NamedMetric):
    """Anchor classification accuracy over anchors with rpn_label != -1."""
    needs = ('rpn_cls_prob', 'rpn_label')

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(RPNAcc, self).__init__('RPNAcc', output_names, label_names)

    def compute(self, get):
        return _accuracy(get('rpn_cls_prob'), get('rpn_label'), False, lambda l: l != -1)


class RPNLogLoss(_NamedMetric):
    """Mean -log p(label) of the anchors with rpn_label != -1."""
    needs = ('rpn_cls_prob', 'rpn_label')

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(RPNLogLoss, self).__init__('RPNLogLoss', output_names, label_names)

    def compute(self, get):
        return _log_loss(get('rpn_cls_prob'), get('rpn_label'), False)


class RPNL1Loss(_NamedMetric):
    """Sum of the RPN smooth-L1 output divided by the number of anchors with rpn_label != -1."""
    needs = ('rpn_bbox_loss', 'rpn_label')

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(RPNL1Loss, self).__init__('RPNL1Loss', output_names, label_names)

    def compute(self, get):
        return float(np.sum(get('rpn_bbox_loss'))), int(np.sum(get('rpn_label') != -1))


class FCISAcc(_NamedMetric):
    """ROI classification accuracy over ROIs with rcnn_label != -1."""
    needs = ('cls_prob', 'rcnn_label')

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(FCISAcc, self).__init__('FCISAcc', output_names, label_names)

    def compute(self, get):
        return _accuracy(get('cls_prob'), get('rcnn_label'), True, lambda l: l != -1)


class FCISAccFG(_NamedMetric):
    """ROI classification accuracy over the foreground ROIs (rcnn_label > 0)."""
    needs = ('cls_prob', 'rcnn_label')

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(FCISAccFG, self).__init__('FCISAccFG', output_names, label_names)

    def compute(self, get):
        return _accuracy(get('cls_prob'), get('rcnn_label'), True, lambda l: l > 0)


class FCISLogLoss(_NamedMetric):
    """Mean -log p(label) of the ROIs with rcnn_label != -1."""
    needs = ('cls_prob', 'rcnn_label')

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(FCISLogLoss, self).__init__('FCISLogLoss', output_names, label_names)

    def compute(self, get):
        return _log_loss(get('cls_prob'), get('rcnn_label'), True)


class FCISL1Loss(_NamedMetric):
    """Sum of the ROI box smooth-L1 output divided by the number of ROIs with label != -1."""
    needs = ('bbox_loss', 'rcnn_label')

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(FCISL1Loss, self).__init__('FCISL1Loss', output_names, label_names)

    def compute(self, get):
        return float(np.sum(get('bbox_loss'))), int(np.sum(get('rcnn_label') != -1))


class FCISMaskLoss(_NamedMetric):
    """Mean pixel cross-entropy of seg_prob (R, 2, S, S) against mask_target (R, S, S) != -1."""
    needs = ('seg_prob', 'mask_target')

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(FCISMaskLoss, self).__init__('FCISMaskLoss', output_names, label_names)

    def compute(self, get):
        return _log_loss(get('seg_prob'), get('mask_target'), False)


ALL_METRICS = (RPNAcc, RPNLogLoss, RPNL1Loss, FCISAcc, FCISAccFG, FCISLogLoss, FCISL1Loss,
               FCISMaskLoss)


def get_metrics(output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
    """CompositeEvalMetric of every FCIS metric whose arrays are present in the names.

    Raises ValueError if none can be computed (wrong names).
    """
    outs, labs = _index(output_names), _index(label_names)
    composite = mx.metric.CompositeEvalMetric()
    for cls in ALL_METRICS:
        if all(_available(n, outs, labs) for n in cls.needs):
            composite.add(cls(output_names, label_names))
    if not composite.metrics:
        raise ValueError("no FCIS metric can be computed from outputs %s and labels %s (expected "
                         "names such as %s)" % (list(output_names), list(label_names),
                                                list(DEFAULT_OUTPUT_NAMES)))
    return composite


def leaf_metrics(eval_metric):
    """Flatten a (possibly nested) CompositeEvalMetric into its leaf metrics."""
    if isinstance(eval_metric, mx.metric.CompositeEvalMetric):
        leaves = []
        for m in eval_metric.metrics:
            leaves.extend(leaf_metrics(m))
        return leaves
    return [eval_metric]


def nonfinite_values(eval_metric):
    """[(name, value)] of the leaf metrics whose current (local) value is NaN or infinite.

    Metrics without samples yet (num_inst == 0, e.g. no foreground ROI) are not reported.
    """
    bad = []
    for m in leaf_metrics(eval_metric):
        if m.num_inst == 0:
            continue
        names, values = m.get()
        if not isinstance(names, list):
            names, values = [names], [values]
        for n, v in zip(names, values):
            if not math.isfinite(float(v)):
                bad.append((n, float(v)))
    return bad
