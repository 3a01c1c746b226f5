"""RPN anchors and anchor targets."""
from .anchor_target import assign_anchor
from .generate_anchors import generate_anchors, shifted_anchors

__all__ = ['assign_anchor', 'generate_anchors', 'shifted_anchors']
