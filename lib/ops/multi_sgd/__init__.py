"""Python wrapper of the native ``MultiSGDMom`` operator (sources: multi_sgd.{h,cc})."""
from ..loader import load_ops


def _number(value):
    """A float as the text MXNet's parser reads back to the same float32 (shortest repr)."""
    return repr(float(value))


def multi_sgd_mom_update(weights, grads, moms, lrs, wds, momentum, rescale_grad=1.0,
                         clip_gradient=-1.0):
    """One SGD-with-momentum step of every parameter in one call, in place: the same bits
    as MXNet's ``sgd_mom_update`` of each (``mom = momentum * mom - lr * wd * w - lr *
    rescale_grad * grad``, ``w += mom``; with ``clip_gradient >= 0`` the rescaled gradient
    is clipped to [-clip_gradient, clip_gradient] first).

    weights, grads, moms: lists of n float32 NDArrays on the CPU, the three of a parameter
    of one shape; weights and moms are updated. lrs, wds: n numbers.
    """
    import mxnet as mx
    load_ops()
    count = len(weights)
    if not count == len(grads) == len(moms) == len(lrs) == len(wds):
        raise ValueError('multi_sgd_mom_update: %d weights, %d grads, %d moms, %d lrs and %d '
                         'wds; give one of each per parameter'
                         % (count, len(grads), len(moms), len(lrs), len(wds)))
    if count == 0:
        return
    arrays = [a for triple in zip(weights, grads, moms) for a in triple]
    mx.nd.MultiSGDMom(*arrays, out=list(weights), num_weights=count,
                      lrs=','.join(_number(v) for v in lrs),
                      wds=','.join(_number(v) for v in wds), momentum=_number(momentum),
                      rescale_grad=_number(rescale_grad), clip_gradient=_number(clip_gradient))
