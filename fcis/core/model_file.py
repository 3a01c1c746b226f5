"""Trained parameters from any MXNet .params file, the FCIS release's included.

Our checkpoints and the release's use the same names. Both store ``fcis_bbox_weight`` /
``fcis_bbox_bias`` as trained, predicting deltas normalized by TRAIN.BBOX_MEANS/STDS; the
test symbol's box parser un-normalizes them (once). The release's files also hold
``fcis_bbox_weight_test`` / ``fcis_bbox_bias_test``: the same layer with the normalization
folded in (channel c of the 7*7*8 box channels scaled by std[c // 49] of the 8 class-agnostic
stds, means added to the bias). Those keys are dropped here: using them with our parser
would un-normalize twice. A file holding only the ``*_test`` pair gets the trained pair back
by undoing the folding.
"""
import logging

import numpy as np
import mxnet as mx

from lib.utils.checkpoint import load_params

BOX_LAYER = 'fcis_bbox'
TEST_SUFFIX = '_test'


def box_channel_norm(num_channels, means, stds):
    """Per-channel (scale, shift) (num_channels,) float32 of the box layer: the 4
    class-agnostic means/stds tiled to 8 (background, foreground), each value repeated for
    num_channels / 8 consecutive channels."""
    means8 = np.tile(np.asarray(means, np.float32), 2)
    stds8 = np.tile(np.asarray(stds, np.float32), 2)
    if num_channels % 8:
        raise ValueError('%s has %d output channels; expected a multiple of 8 (7*7 bins x 8)'
                         % (BOX_LAYER, num_channels))
    repeat = num_channels // 8
    return np.repeat(stds8, repeat), np.repeat(means8, repeat)


def fold_box_norm(weight, bias, means, stds):
    """The release's ``*_test`` pair of a trained box layer: weight (K, C, 1, 1) and bias (K,)
    NumPy arrays -> (weight * scale, bias * scale + shift), per output channel."""
    scale, shift = box_channel_norm(bias.shape[0], means, stds)
    return weight * scale.reshape(-1, 1, 1, 1), bias * scale + shift


def resolve_test_keys(arg_params, means, stds, logger=None):
    """arg_params without ``*_test`` keys, holding the trained (normalized) box layer.

    With both pairs, the ``*_test`` pair must equal the trained pair folded with these
    means/stds (else a warning: the file was trained with another normalization).
    """
    logger = logger or logging.getLogger(__name__)
    names = [BOX_LAYER + '_weight', BOX_LAYER + '_bias']
    tests = [n + TEST_SUFFIX for n in names]
    out = {k: v for k, v in arg_params.items() if not k.endswith(TEST_SUFFIX)}
    if not all(t in arg_params for t in tests):
        return out
    test_w, test_b = (arg_params[t].asnumpy() for t in tests)
    if all(n in arg_params for n in names):
        weight, bias = (arg_params[n].asnumpy() for n in names)
        folded_w, folded_b = fold_box_norm(weight, bias, means, stds)
        if not (np.allclose(folded_w, test_w, rtol=1e-4, atol=1e-6)
                and np.allclose(folded_b, test_b, rtol=1e-4, atol=1e-6)):
            logger.warning("%s: the file's *_test box layer is not the trained one folded with "
                           "BBOX_MEANS %s / BBOX_STDS %s; check TRAIN.BBOX_STDS", BOX_LAYER,
                           list(means), list(stds))
        logger.info('ignored %s (box normalization folded in; the box parser applies it)',
                    ', '.join(tests))
        return out
    scale, shift = box_channel_norm(test_b.shape[0], means, stds)
    out[names[0]] = mx.nd.array(test_w / scale.reshape(-1, 1, 1, 1))
    out[names[1]] = mx.nd.array((test_b - shift) / scale)
    logger.info('%s: trained box layer recovered from %s', BOX_LAYER, ', '.join(tests))
    return out


def load_model_file(path, means, stds, logger=None):
    """(arg_params, aux_params) of the .params file at ``path`` for the test symbol
    (``*_test`` keys resolved as in :func:`resolve_test_keys`). Raises CheckpointError for a
    missing or unreadable file."""
    arg_params, aux_params = load_params(path)
    return resolve_test_keys(arg_params, means, stds, logger), aux_params
