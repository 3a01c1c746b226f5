"""The background-prefetching loader yields exactly the batches of the plain loader."""
import os

import numpy as np
import pytest

from fcis.core.loader import TrainLoader
from fcis.core.loader_args import AnchorTargetArgs, BatchOrderArgs, TrainImageArgs, TrainLoaderArgs
from lib.dataset import get_imdb

SMALL = dict(num_train=9, num_val=1, seed=21, min_image_size=48, max_image_size=96,
             min_shape_size=16, max_shape_size=40, min_visible=20)


@pytest.fixture(scope='module')
def roidb(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('prefetch'))
    imdb = get_imdb('shapes', 'train', root, os.path.join(root, 'shapes'), generator_args=SMALL)
    return imdb.append_flipped_images(imdb.gt_roidb())


def make(roidb, workers):
    # two scales and real anchor subsampling: every random choice must be reproduced
    args = TrainLoaderArgs(images=TrainImageArgs(scales=((64, 100), (56, 90))),
                           anchors=AnchorTargetArgs(scales=(1, 2, 4), batch_size=32),
                           order=BatchOrderArgs(seed=7), num_workers=workers, prefetch=3)
    return TrainLoader(roidb, args, ctx=2)


def as_numpy(batch):
    return ([a.asnumpy() for a in batch.data + batch.label], batch.pad, list(batch.index))


def collect(it, count):
    return [as_numpy(next(it)) for _ in range(count)]


def assert_same(a, b):
    assert len(a) == len(b)
    for (arrays_a, pad_a, idx_a), (arrays_b, pad_b, idx_b) in zip(a, b):
        assert (pad_a, idx_a) == (pad_b, idx_b)
        for x, y in zip(arrays_a, arrays_b):
            np.testing.assert_array_equal(x, y)


def test_prefetching_equals_plain_over_epochs_and_resets(roidb):
    plain, fetched = make(roidb, 0), make(roidb, 2)
    assert plain.num_batches == fetched.num_batches
    assert [d.shape for d in plain.provide_data] == [d.shape for d in fetched.provide_data]
    runs = []
    for it in (plain, fetched):
        out = list(map(as_numpy, it))                  # epoch 0, complete
        it.reset()
        out += collect(it, 3)                          # epoch 1, abandoned after 3 batches
        it.reset()
        out += list(map(as_numpy, it))                 # epoch 2, complete
        runs.append(out)
        it.close()
    assert_same(runs[0], runs[1])
    labels = np.concatenate([r[0][4].ravel() for r in runs[0]])
    assert (labels == 1).any() and (labels == 0).any()
    assert len({r[0][0].shape for r in runs[0]}) > 1   # sizes vary (aspect ratios and scales)
