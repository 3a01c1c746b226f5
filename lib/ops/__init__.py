"""Native MXNet operators of FCIS: ``PSROIPooling``, ``ChannelOperator`` and ``SpatialMean``.

The C++ (OpenMP) and CUDA sources sit in ``psroi_pooling/``, ``channel_operator/`` and
``spatial_mean/``; they build into ``libfcis_ops.so`` (``sh init.sh`` or ``python setup.py
build_ext --inplace``). ``load_ops()`` loads it; the wrappers below call it themselves.
"""
from .channel_operator import channel_operator, group_max, group_pick, group_softmax
from .loader import LIBRARY_PATH, OpsLibraryError, check_library, load_ops
from .psroi_pooling import psroi_pooling
from .spatial_mean import spatial_mean

__all__ = ['LIBRARY_PATH', 'OpsLibraryError', 'check_library', 'load_ops', 'psroi_pooling',
           'channel_operator', 'group_max', 'group_softmax', 'group_pick', 'spatial_mean']
