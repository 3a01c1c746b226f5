"""TrainLoader.set_epoch on a tiny generated shapes set: the batches of any epoch, whatever
was read or prefetched before."""
import os

import numpy as np
import pytest

from fcis.core.loader import TrainLoader, epoch_plan
from fcis.core.loader_args import AnchorTargetArgs, BatchOrderArgs, TrainImageArgs, TrainLoaderArgs
from lib.dataset import get_imdb

NUM_TRAIN = 4          # 8 batches per epoch with the flipped copies


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """Folder of the tiny shapes set (generated on first use) and its annotation cache."""
    return str(tmp_path_factory.mktemp('shapes_data'))


def as_numpy(batch):
    return [a.asnumpy() for a in batch.data + batch.label], list(batch.index)


def test_set_epoch_gives_that_epochs_batches_and_drops_prefetched_ones(data_root):
    imdb = get_imdb('shapes', 'train', data_root, os.path.join(data_root, 'shapes'),
                    generator_args={'num_train': NUM_TRAIN, 'num_val': 2})
    roidb = imdb.append_flipped_images(imdb.gt_roidb())

    def make(workers):
        args = TrainLoaderArgs(images=TrainImageArgs(scales=((64, 100), (56, 90))),
                               anchors=AnchorTargetArgs(scales=(1, 2, 4), batch_size=32),
                               order=BatchOrderArgs(seed=5), num_workers=workers, prefetch=3)
        return TrainLoader(roidb, args)

    def epoch_of(loader, epoch):
        loader.set_epoch(epoch)
        return [as_numpy(b) for b in loader]

    plain = make(0)
    reference = {e: epoch_of(plain, e) for e in (0, 1, 2, 3)}
    for e in (0, 1, 2, 3):   # the roidb order of each epoch is epoch_plan's
        expected = [list(chunk) for chunk, _, _ in epoch_plan(plain.roidb, 1, e, 5)]
        assert [idx for _, idx in reference[e]] == expected
    assert [idx for _, idx in reference[0]] != [idx for _, idx in reference[2]]

    fetched = make(2)
    fetched.provide_data                      # peeks epoch 0 (as binding does), threads start
    runs = [epoch_of(fetched, 2)]             # resume case: jump over epochs 0 and 1
    fetched.set_epoch(3)                      # finished epoch -> the next (stream kept)
    runs.append([as_numpy(next(fetched))])    # abandon epoch 3 after one batch ...
    runs.append(epoch_of(fetched, 1))         # ... while its next batches are queued
    runs.append(epoch_of(fetched, 2))
    fetched.close()
    for run, epoch in zip(runs, (2, 3, 1, 2)):
        if epoch == 3:
            run = run + reference[3][1:]
        assert len(run) == len(reference[epoch])
        for (arrays, idx), (ref_arrays, ref_idx) in zip(run, reference[epoch]):
            assert idx == ref_idx
            for x, y in zip(arrays, ref_arrays):
                np.testing.assert_array_equal(x, y)
