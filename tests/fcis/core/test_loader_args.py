"""The training loader's arguments: the checks name the bad argument, the anchor fields are
lib.rpn.assign_anchor's keywords, and train_loader_args carries each config key to its field
(values written out by hand)."""
import inspect
import os

import pytest

from fcis.config import load_config
from fcis.core.loader_args import (AnchorTargetArgs, BatchOrderArgs, TrainImageArgs,
                                   TrainLoaderArgs)
from fcis.train_end2end import train_loader_args
from lib.rpn import assign_anchor

SHAPES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis', 'cfgs',
                      'shapes_fcis_end2end.yaml')


@pytest.mark.parametrize('args, name', [
    (TrainLoaderArgs(images=TrainImageArgs(pixel_means=(1.0, 2.0))), 'PIXEL_MEANS'),
    (TrainLoaderArgs(images=TrainImageArgs(image_stride=-32)), 'IMAGE_STRIDE'),
    (TrainLoaderArgs(anchors=AnchorTargetArgs(feat_stride=0)), 'RPN_FEAT_STRIDE'),
    (TrainLoaderArgs(anchors=AnchorTargetArgs(scales=())), 'ANCHOR_SCALES'),
    (TrainLoaderArgs(anchors=AnchorTargetArgs(batch_size=0)), 'RPN_BATCH_SIZE'),
    (TrainLoaderArgs(anchors=AnchorTargetArgs(fg_fraction=1.5)), 'RPN_FG_FRACTION'),
    (TrainLoaderArgs(anchors=AnchorTargetArgs(negative_overlap=0.8)), 'RPN_NEGATIVE_OVERLAP'),
    (TrainLoaderArgs(num_workers=-1), 'num_workers'),
])
def test_check_names_the_bad_argument(args, name):
    with pytest.raises(ValueError, match=name):
        args.check()


def test_anchor_fields_are_the_keywords_of_assign_anchor():
    keywords = [p.name for p in inspect.signature(assign_anchor).parameters.values()
                if p.default is not inspect.Parameter.empty]
    assert sorted(AnchorTargetArgs().keywords()) == sorted(keywords)
    assert AnchorTargetArgs(scales=(1, 2), ratios=(0.5, 1, 2)).num_anchors == 6


def test_train_loader_args_carries_every_key():
    cfg = load_config(SHAPES, [
        'SCALES=[[64, 100], [56, 90]]', 'network.PIXEL_MEANS=[1.0, 2.0, 3.0]',
        'network.IMAGE_STRIDE=16', 'network.ANCHOR_SCALES=[2, 4]', 'network.ANCHOR_RATIOS=[1]',
        'network.NUM_ANCHORS=2', 'TRAIN.RPN_ALLOWED_BORDER=5', 'TRAIN.RPN_BATCH_SIZE=64',
        'TRAIN.RPN_FG_FRACTION=0.25', 'TRAIN.RPN_POSITIVE_OVERLAP=0.6',
        'TRAIN.RPN_NEGATIVE_OVERLAP=0.2', 'TRAIN.RPN_CLOBBER_POSITIVES=true',
        'TRAIN.RPN_MATCH_ZERO_OVERLAP_GT=true', 'TRAIN.SHUFFLE=false',
        'TRAIN.ASPECT_GROUPING=false', 'seed=17'])
    args = train_loader_args(cfg, shard=(1, 3))
    assert args.images == TrainImageArgs(((64, 100), (56, 90)), (1.0, 2.0, 3.0), 16)
    assert args.anchors == AnchorTargetArgs(
        feat_stride=8, scales=(2, 4), ratios=(1,), allowed_border=5, batch_size=64,
        fg_fraction=0.25, positive_overlap=0.6, negative_overlap=0.2, clobber_positives=True,
        match_zero_overlap=True)
    assert args.order == BatchOrderArgs(shuffle=False, aspect_grouping=False, seed=17,
                                        shard=(1, 3), size_grouping=True)  # the config's
    assert (args.num_workers, args.prefetch) == (2, 4)
