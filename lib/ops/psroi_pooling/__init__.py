"""Python wrapper of the native ``PSROIPooling`` operator (sources: psroi_pooling.{h,cc,cu})."""
from ..loader import load_ops


def psroi_pooling(data, rois, spatial_scale, output_dim, pooled_size, group_size=None,
                  name=None):
    """Position-sensitive ROI pooling, same numbers as ``mx.nd.contrib.PSROIPooling``.

    data: (N, output_dim * group_size**2, H, W) Symbol or NDArray
    rois: (R, 5) rows [batch_index, x1, y1, x2, y2] in image pixels
    returns (R, output_dim, pooled_size, pooled_size); group_size defaults to pooled_size.
    """
    import mxnet as mx
    load_ops()
    attrs = dict(spatial_scale=spatial_scale, output_dim=output_dim, pooled_size=pooled_size,
                 group_size=pooled_size if group_size is None else group_size)
    if isinstance(data, mx.nd.NDArray):
        return mx.nd.PSROIPooling(data, rois, **attrs)
    return mx.sym.PSROIPooling(data, rois, name=name, **attrs)
