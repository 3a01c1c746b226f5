"""Training and test loaders on a tiny generated shapes set, checked against OpenCV/NumPy
references written here and against lib.rpn.assign_anchor."""
import logging
import os
import shutil
from dataclasses import replace

import cv2
import mxnet as mx
import numpy as np
import pytest

from fcis.core.loader import TestLoader as ImageTestLoader  # not collected as a test class
from fcis.core.loader import TrainLoader, epoch_plan, input_size_ranks
from fcis.core.loader_args import AnchorTargetArgs, BatchOrderArgs, TrainImageArgs, TrainLoaderArgs
from fcis.core.minibatch import default_feat_shape
from lib.dataset import decode_masks, get_imdb
from lib.rpn import assign_anchor

MEANS = (103.06, 115.90, 123.15)
SMALL = dict(num_train=7, num_val=2, seed=11, min_image_size=48, max_image_size=96,
             min_shape_size=16, max_shape_size=40, min_visible=20)
SCALES = (64, 100)


@pytest.fixture(scope='module')
def roidb(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('loader'))
    imdb = get_imdb('shapes', 'train', root, os.path.join(root, 'shapes'), generator_args=SMALL)
    return imdb.append_flipped_images(imdb.gt_roidb())


def reference_image(entry):
    """(resized BGR float image, scale) computed independently of lib.utils.image."""
    image = cv2.imread(entry['image'])
    if entry['flipped']:
        image = image[:, ::-1]
    h, w = image.shape[:2]
    scale = SCALES[0] / min(h, w)
    if round(scale * max(h, w)) > SCALES[1]:
        scale = SCALES[1] / max(h, w)
    size = (int(round(w * scale)), int(round(h * scale)))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_LINEAR).astype(np.float32), scale


ARGS = TrainLoaderArgs(images=TrainImageArgs(scales=SCALES, pixel_means=MEANS),
                       anchors=AnchorTargetArgs(scales=(1, 2, 4), batch_size=10 ** 6),
                       order=BatchOrderArgs(shuffle=False), num_workers=0)


def loader(roidb, ctx=2, images=ARGS.images, order=ARGS.order, num_workers=0):
    return TrainLoader(roidb, replace(ARGS, images=images, order=order, num_workers=num_workers),
                       ctx)


def test_batch_layout_and_content(roidb):
    it = loader(roidb)
    batches = list(it)
    assert len(batches) == it.num_batches == 7                   # 14 entries, 2 per batch, grouped
    seen = []
    for batch in batches:
        data, im_info, gt_boxes, gt_masks = [a.asnumpy() for a in batch.data]
        label, bbox_target, bbox_weight = [a.asnumpy() for a in batch.label]
        n, _, height, width = data.shape
        fh, fw = default_feat_shape(height, width)
        assert n == 2 and label.shape == (2, 9 * fh * fw) and bbox_target.shape == (2, 36, fh, fw)
        assert bbox_weight.shape == bbox_target.shape and gt_masks.shape[2:] == (height, width)
        assert [d.shape for d in batch.provide_data] == [data.shape, im_info.shape, gt_boxes.shape, gt_masks.shape]
        assert [d.name for d in batch.provide_label] == ['label', 'bbox_target', 'bbox_weight']
        for i, index in enumerate(batch.index):
            entry = roidb[index]
            seen.append(index)
            image, scale = reference_image(entry)
            h, w = image.shape[:2]
            np.testing.assert_allclose(im_info[i], [h, w, scale], rtol=1e-6)
            assert min(h, w) == SCALES[0] or max(h, w) == SCALES[1]
            # the network input is RGB: channel c holds BGR channel 2 - c minus its mean,
            # float32(pixel) - float32(mean) exactly
            want = image.astype(np.float32) - np.asarray(MEANS, np.float32)
            np.testing.assert_array_equal(data[i, ::-1, :h, :w].transpose(1, 2, 0), want)
            assert not data[i, :, h:, :].any() and not data[i, :, :, w:].any()
            k = len(entry['boxes'])
            np.testing.assert_allclose(gt_boxes[i, :k, :4], entry['boxes'] * scale, rtol=1e-6)
            np.testing.assert_array_equal(gt_boxes[i, :k, 4], entry['gt_classes'])
            assert np.all(gt_boxes[i, k:] == -1)
            masks = decode_masks(entry)
            for j in range(k):
                resized = cv2.resize(masks[j].astype(np.float32), (w, h)) >= 0.5
                np.testing.assert_array_equal(gt_masks[i, j, :h, :w], resized)
            assert not gt_masks[i, k:].any() and not gt_masks[i, :, h:, :].any()
            ref = assign_anchor((fh, fw), entry['boxes'] * scale, im_info[i], np.random.RandomState(0),
                                scales=(1, 2, 4), batch_size=10 ** 6)
            np.testing.assert_array_equal(label[i], ref['label'][0])
            np.testing.assert_allclose(bbox_target[i], ref['bbox_target'][0], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(bbox_weight[i], ref['bbox_weight'][0])
    assert sorted(seen) == list(range(len(roidb)))                 # every image once (no padding here)


def test_aspect_grouping_and_epochs(roidb):
    it = loader(roidb, order=BatchOrderArgs(shuffle=True, seed=4))
    orders = []
    for _ in range(2):
        order = []
        for batch in it:
            landscape = {roidb[i]['width'] >= roidb[i]['height'] for i in batch.index}
            assert len(landscape) == 1
            order += list(batch.index)
        orders.append(order)
        it.reset()
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]


