"""Native MXNet operators of FCIS: ``PSROIPooling``, ``ChannelOperator``, ``SpatialMean`` and
the optimizer step ``MultiSGDMom``.

The C++ (OpenMP) and CUDA sources sit in ``psroi_pooling/``, ``channel_operator/``,
``spatial_mean/`` and ``multi_sgd/`` (CPU only); they build into ``libfcis_ops.so`` (``sh
init.sh`` or ``python setup.py build_ext --inplace``). ``load_ops()`` loads it; the wrappers
below call it themselves.
"""
from .channel_operator import channel_operator, group_max, group_pick, group_softmax
from .loader import LIBRARY_PATH, OpsLibraryError, check_library, load_ops
from .multi_sgd import multi_sgd_mom_update
from .psroi_pooling import psroi_pooling
from .spatial_mean import spatial_mean

__all__ = ['LIBRARY_PATH', 'OpsLibraryError', 'check_library', 'load_ops', 'psroi_pooling',
           'channel_operator', 'group_max', 'group_softmax', 'group_pick', 'spatial_mean',
           'multi_sgd_mom_update']
