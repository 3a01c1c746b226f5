"""Non-maximum suppression: compiled CPU kernel, optional CUDA kernel."""
from lib.nms.nms import gpu_nms_available, make_nms, nms

__all__ = ['gpu_nms_available', 'make_nms', 'nms']