def reference_input_size(entry, scale, stride):
    """(H, W) of an entry's network input at ``scale``, padded to ``stride``: computed here."""
    h, w = entry['height'], entry['width']
    factor = scale[0] / min(h, w)
    if round(factor * max(h, w)) > scale[1]:
        factor = scale[1] / max(h, w)
    return tuple(-(-int(round(side * factor)) // stride) * stride for side in (h, w))


def test_input_size_ranks_order_sizes_by_area_then_height():
    entries = [{'height': h, 'width': w} for h, w in
               [(50, 100), (100, 50), (64, 64), (50, 100), (60, 60), (32, 128)]]
    # at (64, 100), stride 32: 64x128, 128x64, 64x64, 64x128, 64x64, 32x128 (capped at 100 -> 25 -> 32)
    ranks = input_size_ranks(entries, (64, 100), 32)
    sizes = [reference_input_size(e, (64, 100), 32) for e in entries]
    assert sizes == [(64, 128), (128, 64), (64, 64), (64, 128), (64, 64), (32, 128)]
    # areas 8192, 8192, 4096, 8192, 4096, 4096: 32x128 < 64x64 (height), 64x128 < 128x64
    assert list(ranks) == [2, 3, 1, 2, 1, 0]


@pytest.mark.parametrize('batch_size', [2, 3])
def test_size_grouping_batches_images_of_one_size(batch_size):
    rng = np.random.RandomState(0)
    entries = [{'height': int(h), 'width': int(w)} for h, w in rng.randint(40, 100, size=(61, 2))]
    scale, stride = (64, 100), 32
    sizes = [reference_input_size(e, scale, stride) for e in entries]
    ranks = input_size_ranks(entries, scale, stride)
    plain = epoch_plan(entries, batch_size, 0, 7)
    grouped = epoch_plan(entries, batch_size, 0, 7, size_order=ranks)
    assert len(grouped) == len(plain)
    # every image once per epoch (plus each group's cyclic fill), orientation groups kept
    counts = np.bincount(np.concatenate([chunk for chunk, _, _ in grouped]), minlength=len(entries))
    assert counts.min() >= 1 and counts.sum() - len(entries) == sum(pad for _, pad, _ in grouped)
    for chunk, _, _ in grouped:
        assert len({entries[i]['width'] >= entries[i]['height'] for i in chunk}) == 1

    def mixed(plan):
        return sum(len({sizes[i] for i in chunk[:len(chunk) - pad]}) > 1 for chunk, pad, _ in plan)

    # a batch mixes sizes only where a size's images do not fill whole batches: at most one
    # such boundary per size (and group)
    assert mixed(grouped) <= len(set(sizes))
    assert mixed(plain) > 2 * mixed(grouped)
    # the same seed gives the same plan, another epoch another one
    again = epoch_plan(entries, batch_size, 0, 7, size_order=ranks)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(grouped, again))
    other = epoch_plan(entries, batch_size, 1, 7, size_order=ranks)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(grouped, other))


def test_size_grouping_in_the_loader(roidb):
    order = BatchOrderArgs(shuffle=True, seed=5, size_grouping=True)
    it = loader(roidb, order=order)
    expected = epoch_plan(it.roidb, 2, 0, 5, size_order=input_size_ranks(it.roidb, SCALES, 0))
    assert [list(b.index) for b in it] == [list(chunk) for chunk, _, _ in expected]


