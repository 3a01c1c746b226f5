"""Plain arguments of the training loader (``fcis.core.loader.TrainLoader``).

``fcis.train_end2end.train_loader_args(cfg, shard)`` is the one translation from a
configuration; tests and tools may also build them by hand:

    TrainLoader(roidb, TrainLoaderArgs(images=TrainImageArgs(scales=((64, 100),)),
                                       anchors=AnchorTargetArgs(scales=(1, 2, 4))), ctx=2)
"""
from dataclasses import asdict, dataclass, field
from typing import Tuple

DEFAULT_PIXEL_MEANS = (103.06, 115.90, 123.15)


@dataclass(frozen=True)
class TrainImageArgs:
    """How training images become the batch's data.

    scales: (shorter side, max longer side), or a sequence of such pairs (one drawn per
    batch); pixel_means: BGR means subtracted; image_stride: the batch's H and W are padded
    to a multiple of it (0: none).
    """
    scales: tuple = ((600, 1000),)
    pixel_means: Tuple[float, ...] = DEFAULT_PIXEL_MEANS
    image_stride: int = 0

    def check(self):
        """Raise ValueError naming the argument the loader cannot use."""
        if len(self.pixel_means) != 3:
            raise ValueError('pixel_means (network.PIXEL_MEANS) must be 3 numbers (B, G, R), '
                             'got %r' % (self.pixel_means,))
        if self.image_stride < 0:
            raise ValueError('image_stride (network.IMAGE_STRIDE) must be >= 0, got %r'
                             % (self.image_stride,))
        return self


@dataclass(frozen=True)
class AnchorTargetArgs:
    """RPN anchor targets; the fields are the keyword arguments of lib.rpn.assign_anchor.

    feat_stride, scales, ratios: the anchor layout (A = len(scales) * len(ratios));
    allowed_border: pixels an anchor may reach outside the image; batch_size: anchors
    sampled per image, fg_fraction of them foreground at most; positive_overlap /
    negative_overlap: IoU thresholds of foreground / background; clobber_positives,
    match_zero_overlap: see lib.rpn.anchor_target.
    """
    feat_stride: int = 16
    scales: Tuple[float, ...] = (8, 16, 32)
    ratios: Tuple[float, ...] = (0.5, 1, 2)
    allowed_border: int = 0
    batch_size: int = 256
    fg_fraction: float = 0.5
    positive_overlap: float = 0.7
    negative_overlap: float = 0.3
    clobber_positives: bool = False
    match_zero_overlap: bool = False

    @property
    def num_anchors(self):
        return len(self.scales) * len(self.ratios)

    def keywords(self):
        """{name: value} for lib.rpn.assign_anchor."""
        return asdict(self)

    def check(self):
        """Raise ValueError naming the argument the anchor targets cannot use."""
        if self.feat_stride < 1:
            raise ValueError('anchor feat_stride (network.RPN_FEAT_STRIDE) must be >= 1, got %r'
                             % (self.feat_stride,))
        if not self.num_anchors:
            raise ValueError('anchor scales and ratios (network.ANCHOR_SCALES, ANCHOR_RATIOS) '
                             'must not be empty')
        if self.batch_size < 1:
            raise ValueError('anchor batch_size (TRAIN.RPN_BATCH_SIZE) must be >= 1, got %r'
                             % (self.batch_size,))
        if not 0 <= self.fg_fraction <= 1:
            raise ValueError('anchor fg_fraction (TRAIN.RPN_FG_FRACTION) must be in [0, 1], '
                             'got %r' % (self.fg_fraction,))
        if not 0 <= self.negative_overlap <= self.positive_overlap <= 1:
            raise ValueError('anchor overlaps must satisfy 0 <= negative_overlap (%r, '
                             'TRAIN.RPN_NEGATIVE_OVERLAP) <= positive_overlap (%r, '
                             'TRAIN.RPN_POSITIVE_OVERLAP) <= 1'
                             % (self.negative_overlap, self.positive_overlap))
        return self


@dataclass(frozen=True)
class BatchOrderArgs:
    """Which images form each batch.

    shuffle: random image and batch order; aspect_grouping: a batch holds only landscape or
    only portrait images; size_grouping: within each group, the images of a batch have the
    same (else the nearest) input size at the first scale, so devices and processes sharing
    a batch get equal work (fcis.core.loader.epoch_plan); seed: base of every random choice
    (image order, scale, anchor sampling); shard: (rank, num_workers) of a distributed run
    (the epoch plan is drawn for global batches of batch_size * num_workers images and this
    loader yields part ``rank`` of each, fcis.core.dist.shard_plan; (0, 1) = the whole
    batch).
    """
    shuffle: bool = True
    aspect_grouping: bool = True
    seed: int = 0
    shard: Tuple[int, int] = (0, 1)
    size_grouping: bool = False


@dataclass(frozen=True)
class TrainLoaderArgs:
    """Everything TrainLoader needs besides the roidb, the devices and the feature shapes.

    num_workers: background threads (0: each batch prepared in ``next()``); prefetch:
    batches prepared ahead.
    """
    images: TrainImageArgs = field(default_factory=TrainImageArgs)
    anchors: AnchorTargetArgs = field(default_factory=AnchorTargetArgs)
    order: BatchOrderArgs = field(default_factory=BatchOrderArgs)
    num_workers: int = 2
    prefetch: int = 4

    def check(self):
        """Raise ValueError naming the first argument the loader cannot use."""
        self.images.check()
        self.anchors.check()
        if self.num_workers < 0:
            raise ValueError('loader num_workers must be >= 0 (0: no threads), got %r'
                             % (self.num_workers,))
        return self
