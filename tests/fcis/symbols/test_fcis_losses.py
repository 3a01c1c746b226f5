"""Loss layers: the gradients each loss sends back, checked against NumPy references."""
import mxnet as mx
import numpy as np
import pytest

from fcis.symbols import losses


def backward(sym, inputs, wrt):
    """Forward+backward of ``sym`` with ``inputs``; returns (outputs, gradient of ``wrt``)."""
    names = sym.list_arguments()
    args = {k: mx.nd.array(inputs[k]) for k in names}
    grads = {wrt: mx.nd.zeros(inputs[wrt].shape)}
    ex = sym.bind(mx.cpu(), args, args_grad=grads,
                  grad_req={k: ('write' if k == wrt else 'null') for k in names})
    ex.forward(is_train=True)
    ex.backward()
    return [o.asnumpy() for o in ex.outputs], grads[wrt].asnumpy()


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def mask_inputs(num_rois=6, size=5, seed=0):
    rng = np.random.RandomState(seed)
    pred = rng.randn(num_rois, 2, size, size).astype(np.float32)
    target = (rng.rand(num_rois, size, size) > 0.5).astype(np.float32)
    target[::2] = -1  # non-foreground ROIs
    return pred, target


@pytest.mark.parametrize('reduction', ['mean', 'sum'])
@pytest.mark.parametrize('rois_per_batch', [4, None])
def test_seg_loss_gradient(reduction, rois_per_batch, test_seed):
    """d loss / d seg_pred = w/B * (p - onehot) per pixel of the positive ROIs, times 1/S^2
    for 'mean' (B = the graph's ROIs when rois_per_batch is None)."""
    pred, target = mask_inputs(seed=test_seed)
    weight, size = 10.0, pred.shape[-1]
    sym = losses.seg_loss(mx.sym.Variable('pred'), mx.sym.Variable('target'), weight,
                          rois_per_batch, size, reduction)
    (prob,), grad = backward(sym, {'pred': pred, 'target': target}, 'pred')
    p = softmax(pred, axis=1)
    np.testing.assert_allclose(prob, p, rtol=1e-5, atol=1e-6)
    onehot = np.stack([target == 0, target == 1], axis=1).astype(np.float32)
    valid = (target >= 0)[:, None].astype(np.float32)
    rois = rois_per_batch or pred.shape[0]
    expected = (p - onehot) * valid * weight / rois
    if reduction == 'mean':
        expected /= size * size
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-7)


def test_seg_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match='pixel reduction'):
        losses.seg_loss(mx.sym.Variable('p'), mx.sym.Variable('t'), 10.0, 128, 21, 'median')


@pytest.mark.parametrize('rois_per_batch', [128, None])
def test_bbox_loss_gradient(rois_per_batch, test_seed):
    rng = np.random.RandomState(test_seed + 2)
    pred, target = rng.randn(5, 8).astype(np.float32), rng.randn(5, 8).astype(np.float32)
    weight = (rng.rand(5, 8) > 0.5).astype(np.float32)
    sym = losses.bbox_loss(mx.sym.Variable('pred'), mx.sym.Variable('target'),
                           mx.sym.Variable('weight'), 1.0, rois_per_batch)
    (loss,), grad = backward(sym, {'pred': pred, 'target': target, 'weight': weight}, 'pred')
    d = pred - target
    np.testing.assert_allclose(loss, weight * np.where(np.abs(d) < 1, 0.5 * d * d,
                                                       np.abs(d) - 0.5), rtol=1e-5, atol=1e-6)
    rois = rois_per_batch or pred.shape[0]
    np.testing.assert_allclose(grad, weight * np.clip(d, -1, 1) / rois, rtol=1e-5, atol=1e-7)


def test_rpn_losses(test_seed):
    """Class: softmax over (bg, fg) per anchor, ignore -1, / valid; box: smooth-L1 with
    sigma 3 (quadratic below 1/9), / (256 per image)."""
    rng = np.random.RandomState(test_seed + 3)
    a, fh, fw = 3, 2, 4
    score = rng.randn(1, 2 * a, fh, fw).astype(np.float32)
    label = rng.choice([-1, 0, 1], size=(1, a * fh * fw)).astype(np.float32)
    pred = (rng.randn(1, 4 * a, fh, fw) * 0.2).astype(np.float32)
    target = (rng.randn(1, 4 * a, fh, fw) * 0.2).astype(np.float32)
    weight = (rng.rand(1, 4 * a, fh, fw) > 0.3).astype(np.float32)
    names = ['score', 'pred', 'label', 'target', 'weight']  # rpn_losses' argument order
    cls_prob, bbox_loss = losses.rpn_losses(*[mx.sym.Variable(n) for n in names],
                                            batch_images=1, rpn_batch_size=256)
    inputs = dict(zip(names, [score, pred, label, target, weight]))
    (prob,), grad_score = backward(cls_prob, inputs, 'score')
    (loss,), grad_pred = backward(bbox_loss, inputs, 'pred')

    # score channel j*A + a, position (y, x) <-> label index a*fh*fw + y*fw + x
    s = score.reshape(2, a, fh, fw)
    p = softmax(s, axis=0)
    np.testing.assert_allclose(prob.reshape(2, a, fh, fw), p, rtol=1e-5, atol=1e-6)
    lab = label.reshape(a, fh, fw)
    onehot = np.stack([lab == 0, lab == 1]).astype(np.float32)
    expected = (p - onehot) * (lab >= 0) / max(1, (lab >= 0).sum())
    np.testing.assert_allclose(grad_score.reshape(2, a, fh, fw), expected, rtol=1e-4, atol=1e-7)

    d = pred - target
    quad = np.abs(d) < 1.0 / 9
    np.testing.assert_allclose(loss, weight * np.where(quad, 4.5 * d * d, np.abs(d) - 0.5 / 9),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grad_pred, weight * np.where(quad, 9 * d, np.sign(d)) / 256,
                               rtol=1e-4, atol=1e-7)


def test_cls_loss_gradient_ignores_minus_one(test_seed):
    rng = np.random.RandomState(test_seed + 4)
    score = rng.randn(6, 3).astype(np.float32)
    label = np.array([0, 2, -1, 1, -1, 0], np.float32)
    sym = losses.cls_loss(mx.sym.Variable('score'), mx.sym.Variable('label'), 1.0)
    (prob,), grad = backward(sym, {'score': score, 'label': label}, 'score')
    p = softmax(score, axis=1)
    onehot = np.eye(3)[np.maximum(label, 0).astype(int)]
    expected = (p - onehot) * (label >= 0)[:, None] / 4
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-7)
