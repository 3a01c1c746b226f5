"""Data-parallel training of the real FCIS symbol (small shapes trunk, tiny images).

1. One process, two CPU contexts: one fit() step equals a NumPy SGD step on the gradients of
   the same two images computed one after the other on one context and summed.

Random ROI choices: the proposal op (padding to post_nms_top_n) and the proposal-target op
(ROI sampling) draw from NumPy's global generator; with two devices the draws of the two
images interleave in an order the engine picks, and separate worker processes each have
their own generator. Every run here replaces those two draws by a deterministic function of
what is drawn from (:func:`deterministic_sampling`), so all runs make the same choices and the
comparisons isolate the data-parallel arithmetic. The RPN anchor labels come with the batch
from the loader.
"""
import logging
import os
import zlib

import mxnet as mx
import numpy as np
import pytest

import fcis.operators.proposal as proposal
import fcis.operators.proposal_target as proposal_target
from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.module import fit
from fcis.core.params import FCISInitializer, load_params
from fcis.symbols import TRAIN_DATA_NAMES, TRAIN_LABEL_NAMES, get_train_symbol
from fcis.train_end2end import make_train_loader, train_roidb

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
SHAPES = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
LR, MOMENTUM, WD = 0.01, 0.9, 0.001


def content_rng(values, count):
    """A RandomState seeded by an int array and a count (same inputs, same draws)."""
    return np.random.RandomState(zlib.crc32(np.asarray(values, np.int64).tobytes()) ^ count)


def content_draw(pool, count, replace):
    """Deterministic stand-in for proposal_target._draw (same contract)."""
    if count <= 0:
        return pool[:0]
    if not replace and count >= pool.size:
        return pool
    return content_rng(pool, count).choice(pool, size=count, replace=replace)


def content_pad_indices(keep, size):
    """Deterministic stand-in for proposal.pad_indices (same contract)."""
    keep = np.asarray(keep, dtype=np.int64)
    if keep.size >= size:
        return keep[:size]
    extra = content_rng(keep, size).choice(keep, size=size - keep.size, replace=True)
    return np.concatenate([keep, extra])


def deterministic_sampling(setattr_fn):
    """Install the two stand-ins with ``setattr_fn`` (monkeypatch.setattr or setattr)."""
    setattr_fn(proposal_target, '_draw', content_draw)
    setattr_fn(proposal, 'pad_indices', content_pad_indices)


def tiny_config(root):
    return load_config(SHAPES, [
        'dataset.root_path=%s' % root, 'dataset.dataset_path=%s' % os.path.join(root, 'shapes'),
        'dataset.num_train_images=2', 'dataset.num_val_images=1', 'SCALES=[[64, 96]]',
        'TRAIN.FLIP=False', 'TRAIN.SHUFFLE=False', 'TRAIN.ASPECT_GROUPING=False'])


def multipliers(symbol, name):
    """(lr_mult, wd_mult) of a parameter as FCISSGD applies them (no wd unless *_weight)."""
    attr = symbol.attr_dict().get(name, {})
    lr_mult = float(attr.get('__lr_mult__', attr.get('lr_mult', 1.0)))
    default_wd = 1.0 if name.endswith('_weight') else 0.0
    return lr_mult, float(attr.get('__wd_mult__', attr.get('wd_mult', default_wd)))


def per_image_gradients(symbol, batch, arg_params, aux_params):
    """[{name: gradient}] of each image of ``batch`` run alone on one context."""
    grads = []
    for i in range(batch.data[0].shape[0]):
        data = [a[i:i + 1] for a in batch.data]          # (1, ...) slice of image i
        label = [a[i:i + 1] for a in batch.label]
        mod = mx.mod.Module(symbol, data_names=TRAIN_DATA_NAMES, label_names=TRAIN_LABEL_NAMES,
                            context=mx.cpu(0), logger=logging.getLogger('test'))
        mod.bind(data_shapes=list(zip(TRAIN_DATA_NAMES, [d.shape for d in data])),
                 label_shapes=list(zip(TRAIN_LABEL_NAMES, [l.shape for l in label])))
        mod.init_params(arg_params=arg_params, aux_params=aux_params)
        mod.forward_backward(mx.io.DataBatch(data, label))
        group = mod._exec_group
        grads.append({n: g[0].asnumpy() for n, g in zip(group.param_names, group.grad_arrays)
                      if g[0] is not None})
    return grads


def test_two_contexts_sum_gradients_like_one_context_sequentially(tmp_path, monkeypatch):
    deterministic_sampling(monkeypatch.setattr)
    cfg = tiny_config(str(tmp_path))
    roidb = train_roidb(cfg)
    assert len(roidb) == 2
    symbol = get_train_symbol(network_args(cfg, is_train=True))
    contexts = [mx.cpu(0), mx.cpu(1)]
    train_iter = make_train_loader(cfg, symbol, contexts, roidb)
    reference_iter = make_train_loader(cfg, symbol, contexts, roidb)
    try:
        assert train_iter.num_batches == 1
        shapes = dict(train_iter.provide_data + train_iter.provide_label)
        mx.random.seed(0)
        np.random.seed(0)
        arg_params, aux_params = load_params(symbol, shapes, initializer=FCISInitializer())
        before = {n: a.asnumpy() for n, a in arg_params.items()}

        module = fit(symbol, train_iter, contexts, arg_params, aux_params, lr=LR,
                     momentum=MOMENTUM, wd=WD, rescale_grad=1.0, end_epoch=1,
                     kvstore='device', seed=cfg.seed, logger=logging.getLogger('test'))
        after = {n: a.asnumpy() for n, a in module.get_params()[0].items()}

        batch = reference_iter.next()          # the batch fit() trained on (same seed/epoch)
        assert [d.shape[0] for d in batch.data] == [2] * 4
        grads = per_image_gradients(symbol, batch, arg_params, aux_params)
    finally:
        train_iter.close()
        reference_iter.close()

    assert set(grads[0]) == set(after)  # every parameter is trained in the shapes config
    steps = {0: 0.0, 1: 0.0}   # largest change each image's gradient alone makes
    for name, w0 in before.items():
        lr_mult, wd_mult = multipliers(symbol, name)
        summed = grads[0][name] + grads[1][name]
        expected = w0 - LR * lr_mult * (summed + WD * wd_mult * w0)  # SGD, zero momentum
        np.testing.assert_allclose(after[name], expected, rtol=0, atol=1e-5, err_msg=name)
        for i in steps:
            steps[i] = max(steps[i], float(np.abs(LR * lr_mult * grads[i][name]).max()))
    # dropping either device's gradient, or averaging instead of summing, would move some
    # parameter by far more than the tolerance
    assert min(steps.values()) > 1e-3, steps
