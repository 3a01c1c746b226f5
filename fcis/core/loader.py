"""Training and test data loaders (``mx.io.DataIter``), configured by plain arguments.

``TrainLoader`` (arguments: ``fcis.core.loader_args``) yields one image per device,
concatenated along axis 0 (layout in ``fcis.core.minibatch``), grouped by aspect ratio,
with RPN anchor targets; batches are prepared on background threads. ``TestLoader`` yields
one image at a time with the roidb entry and the scale needed to map results back.

Every random choice of an epoch (image order, scale choice, anchor sampling) is drawn
from seeds derived from (seed, epoch, batch), so the prefetching loader yields exactly
the batches of the plain one (``num_workers=0``).
"""
import logging
import threading

import mxnet as mx
import numpy as np

from lib.dataset.roidb import filter_roidb
from lib.utils.image import normalize_scales, resized_size, round_up
from lib.utils.ndarray_copy import HostArray
from lib.utils.prefetch import Prefetcher

from .minibatch import (ImageInput, default_feat_shape, load_train_image, read_entry_image,
                        rpn_targets, stack_train_images)
from .dist import check_shard, shard_plan
from .loader_args import DEFAULT_PIXEL_MEANS, TrainLoaderArgs

logger = logging.getLogger(__name__)

DATA_NAMES = ('data', 'im_info', 'gt_boxes', 'gt_masks')
LABEL_NAMES = ('label', 'bbox_target', 'bbox_weight')


def num_devices(ctx):
    """Number of devices of ``ctx``: an int, a Context or a list of Contexts."""
    if isinstance(ctx, int):
        return ctx
    return len(ctx) if isinstance(ctx, (list, tuple)) else 1


def epoch_plan(roidb, batch_size, epoch, seed, shuffle=True, aspect_grouping=True,
               size_order=None):
    """Batches of one epoch: list of (roidb indices (batch_size,), pad, batch seed).

    With ``aspect_grouping`` a batch holds only landscape (w >= h) or only portrait
    images. ``size_order``: None, or the rank of every roidb entry's input size
    (input_size_ranks): each group's (shuffled) images are then sorted by it, stably, before
    they are cut into batches, so a batch holds images of one size, or of the nearest sizes
    where a size's count does not divide into batches; the batches are shuffled as before.
    A group's last batch is completed with images from the start of that group (``pad``
    counts them).
    """
    rng = np.random.RandomState(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    if aspect_grouping:
        landscape = np.array([e['width'] >= e['height'] for e in roidb], dtype=bool)
        groups = [np.where(landscape)[0], np.where(~landscape)[0]]
    else:
        groups = [np.arange(len(roidb))]
    batches = []
    for group in groups:
        order = rng.permutation(group) if shuffle else group
        if size_order is not None:
            order = order[np.argsort(size_order[order], kind='stable')]
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            pad = batch_size - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.resize(order, pad)])  # cyclic fill
            batches.append((chunk, pad))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    seeds = rng.randint(0, 2 ** 31 - 1, size=len(batches))
    return [(chunk, pad, int(s)) for (chunk, pad), s in zip(batches, seeds)]


def input_size_ranks(roidb, scale, image_stride):
    """Rank of each roidb entry's network input size at ``scale`` (shorter side, max longer
    side), padded to ``image_stride``: by area, then height, then width (int array (N,);
    equal sizes share a rank)."""
    sizes = []
    for entry in roidb:
        (h, w), _ = resized_size(entry['height'], entry['width'], *scale)
        sizes.append((round_up(h, image_stride), round_up(w, image_stride)))
    sizes = np.array(sizes, dtype=np.int64).reshape(-1, 2)
    keys = np.stack([sizes[:, 0] * sizes[:, 1], sizes[:, 0], sizes[:, 1]], axis=1)
    _, ranks = np.unique(keys, axis=0, return_inverse=True)
    return ranks.reshape(-1)


