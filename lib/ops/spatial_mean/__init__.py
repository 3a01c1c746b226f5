"""Python wrapper of the native ``SpatialMean`` operator (sources: spatial_mean.{h,cc,cu})."""
from ..loader import load_ops


def spatial_mean(data, name=None):
    """(N, C, ...) -> (N, C): the mean over the axes after C, the same bits as
    ``mean(data, axis=(2, ...))`` of MXNet (forward and gradient). Symbol or NDArray."""
    import mxnet as mx
    load_ops()
    if isinstance(data, mx.nd.NDArray):
        return mx.nd.SpatialMean(data)
    return mx.sym.SpatialMean(data, name=name)