def test_padding_when_fewer_images_than_devices(roidb):
    it = loader(roidb[:3], ctx=[mx.cpu(0), mx.cpu(1), mx.cpu(2), mx.cpu(3)],
                order=BatchOrderArgs(shuffle=False, aspect_grouping=False))
    batches = list(it)
    assert len(batches) == 1 and batches[0].pad == 1
    assert list(batches[0].index) == [0, 1, 2, 0]
    assert batches[0].data[0].shape[0] == 4


def test_images_without_annotations_are_dropped(roidb, caplog):
    empty = dict(roidb[0], boxes=np.zeros((0, 4), np.float32), gt_classes=np.zeros(0, np.int32), masks=[])
    with caplog.at_level(logging.INFO):
        it = loader([empty] + roidb[:4],
                    order=BatchOrderArgs(shuffle=False, aspect_grouping=False))
    assert 'dropped 1 of 5 images' in caplog.text and len(it.roidb) == 4
    with pytest.raises(ValueError, match='no training image'):
        loader([empty])


@pytest.mark.parametrize('workers', [0, 2])
def test_corrupt_image_is_reported_by_path(roidb, tmp_path, workers):
    bad = str(tmp_path / 'broken.png')
    with open(bad, 'wb') as f:
        f.write(b'not a png at all')
    entries = [dict(roidb[0], image=bad)]
    with pytest.raises(IOError, match='broken.png'):
        next(iter(loader(entries, num_workers=workers)))
    missing = [dict(roidb[0], image=str(tmp_path / 'gone.png'))]
    with pytest.raises(IOError, match='gone.png'):
        next(iter(loader(missing, num_workers=workers)))


def test_image_size_mismatch_is_reported(roidb, tmp_path):
    path = str(tmp_path / 'resized.png')
    shutil.copy(roidb[0]['image'], path)
    cv2.imwrite(path, cv2.imread(path)[:-3])
    with pytest.raises(ValueError, match='resized.png .* annotation says'):
        next(iter(loader([dict(roidb[0], image=path)])))


def test_test_loader_yields_each_image_with_its_scale(roidb):
    entries = roidb[:3] + roidb[-2:]
    it = ImageTestLoader(entries, scales=[SCALES], pixel_means=MEANS, num_workers=1)
    assert it.provide_data[0].shape[:2] == (1, 3) and it.provide_label == []
    count = 0
    for batch, entry in zip(it, entries):
        image, scale = reference_image(entry)
        assert batch.entry is entry and batch.scale == pytest.approx(scale)
        data, im_info = batch.data[0].asnumpy(), batch.data[1].asnumpy()
        assert data.shape == (1, 3) + image.shape[:2] and im_info.shape == (1, 3)
        np.testing.assert_allclose(data[0, ::-1].transpose(1, 2, 0) + MEANS, image, atol=1e-3)  # RGB input
        assert [d.shape for d in batch.provide_data] == [data.shape, im_info.shape]
        count += 1
    assert count == len(entries)
    it.reset()
    assert len(list(it)) == len(entries)
    strided = ImageTestLoader(entries[:1], scales=SCALES, pixel_means=MEANS, image_stride=32, num_workers=0)
    shape = next(iter(strided)).data[0].shape
    assert shape[2] % 32 == 0 and shape[3] % 32 == 0


@pytest.mark.parametrize('stride', [0, 32])
def test_max_shapes_cover_every_batch(roidb, stride):
    """Every batch of an epoch fits max_shapes() (the shapes the training Module binds to),
    and the bound is reached for the instance count (the most of any image)."""
    it = loader(roidb, ctx=1, images=replace(ARGS.images, image_stride=stride))
    data, label = it.max_shapes()
    bound = dict(data + label)
    most_instances = max(len(entry['boxes']) for entry in roidb)
    assert bound['gt_boxes'][1] == most_instances
    side = bound['data'][2]
    assert side == bound['data'][3] and side >= SCALES[1] and (stride == 0 or side % stride == 0)
    names = [d.name for d in it.provide_data + it.provide_label]
    seen = 0
    for batch in it:
        for name, array in zip(names, batch.data + batch.label):
            assert len(array.shape) == len(bound[name]), name
            assert all(a <= b for a, b in zip(array.shape, bound[name])), (name, array.shape)
        seen += 1
    assert seen == it.num_batches
    fh, fw = default_feat_shape(side, side)
    assert bound['bbox_target'][2:] == (fh, fw) and bound['label'][1] == 9 * fh * fw
