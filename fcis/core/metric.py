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
from dataclasses import dataclass
from typing import Callable

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


@dataclass(frozen=True)
class MetricSpec:
    """One FCIS metric: ``reduce(values, labels, channels_last)`` -> (sum of the per-sample
    values, number of samples) of the arrays named ``values`` and ``labels`` (outputs or
    labels, see the module doc); ``channels_last``: the softmax channels are the last axis of
    ``values`` (else axis 1)."""
    name: str
    reduce: Callable
    values: str
    labels: str
    channels_last: bool
    doc: str


class _NamedMetric(mx.metric.EvalMetric):
    """EvalMetric reading its inputs by name and reducing them as its ``spec`` says."""
    spec = None  # the MetricSpec of the subclass (metric_class)
    needs = ()  # names of the outputs/labels the metric reads

    def __init__(self, output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
        super(_NamedMetric, self).__init__(self.spec.name, has_global_stats=True)
        self.output_index = _index(output_names)
        self.label_index = _index(label_names)
        self.names_key = (tuple(output_names), tuple(label_names))  # FCISMetrics shares by it
        missing = [n for n in self.needs
                   if not _available(n, self.output_index, self.label_index)]
        if missing:
            raise ValueError("metric %s needs %s but the training outputs are %s and the labels "
                             "%s; give the symbol's output names to get_metrics()"
                             % (self.spec.name, missing, list(output_names), list(label_names)))

    def update(self, labels, preds):
        self.update_from(BatchArrays(self.output_index, self.label_index, labels, preds))

    def update_from(self, arrays):
        """Add one batch, reading its arrays from a BatchArrays."""
        spec = self.spec
        total, count = spec.reduce(arrays.get(spec.values), arrays.get(spec.labels),
                                   spec.channels_last)
        self.sum_metric += total
        self.global_sum_metric += total
        self.num_inst += count
        self.global_num_inst += count


class BatchArrays(object):
    """The NumPy copies of one batch's outputs and labels, each made once however many
    metrics read it (float32, as the symbol computes them; each reduction converts what it
    keeps to float64, which is exact)."""

    def __init__(self, output_index, label_index, labels, preds):
        self.output_index, self.label_index = output_index, label_index
        self.labels, self.preds = labels, preds
        self._copies = {}

    def get(self, name):
        if name not in self._copies:
            if name in self.output_index:
                array = self.preds[self.output_index[name]]
            else:
                label = name if name in self.label_index else ALIASES[name]
                array = self.labels[self.label_index[label]]
            self._copies[name] = array.asnumpy()
        return self._copies[name]


class FCISMetrics(mx.metric.CompositeEvalMetric):
    """CompositeEvalMetric whose FCIS metrics share one BatchArrays per batch (through
    ``update`` and through ``update_dict``, which the Module's training loop calls)."""

    def update(self, labels, preds):
        self._update_shared(labels, preds, lambda metric: metric.update(labels, preds))

    def update_dict(self, labels, preds):
        if self.label_names is not None or self.output_names is not None:
            return super(FCISMetrics, self).update_dict(labels, preds)
        # what each child's EvalMetric.update_dict passes to its update without name lists
        self._update_shared(list(labels.values()), list(preds.values()),
                            lambda metric: metric.update_dict(labels, preds))

    def _update_shared(self, labels, preds, update_alone):
        shared = {}
        for metric in self.metrics:
            if (not isinstance(metric, _NamedMetric) or metric.label_names is not None
                    or metric.output_names is not None):
                update_alone(metric)
                continue
            if metric.names_key not in shared:
                shared[metric.names_key] = BatchArrays(metric.output_index, metric.label_index,
                                                       labels, preds)
            metric.update_from(shared[metric.names_key])


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
        raise ValueError('probabilities %s and labels %s do not describe the same number of '
                         'samples' % (prob.shape, label.shape))
    return flat, lab


def _accuracy_where(prob, label, axis_last, select):
    flat, lab = _flat_probs(prob, label, axis_last)
    keep = select(lab)
    pred = flat[keep].argmax(axis=1)
    return float(np.sum(pred == lab[keep])), int(keep.sum())


def _accuracy(prob, label, axis_last):
    """Hits and count over the samples with label != -1."""
    return _accuracy_where(prob, label, axis_last, lambda lab: lab != -1)


def _fg_accuracy(prob, label, axis_last):
    """Hits and count over the foreground samples (label > 0)."""
    return _accuracy_where(prob, label, axis_last, lambda lab: lab > 0)


def _log_loss(prob, label, axis_last):
    """Sum of -log p(label) and count over the samples with label != -1."""
    flat, lab = _flat_probs(prob, label, axis_last)
    keep = lab != -1
    picked = flat[keep, lab[keep].astype(np.int64)].astype(np.float64)
    return float(np.sum(-np.log(picked + EPS))), int(keep.sum())


def _loss_per_label(loss, label, axis_last):
    """Sum of a loss output (any shape) and the number of labels != -1."""
    return float(np.sum(loss.astype(np.float64))), int(np.sum(label != -1))


METRIC_SPECS = (
    MetricSpec('RPNAcc', _accuracy, 'rpn_cls_prob', 'rpn_label', False,
               'Anchor classification accuracy over anchors with rpn_label != -1.'),
    MetricSpec('RPNLogLoss', _log_loss, 'rpn_cls_prob', 'rpn_label', False,
               'Mean -log p(label) of the anchors with rpn_label != -1.'),
    MetricSpec('RPNL1Loss', _loss_per_label, 'rpn_bbox_loss', 'rpn_label', False,
               'Sum of the RPN smooth-L1 output divided by the number of anchors with '
               'rpn_label != -1.'),
    MetricSpec('FCISAcc', _accuracy, 'cls_prob', 'rcnn_label', True,
               'ROI classification accuracy over ROIs with rcnn_label != -1.'),
    MetricSpec('FCISAccFG', _fg_accuracy, 'cls_prob', 'rcnn_label', True,
               'ROI classification accuracy over the foreground ROIs (rcnn_label > 0).'),
    MetricSpec('FCISLogLoss', _log_loss, 'cls_prob', 'rcnn_label', True,
               'Mean -log p(label) of the ROIs with rcnn_label != -1.'),
    MetricSpec('FCISL1Loss', _loss_per_label, 'bbox_loss', 'rcnn_label', False,
               'Sum of the ROI box smooth-L1 output divided by the number of ROIs with '
               'label != -1.'),
    MetricSpec('FCISMaskLoss', _log_loss, 'seg_prob', 'mask_target', False,
               'Mean pixel cross-entropy of seg_prob (R, 2, S, S) against mask_target '
               '(R, S, S) != -1.'),
)


def metric_class(spec):
    """The EvalMetric class of a MetricSpec, named after it: ``cls(output_names,
    label_names)`` makes the metric."""
    return type(spec.name, (_NamedMetric,), {'spec': spec, 'needs': (spec.values, spec.labels),
                                             '__doc__': spec.doc})


ALL_METRICS = tuple(metric_class(spec) for spec in METRIC_SPECS)
(RPNAcc, RPNLogLoss, RPNL1Loss, FCISAcc, FCISAccFG, FCISLogLoss, FCISL1Loss,
 FCISMaskLoss) = ALL_METRICS


def get_metrics(output_names=DEFAULT_OUTPUT_NAMES, label_names=DEFAULT_LABEL_NAMES):
    """CompositeEvalMetric of every FCIS metric whose arrays are present in the names.

    Raises ValueError if none can be computed (wrong names).
    """
    outs, labs = _index(output_names), _index(label_names)
    composite = FCISMetrics()
    for cls in ALL_METRICS:
        if all(_available(n, outs, labs) for n in cls.needs):
            composite.add(cls(output_names, label_names))
    if not composite.metrics:
        raise ValueError('no FCIS metric can be computed from outputs %s and labels %s (expected '
                         'names such as %s)' % (list(output_names), list(label_names),
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
