"""The one conversion from a configuration (``fcis.config.load_config``) to the plain
arguments of the symbol builders (``fcis.symbols.args``)."""
from fcis.symbols.args import FCISArgs, ProposalArgs, TestArgs, TrainArgs, TrunkArgs
from lib.utils.mxnet_env import mxnet_has_onednn


def fuse_bn_relu(cfg, on_cpu=None):
    """network.FUSE_BN_RELU where the fused operator runs: CPU devices of an MXNet built with
    oneDNN. ``on_cpu``: whether the symbol will run on CPU devices; None: the config's
    devices (CPU when ``gpus`` is empty)."""
    if on_cpu is None:
        on_cpu = not str(cfg.gpus).strip()
    return bool(cfg.network.FUSE_BN_RELU) and bool(on_cpu) and mxnet_has_onednn()


def trunk_args(cfg, is_train=True, on_cpu=None):
    """network.* (and TEST.BN_IMAGE_STATS for the test symbol) -> TrunkArgs; ``on_cpu`` as in
    fuse_bn_relu."""
    net = cfg.network
    return TrunkArgs(depth=net.depth, units=tuple(net.TRUNK_UNITS),
                     filters=tuple(net.TRUNK_FILTERS), stride_in_1x1=bool(net.STRIDE_IN_1X1),
                     stem_kernel=int(net.STEM_KERNEL), stem_pool=bool(net.STEM_POOL),
                     bn_use_global_stats=bool(net.BN_USE_GLOBAL_STATS),
                     bn_image_stats=not is_train and bool(cfg.TEST.BN_IMAGE_STATS),
                     fuse_bn_relu=fuse_bn_relu(cfg, on_cpu))


def proposal_args(section, net):
    """TRAIN.* or TEST.* with network.* -> ProposalArgs (RPN_MIN_SIZE is already resolved
    by load_config)."""
    return ProposalArgs(pre_nms_top_n=int(section.RPN_PRE_NMS_TOP_N),
                        post_nms_top_n=int(section.RPN_POST_NMS_TOP_N),
                        nms_thresh=float(section.RPN_NMS_THRESH),
                        min_size=int(section.RPN_MIN_SIZE),
                        min_size_scaled=bool(net.RPN_MIN_SIZE_SCALED),
                        anchor_grid=str(net.RPN_ANCHOR_GRID),
                        cxx_proposal=bool(section.CXX_PROPOSAL))


def train_args(cfg):
    """TRAIN.* -> TrainArgs."""
    t = cfg.TRAIN
    return TrainArgs(batch_images=int(t.BATCH_IMAGES), batch_rois=int(t.BATCH_ROIS),
                     roi_sampling=str(t.ROI_SAMPLING), gap_from_all=bool(t.GAP_SELECT_FROM_ALL),
                     enable_ohem=bool(t.ENABLE_OHEM), batch_rois_ohem=int(t.BATCH_ROIS_OHEM),
                     fg_fraction=float(t.FG_FRACTION), fg_thresh=float(t.FG_THRESH),
                     bg_thresh_hi=float(t.BG_THRESH_HI), bg_thresh_lo=float(t.BG_THRESH_LO),
                     bbox_means=_bbox_norm(t.BBOX_MEANS, 0.0, t),
                     bbox_stds=_bbox_norm(t.BBOX_STDS, 1.0, t),
                     binary_thresh=float(t.BINARY_THRESH),
                     loss_weights=tuple(float(w) for w in t.LOSS_WEIGHTS),
                     rpn_batch_size=int(t.RPN_BATCH_SIZE),
                     seg_pixel_reduction=str(t.SEG_LOSS_REDUCTION))


def _bbox_norm(values, identity, train_cfg):
    """Box target means/stds, or identity when BBOX_NORMALIZATION_PRECOMPUTED is off."""
    if not train_cfg.BBOX_NORMALIZATION_PRECOMPUTED:
        return (identity,) * 4
    return tuple(float(v) for v in values)


def network_args(cfg, is_train, on_cpu=None):
    """Config -> FCISArgs for the training (``is_train=True``) or the test symbol; ``on_cpu``:
    whether it will run on CPU devices (None: the config's ``gpus`` say), see fuse_bn_relu.

    Training uses the TRAIN proposal settings, testing the TEST ones (and TEST.ITER).
    Box normalization (BBOX_MEANS/STDS) is shared: the test-time box parser undoes what
    training applied.
    """
    net = cfg.network
    section = cfg.TRAIN if is_train else cfg.TEST
    train = train_args(cfg)
    test = TestArgs(batch_images=int(cfg.TEST.BATCH_IMAGES), iters=int(cfg.TEST.ITER),
                    bbox_means=train.bbox_means, bbox_stds=train.bbox_stds)
    args = FCISArgs(num_classes=int(cfg.dataset.NUM_CLASSES),
                    anchor_scales=tuple(net.ANCHOR_SCALES),
                    anchor_ratios=tuple(net.ANCHOR_RATIOS),
                    rpn_feat_stride=int(net.RPN_FEAT_STRIDE),
                    rcnn_feat_stride=int(net.RCNN_FEAT_STRIDE),
                    group_size=int(net.PSROI_GROUP_SIZE),
                    pooled_size=int(net.PSROI_POOLED_SIZE),
                    conv_new_channels=int(net.CONV_NEW_CHANNELS),
                    cls_seg_lr_mult=float(net.FCIS_CLS_SEG_LR_MULT),
                    rpn_conv_channels=int(net.RPN_CONV_CHANNELS),
                    conv_new_lr_mult=float(net.CONV_NEW_LR_MULT),
                    bbox_delta_clip=bool(net.BBOX_DELTA_CLIP),
                    trunk=trunk_args(cfg, is_train, on_cpu), proposal=proposal_args(section, net),
                    train=train, test=test)
    if args.num_anchors != net.NUM_ANCHORS:
        raise ValueError('network.NUM_ANCHORS (%d) differs from len(ANCHOR_SCALES) x '
                         'len(ANCHOR_RATIOS) (%d); load the config with load_config'
                         % (net.NUM_ANCHORS, args.num_anchors))
    return args.check()