class TrainLoader(mx.io.DataIter):
    """Training batches for FCIS: data/im_info/gt_boxes/gt_masks and RPN labels.

    The batch arrays are ``HostArray`` (lib.utils.ndarray_copy): ``Module.forward`` copies
    each from NumPy straight into the executors' inputs.

    Args:
        roidb: entries of ``lib.dataset`` (flipped ones included); entries without any
            instance are dropped (count logged).
        args: TrainLoaderArgs (fcis.core.loader_args): image scales and means, anchor
            targets, batch order and seed, background threads; checked first.
        ctx: number of devices, or the list of contexts: one image per device.
        feat_shape_fn: (H, W) -> (fh, fw) of the RPN output (``symbol_feat_shape_fn`` of
            the training symbol, or ``default_feat_shape`` for the stride-16 ResNet trunk).
    """

    def __init__(self, roidb, args=TrainLoaderArgs(), ctx=1, feat_shape_fn=default_feat_shape):
        super(TrainLoader, self).__init__(batch_size=num_devices(ctx))
        args.check()
        self.roidb = filter_roidb(roidb)
        if not self.roidb:
            raise ValueError('no training image has an annotated instance; check the dataset '
                             'and its annotation file')
        self.scales = normalize_scales(args.images.scales)
        self.pixel_means = tuple(float(m) for m in args.images.pixel_means)
        self.image_stride = int(args.images.image_stride)
        self.anchors = args.anchors
        self._feat_shape_fn, self._feat_lock = feat_shape_fn, threading.Lock()
        order = args.order
        self.shuffle, self.aspect_grouping = order.shuffle, order.aspect_grouping
        self.seed = order.seed
        self.num_workers, self.prefetch = int(args.num_workers), max(1, int(args.prefetch))
        self.shard = check_shard(order.shard)
        self.size_order = (input_size_ranks(self.roidb, self.scales[0], self.image_stride)
                           if order.size_grouping else None)
        self.num_batches = len(epoch_plan(self.roidb, self.batch_size * self.shard[1], 0,
                                          self.seed, False, self.aspect_grouping))
        self._epoch, self._cursor = 0, 0
        self._plan = self._make_plan(0)
        self._pending, self._current, self._prefetcher = None, None, None
        logger.info('TrainLoader: %d images, %d batches of %d per epoch', len(self.roidb),
                    self.num_batches, self.batch_size)

    # ---- plan and per-batch work ---------------------------------------------------
    def _make_plan(self, epoch):
        rank, num_shards = self.shard
        plan = epoch_plan(self.roidb, self.batch_size * num_shards, epoch, self.seed,
                          self.shuffle, self.aspect_grouping, self.size_order)
        return shard_plan(plan, rank, num_shards) if num_shards > 1 else plan

    def _jobs(self, epoch):
        """Endless stream of (epoch, batch index, roidb indices, pad, seed) from ``epoch`` on."""
        while True:
            plan = self._plan if epoch == self._epoch else self._make_plan(epoch)
            for index, (chunk, pad, seed) in enumerate(plan):
                yield epoch, index, chunk, pad, seed
            epoch += 1

    def feat_shape(self, height, width):
        with self._feat_lock:
            return tuple(int(v) for v in self._feat_shape_fn(height, width))

    def make_batch(self, job):
        """NumPy arrays of one batch job (runs on a worker thread)."""
        epoch, index, chunk, pad, seed = job
        rng = np.random.RandomState(seed)
        target_size, max_size = self.scales[rng.randint(len(self.scales))]
        images = [load_train_image(self.roidb[i], target_size, max_size, self.pixel_means)
                  for i in chunk]
        batch = stack_train_images(images, self.image_stride)
        feat = self.feat_shape(batch['data'].shape[2], batch['data'].shape[3])
        batch.update(rpn_targets(batch, feat, rng, self.anchors))
        batch.update({'epoch': epoch, 'index': index, 'pad': pad, 'roidb_indices': chunk})
        return batch

    # ---- fetching ----------------------------------------------------------------------
    def _fetch(self):
        if self.num_workers <= 0:
            chunk, pad, seed = self._plan[self._cursor]
            return self.make_batch((self._epoch, self._cursor, chunk, pad, seed))
        if self._prefetcher is None:
            self._prefetcher = Prefetcher(self.make_batch, self._jobs(self._epoch),
                                          self.num_workers, self.prefetch)
        batch = next(self._prefetcher)
        assert (batch['epoch'], batch['index']) == (self._epoch, self._cursor), 'prefetch out of order'
        return batch

    def _peek(self):
        if self._pending is None:
            self._pending = self._fetch()
        return self._pending

    # ---- DataIter interface --------------------------------------------------------------
    def reset(self):
        """Start the next epoch (a no-op when nothing of the current epoch was consumed)."""
        if self._cursor == 0:
            return
        finished = self._cursor >= self.num_batches
        self._epoch, self._cursor, self._pending = self._epoch + 1, 0, None
        self._plan = self._make_plan(self._epoch)
        if not finished:
            self.close()  # the queued batches belong to the abandoned epoch

    def set_epoch(self, epoch):
        """Start 0-based ``epoch`` from its first batch (``fit`` calls this; resume needs it).

        The batches of ``epoch`` are the same whatever was read before. A batch already
        fetched or queued by the background threads is kept only if it is the first batch of
        ``epoch`` or follows it in order; otherwise all of them are dropped and the threads
        restart at ``epoch`` on the next ``next()``.
        """
        epoch = int(epoch)
        if epoch < 0:
            raise ValueError('TrainLoader.set_epoch: epoch must be >= 0, got %d' % epoch)
        if epoch == self._epoch and self._cursor == 0:
            return                                          # nothing of it consumed yet
        # the prefetch stream runs on into the next epoch: keep it after a finished epoch
        continues = epoch == self._epoch + 1 and self._cursor >= self.num_batches
        pending = self._pending
        if pending is not None and (pending['epoch'], pending['index']) != (epoch, 0):
            pending, continues = None, False
        self._epoch, self._cursor, self._pending = epoch, 0, pending
        self._plan = self._make_plan(epoch)
        if not continues:
            self._pending = None
            self.close()  # queued batches (if any) belong to another epoch

    def next(self):
        if self._cursor >= self.num_batches:
            raise StopIteration
        batch = self._peek()
        self._pending, self._current = None, batch
        self._cursor += 1
        return mx.io.DataBatch(data=[HostArray(batch[n]) for n in DATA_NAMES],
                               label=[HostArray(batch[n]) for n in LABEL_NAMES],
                               pad=batch['pad'], index=batch['roidb_indices'],
                               provide_data=self._descs(batch, DATA_NAMES),
                               provide_label=self._descs(batch, LABEL_NAMES))

    def iter_next(self):
        return self._cursor < self.num_batches

    @staticmethod
    def _descs(batch, names):
        return [mx.io.DataDesc(n, batch[n].shape) for n in names]

    @property
    def provide_data(self):
        """Shapes of the last batch returned (of the next one before the first ``next()``)."""
        return self._descs(self._current or self._peek(), DATA_NAMES)

    @property
    def provide_label(self):
        return self._descs(self._current or self._peek(), LABEL_NAMES)

    def max_shapes(self):
        """([(name, shape)] data, [(name, shape)] label) at least as large as every batch's.

        Binding the training Module to these lets the Modules of all other shapes take their
        input memory from it. Images fit a square of the largest max-size side (padded to
        ``image_stride``); instances: the most of any image in the roidb.
        """
        side = round_up(max(max_size for _, max_size in self.scales), self.image_stride)
        num_gt = max(len(entry['boxes']) for entry in self.roidb)
        n = self.batch_size
        data = [('data', (n, 3, side, side)), ('im_info', (n, 3)),
                ('gt_boxes', (n, num_gt, 5)), ('gt_masks', (n, num_gt, side, side))]
        fh, fw = self.feat_shape(side, side)
        num_anchors = self.anchors.num_anchors
        label = [('label', (n, num_anchors * fh * fw)),                  # (A, fh, fw) flattened
                 ('bbox_target', (n, 4 * num_anchors, fh, fw)),
                 ('bbox_weight', (n, 4 * num_anchors, fh, fw))]
        return data, label

    def close(self):
        """Stop the background threads (they restart on the next ``next()``)."""
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None


