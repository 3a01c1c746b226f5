"""Plain arguments of the symbol builders (no config objects inside ``fcis.symbols``).

``fcis.config.symbol_args.network_args(cfg, is_train)`` is the one place that turns a
configuration into these; tests and tools may also build them by hand.
"""
from dataclasses import dataclass, field
from typing import Tuple

# Bottleneck units per stage (res2, res3, res4, res5) of the standard ResNet depths.
RESNET_UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
# Output channels of conv1 and of res2..res5 of the standard ResNets.
RESNET_FILTERS = (64, 256, 512, 1024, 2048)


@dataclass(frozen=True)
class TrunkArgs:
    """ResNet-v1 trunk.

    depth: 50, 101 or 152 (selects the unit counts and the layer naming scheme); a small
        trunk is a depth with ``units`` and ``filters`` (the shapes config: 50).
    units: bottleneck units of res2..res5 (4 ints); () = the standard ones of ``depth``.
    filters: output channels of conv1, res2, res3, res4, res5 (5 ints); () = those of
        ``depth``.
    stride_in_1x1: stride 2 of res3a/res4a on the first 1x1 conv (Caffe) or on the 3x3.
    stem_kernel: side of conv1 (odd; stride 2, padding stem_kernel // 2, so the output size
        is that of ResNet's 7x7 for any side); 7 is ResNet's.
    stem_pool: True ends the stem with ResNet's max pooling pool1 (feature stride 16);
        False leaves it out, so every map after conv1 has twice the side for the same input
        and the trunk's feature stride is 8 (at half the input side, the maps of the
        stride-16 trunk without pool1's work).
    bn_use_global_stats: True freezes BatchNorm statistics (pretrained trunk).
    bn_image_stats: True normalizes every image with its own per-channel mean and variance
        over (H, W) (resnet_v1.image_norm on the bn* gamma/beta; no moving averages), what
        BatchNorm without global statistics computes in training with one image per device.
        For the test symbol of a trunk trained that way (TEST.BN_IMAGE_STATS).
    fuse_bn_relu: each BatchNorm followed by a ReLU (bn_conv1, bn*_branch2a, bn*_branch2b)
        is one ``contrib.BatchNormWithReLU`` (a oneDNN CPU operator: the same bits, a faster
        backward); the ReLUs after the residual sums stay. Not with bn_image_stats.
    """
    depth: int = 101
    units: Tuple[int, ...] = ()
    filters: Tuple[int, ...] = ()
    stride_in_1x1: bool = True
    stem_kernel: int = 7
    stem_pool: bool = True
    bn_use_global_stats: bool = True
    bn_image_stats: bool = False
    fuse_bn_relu: bool = False

    def stage_units(self):
        """Units of res2..res5: ``units`` if given, else the standard ones of ``depth``."""
        if self.units:
            if len(self.units) != 4 or min(self.units) < 1:
                raise ValueError('trunk units must be 4 positive ints (res2..res5), got %r'
                                 % (self.units,))
            return tuple(int(u) for u in self.units)
        if self.depth not in RESNET_UNITS:
            raise ValueError('ResNet-v1 depth %r is not supported (use %s, or give '
                             'network.TRUNK_UNITS)' % (self.depth, sorted(RESNET_UNITS)))
        return RESNET_UNITS[self.depth]

    def conv1_kernel(self):
        """Side of conv1: ``stem_kernel`` (a positive odd int)."""
        kernel = int(self.stem_kernel)
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError('network.STEM_KERNEL must be a positive odd int (the side of '
                             'conv1), got %r' % (self.stem_kernel,))
        return kernel

    def feature_stride(self):
        """Input pixels per cell of res4 and res5: 16, or 8 without the stem's pool1."""
        return 16 if self.stem_pool else 8

    def stage_filters(self):
        """Output channels of conv1 and res2..res5 (5 ints)."""
        filters = tuple(int(f) for f in self.filters) if self.filters else RESNET_FILTERS
        if len(filters) != 5:
            raise ValueError('trunk filters must be 5 ints (conv1, res2..res5), got %r'
                             % (filters,))
        for f in filters[1:]:
            if f % 4:
                raise ValueError('trunk filters of res2..res5 must be multiples of 4 '
                                 '(bottleneck width = filters / 4), got %r' % (filters,))
        return filters


@dataclass(frozen=True)
class ProposalArgs:
    """Proposal layer: NMS over the RPN outputs of one pass."""
    pre_nms_top_n: int = 6000
    post_nms_top_n: int = 300
    nms_thresh: float = 0.7
    min_size: int = 16
    min_size_scaled: bool = False  # True: min_size x image scale (False: input pixels)
    anchor_grid: str = 'image'     # 'image': int(h/16) x int(w/16) cells; 'feature': whole map
    cxx_proposal: bool = False  # True: mx.sym.contrib.Proposal instead of 'fcis_proposal'


