"""Worker shards of the training loader (disjoint, covering, aspect-grouped, equal to parts
of the one-process batches) and the small helpers of fcis.core.dist."""
import os

import numpy as np
import pytest

from fcis.core.dist import (Distributed, check_dist_environment, check_shard, exit_on_error,
                            is_distributed, last_rank, setup, shard_plan, worker_log_name)
from fcis.core.loader import TrainLoader
from fcis.core.loader_args import AnchorTargetArgs, BatchOrderArgs, TrainImageArgs, TrainLoaderArgs
from lib.dataset import get_imdb

SMALL = dict(num_train=7, num_val=2, seed=11, min_image_size=48, max_image_size=96,
             min_shape_size=16, max_shape_size=40, min_visible=20)
WORKER_ENV = {'DMLC_ROLE': 'worker', 'DMLC_PS_ROOT_URI': '127.0.0.1', 'DMLC_PS_ROOT_PORT': '9000',
              'DMLC_NUM_WORKER': '2', 'DMLC_NUM_SERVER': '1'}


@pytest.fixture(scope='module')
def roidb(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('shard'))
    imdb = get_imdb('shapes', 'train', root, os.path.join(root, 'shapes'), generator_args=SMALL)
    return imdb.append_flipped_images(imdb.gt_roidb())


def loader(roidb, ctx, shard=(0, 1)):
    args = TrainLoaderArgs(images=TrainImageArgs(scales=(64, 100)),
                           anchors=AnchorTargetArgs(scales=(1, 2, 4), batch_size=10 ** 6),
                           order=BatchOrderArgs(seed=5, shard=shard), num_workers=0)
    return TrainLoader(roidb, args, ctx)


def as_lists(plan):
    return [([int(i) for i in indices], pad, seed) for indices, pad, seed in plan]


def test_shard_plan_hand_cases():
    plan = [(np.array([4, 2, 7, 4]), 1, 11), (np.array([1, 3, 5, 0]), 0, 12)]
    assert as_lists(shard_plan(plan, 0, 2)) == [([4, 2], 0, 11), ([1, 3], 0, 12)]
    assert as_lists(shard_plan(plan, 1, 2)) == [([7, 4], 1, 11), ([5, 0], 0, 12)]
    three = [(np.array([8, 9, 6, 8, 9, 6]), 4, 3)]           # two real images, four fillers
    assert [as_lists(shard_plan(three, r, 3)) for r in range(3)] == [
        [([8, 9], 0, 3)], [([6, 8], 2, 3)], [([9, 6], 2, 3)]]
    with pytest.raises(ValueError, match='cannot be split'):
        shard_plan([(np.arange(5), 0, 1)], 0, 2)


@pytest.mark.parametrize('devices,workers', [(1, 2), (2, 2), (1, 3)])
def test_shards_partition_the_epoch_like_the_one_process_batches(roidb, devices, workers):
    whole = loader(roidb, devices * workers)
    shards = [loader(roidb, devices, shard=(r, workers)) for r in range(workers)]
    entries = whole.roidb
    for epoch in (0, 1):
        for it in [whole] + shards:
            it.set_epoch(epoch)
        global_batches, parts = list(whole), [list(s) for s in shards]
        assert all(len(p) == s.num_batches == len(global_batches) == whole.num_batches
                   for p, s in zip(parts, shards))
        seen = []
        for k, batch in enumerate(global_batches):
            indices = [int(i) for i in batch.index]
            assert len({entries[i]['width'] >= entries[i]['height'] for i in indices}) == 1
            info = batch.data[1].asnumpy()                                   # (N*W, 3)
            for r in range(workers):
                part = parts[r][k]
                lo, hi = r * devices, (r + 1) * devices
                assert [int(i) for i in part.index] == indices[lo:hi]
                np.testing.assert_array_equal(part.data[1].asnumpy(), info[lo:hi])
                for j in range(devices):          # same pixels inside the image (no padding)
                    h, w = int(info[lo + j, 0]), int(info[lo + j, 1])
                    np.testing.assert_array_equal(part.data[0].asnumpy()[j, :, :h, :w],
                                                  batch.data[0].asnumpy()[lo + j, :, :h, :w])
                seen += [int(i) for i in part.index[:devices - part.pad]]
            assert sum(parts[r][k].pad for r in range(workers)) == batch.pad
        assert sorted(seen) == list(range(len(entries)))   # disjoint and covering


def test_shard_arguments_are_checked(roidb):
    assert check_shard((1, 3)) == (1, 3)
    for bad in [(2, 2), (0, 0), (-1, 2), 'ab', (1,)]:
        with pytest.raises(ValueError, match='shard'):
            check_shard(bad)
    with pytest.raises(ValueError, match='rank < num_workers'):
        loader(roidb, 1, shard=(2, 2))


def test_dist_environment_is_required_for_dist_kvstores():
    with pytest.raises(RuntimeError, match='launch_dist.py.*default.kvstore=device'):
        check_dist_environment('dist_sync', env={})
    with pytest.raises(RuntimeError, match='DMLC_ROLE=server'):
        check_dist_environment('dist_sync', env=dict(WORKER_ENV, DMLC_ROLE='server'))
    check_dist_environment('dist_sync', env=WORKER_ENV)


def test_local_runs_need_no_kvstore_job():
    assert setup('device') == Distributed('device', 0, 1) and last_rank() == 0
    with pytest.raises(RuntimeError, match='dist_async is not supported'):
        setup('dist_async')
    assert is_distributed('dist_sync') and is_distributed('dist_device_sync')
    assert not is_distributed('device') and not is_distributed(None)
    assert worker_log_name('train.log', 0) == 'train.log'
    assert worker_log_name('train.log', 3) == 'train.worker3.log'
    with pytest.raises(KeyError):                 # outside dist runs exceptions propagate
        with exit_on_error(Distributed('device', 0, 1)):
            raise KeyError('x')