class TestLoader(mx.io.DataIter):
    """Test images one at a time: data = [data (1, 3, h, w), im_info (1, 3)].

    Each DataBatch also carries ``entry`` (the roidb entry), ``scale`` and ``im_info``
    (NumPy (1, 3)) so results can be mapped back to the original image (divide boxes by
    ``scale``). Images become inputs by ``image_input`` (fcis.core.minibatch.ImageInput, e.g.
    ``ImageInput.from_cfg(cfg)``); without it, by the first (shorter side, max longer side)
    pair of ``scales``, ``pixel_means`` and ``image_stride``.
    """

    def __init__(self, roidb, scales=(600, 1000), pixel_means=DEFAULT_PIXEL_MEANS,
                 image_stride=0, num_workers=1, prefetch=2, image_input=None):
        super(TestLoader, self).__init__(batch_size=1)
        self.roidb = list(roidb)
        if not self.roidb:
            raise ValueError('TestLoader: the test roidb is empty')
        if image_input is None:
            target_size, max_size = normalize_scales(scales)[0]
            image_input = ImageInput(target_size, max_size, tuple(float(m) for m in pixel_means),
                                     int(image_stride))
        self.image_input = image_input
        self.num_workers, self.prefetch = int(num_workers), max(1, int(prefetch))
        self._cursor, self._prefetcher, self._current = 0, None, None

    def __len__(self):
        return len(self.roidb)

    def load(self, index):
        """(data (1, 3, H, W), im_info (1, 3)) of test image ``index`` (ImageInput.prepare)."""
        return self.image_input.prepare(read_entry_image(self.roidb[index]))

    def reset(self):
        self.close()
        self._cursor, self._current = 0, None

    def iter_next(self):
        return self._cursor < len(self.roidb)

    def next(self):
        if self._cursor >= len(self.roidb):
            raise StopIteration
        if self.num_workers <= 0:
            data, im_info = self.load(self._cursor)
        else:
            if self._prefetcher is None:
                self._prefetcher = Prefetcher(self.load, range(self._cursor, len(self.roidb)),
                                              self.num_workers, self.prefetch)
            data, im_info = next(self._prefetcher)
        index = self._cursor
        self._cursor += 1
        self._current = (data, im_info)
        batch = mx.io.DataBatch(data=[HostArray(data), HostArray(im_info)], label=[], pad=0,
                                index=[index], provide_data=self._descs(data, im_info),
                                provide_label=[])
        batch.entry, batch.im_info, batch.scale = self.roidb[index], im_info, float(im_info[0, 2])
        return batch

    @staticmethod
    def _descs(data, im_info):
        return [mx.io.DataDesc('data', data.shape), mx.io.DataDesc('im_info', im_info.shape)]

    @property
    def provide_data(self):
        """Shapes of the last batch returned (of the first image before any ``next()``)."""
        if self._current is None:
            self._current = self.load(self._cursor if self._cursor < len(self.roidb) else 0)
        return self._descs(*self._current)

    @property
    def provide_label(self):
        return []

    def close(self):
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None