@dataclass(frozen=True)
class TrainArgs:
    """Training-only arguments: ROI sampling, OHEM and loss scaling."""
    batch_images: int = 1
    batch_rois: int = 128            # ROIs per image without OHEM (-1 = all proposals + GT)
    roi_sampling: str = 'release'    # 'release' or 'capped' (fcis.operators.proposal_target)
    gap_from_all: bool = False       # 'release' padding drawn from all ROIs, not non-foreground
    enable_ohem: bool = False
    batch_rois_ohem: int = 128       # ROIs per image that back-propagate with OHEM
    fg_fraction: float = 0.25
    fg_thresh: float = 0.5
    bg_thresh_hi: float = 0.5
    bg_thresh_lo: float = 0.0
    bbox_means: Tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    bbox_stds: Tuple[float, ...] = (0.2, 0.2, 0.5, 0.5)
    binary_thresh: float = 0.4
    loss_weights: Tuple[float, ...] = (1.0, 10.0, 1.0)  # (class, mask, box)
    rpn_batch_size: int = 256
    seg_pixel_reduction: str = 'mean'  # mask loss over the S*S pixels: 'mean' or 'sum'


@dataclass(frozen=True)
class TestArgs:
    """Test-only arguments."""
    batch_images: int = 1
    iters: int = 2                   # 2: box-regressed first-pass ROIs are a second pass
    bbox_means: Tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    bbox_stds: Tuple[float, ...] = (0.2, 0.2, 0.5, 0.5)


@dataclass(frozen=True)
class FCISArgs:
    """Everything the FCIS train/test symbol builders need.

    num_anchors is always ``len(anchor_scales) * len(anchor_ratios)``.
    """
    num_classes: int = 21
    anchor_scales: Tuple[float, ...] = (8, 16, 32)
    anchor_ratios: Tuple[float, ...] = (0.5, 1, 2)
    rpn_feat_stride: int = 16
    rcnn_feat_stride: int = 16
    group_size: int = 7              # k of the k x k position-sensitive grid
    pooled_size: int = 21            # side of the assembled per-ROI maps (and mask targets)
    conv_new_channels: int = 1024
    cls_seg_lr_mult: float = 1.0     # lr multiplier of fcis_cls_seg (weight and bias)
    rpn_conv_channels: int = 512
    conv_new_lr_mult: float = 3.0    # lr multiplier of conv_new_1 (weight and bias)
    bbox_delta_clip: bool = False    # clip dw, dh at log(1000/16) before exp (proposals, parser)
    trunk: TrunkArgs = field(default_factory=TrunkArgs)
    proposal: ProposalArgs = field(default_factory=ProposalArgs)
    train: TrainArgs = field(default_factory=TrainArgs)
    test: TestArgs = field(default_factory=TestArgs)

    @property
    def num_anchors(self):
        return len(self.anchor_scales) * len(self.anchor_ratios)

    def check(self):
        """Raise ValueError naming the argument when the combination cannot be built."""
        if self.num_classes < 2:
            raise ValueError('num_classes must count the background and >= 1 class, got %d'
                             % self.num_classes)
        if self.pooled_size % self.group_size:
            raise ValueError('pooled_size (%d) must be a multiple of group_size (%d)'
                             % (self.pooled_size, self.group_size))
        stride = self.trunk.feature_stride()
        if self.rpn_feat_stride != stride or self.rcnn_feat_stride != stride:
            raise ValueError("network.RPN_FEAT_STRIDE and RCNN_FEAT_STRIDE must be the trunk's "
                             'feature stride (res4, dilated res5), %d %s network.STEM_POOL; got '
                             'RPN %d / RCNN %d' % (stride, 'with' if self.trunk.stem_pool
                                                   else 'without', self.rpn_feat_stride,
                                                   self.rcnn_feat_stride))
        if self.num_anchors < 1:
            raise ValueError('anchor_scales and anchor_ratios must not be empty')
        if not self.cls_seg_lr_mult > 0:
            raise ValueError('network.FCIS_CLS_SEG_LR_MULT must be > 0, got %r'
                             % (self.cls_seg_lr_mult,))
        if not self.conv_new_lr_mult > 0:
            raise ValueError('network.CONV_NEW_LR_MULT must be > 0, got %r'
                             % (self.conv_new_lr_mult,))
        if self.proposal.anchor_grid not in ('image', 'feature'):
            raise ValueError("network.RPN_ANCHOR_GRID must be 'image' or 'feature', got %r"
                             % (self.proposal.anchor_grid,))
        if self.train.roi_sampling not in ('release', 'capped'):
            raise ValueError("TRAIN.ROI_SAMPLING must be 'release' or 'capped', got %r"
                             % (self.train.roi_sampling,))
        if self.proposal.post_nms_top_n < 1:
            raise ValueError('RPN_POST_NMS_TOP_N (TRAIN. or TEST.) must be >= 1, got %r'
                             % (self.proposal.post_nms_top_n,))
        if self.train.batch_rois == 0 or self.train.batch_rois < -1:
            raise ValueError('TRAIN.BATCH_ROIS must be >= 1, or -1 for all ROIs, got %r'
                             % (self.train.batch_rois,))
        if self.train.enable_ohem and self.train.batch_rois_ohem < 1:
            raise ValueError('TRAIN.BATCH_ROIS_OHEM must be >= 1 with TRAIN.ENABLE_OHEM, got %r'
                             % (self.train.batch_rois_ohem,))
        if (self.train.batch_images, self.test.batch_images) != (1, 1):
            raise ValueError('TRAIN.BATCH_IMAGES and TEST.BATCH_IMAGES must be 1 (one image per '
                             'device; more devices, gpus or num_cpu_devices, make larger '
                             'batches), got %r and %r'
                             % (self.train.batch_images, self.test.batch_images))
        if self.test.iters not in (1, 2):
            raise ValueError('test iters (TEST.ITER) must be 1 or 2, got %r' % (self.test.iters,))
        return self
