"""Train FCIS end to end from a configuration (``train_net(cfg)``).

Outputs go to ``<output_path>/<cfg name>/<image_set>/``: the merged config
(``config.yaml``), ``train.log``, ``metrics.jsonl``, ``loss_curves.png`` and one atomic
checkpoint per epoch (``<model_prefix>-EEEE.params/.states/.manifest.json``). With
``TRAIN.RESUME`` (launcher flag ``--resume``) the run continues from the last complete
checkpoint there with the same schedule; on the CPU it ends with the same parameters, to the
bit, as an uninterrupted run if it uses the same thread settings (OMP_NUM_THREADS; other
thread counts change the rounding). A missing or corrupt checkpoint raises CheckpointError
naming the file; a NaN/inf loss raises NonFiniteLossError naming the batch and the metric
(the launcher prints either as one ``error:`` line).
"""
import os

from fcis.config import save_config
from fcis.config.symbol_args import network_args
from fcis.core import metric as fcis_metric
from fcis.core.callback import NonFiniteLossError, TrainingMonitor
from fcis.core.checkpoint import load_training_state
from fcis.core.dist import exit_on_error, rank0_first, worker_log_name
from fcis.core.dist import setup as setup_distributed
from fcis.core.loader import TrainLoader
from fcis.core.minibatch import symbol_feat_shape_fn
from fcis.core.module import fit, reseed
from fcis.core.params import FCISInitializer, fixed_param_names, load_params
from fcis.core.run import OUTPUT_FIX, contexts, load_roidb, train_output_dir
from fcis.core.schedule import scheduler_from_config
from fcis.symbols import TRAIN_OUTPUT_NAMES, get_train_symbol
from lib.dataset.roidb import filter_roidb
from lib.utils.folders import make_folder
from lib.utils.logger import create_logger


def make_train_loader(cfg, symbol, ctx, roidb, shard=(0, 1)):
    """The training DataIter for ``roidb`` with the config's scales, means and anchors.

    shard: (rank, num_workers) of a distributed run (worker ``rank``'s part of every batch).
    """
    rpn_score = symbol.get_internals()['rpn_cls_score_output']
    t = cfg.TRAIN
    return TrainLoader(roidb, feat_shape_fn=symbol_feat_shape_fn(rpn_score), ctx=ctx,
                       scales=cfg.SCALES, pixel_means=cfg.network.PIXEL_MEANS,
                       image_stride=cfg.network.IMAGE_STRIDE,
                       feat_stride=cfg.network.RPN_FEAT_STRIDE,
                       anchor_scales=cfg.network.ANCHOR_SCALES,
                       anchor_ratios=cfg.network.ANCHOR_RATIOS,
                       allowed_border=t.RPN_ALLOWED_BORDER, rpn_batch_size=t.RPN_BATCH_SIZE,
                       rpn_fg_fraction=t.RPN_FG_FRACTION,
                       rpn_positive_overlap=t.RPN_POSITIVE_OVERLAP,
                       rpn_negative_overlap=t.RPN_NEGATIVE_OVERLAP,
                       rpn_clobber_positives=t.RPN_CLOBBER_POSITIVES,
                       rpn_match_zero_overlap=t.RPN_MATCH_ZERO_OVERLAP_GT, shuffle=t.SHUFFLE,
                       aspect_grouping=t.ASPECT_GROUPING, seed=cfg.seed, shard=shard)


def initial_params(cfg, symbol, train_iter, output_dir, logger):
    """(arg_params, aux_params, begin_epoch, optimizer states path, num_update) to start from.

    TRAIN.RESUME: the last complete checkpoint in ``output_dir``; otherwise the pretrained
    file of network.pretrained (trunk) with new layers initialized, or all initialized.
    """
    if cfg.TRAIN.RESUME:
        state = load_training_state(output_dir, cfg.TRAIN.model_prefix)
        logger.info('resuming from epoch %d (%d updates done)', state.epoch, state.num_update)
        return state.arg_params, state.aux_params, state.epoch, state.states_path, state.num_update
    shapes = dict(train_iter.provide_data + train_iter.provide_label)
    arg_params, aux_params = load_params(symbol, shapes, cfg.network.pretrained,
                                         cfg.network.pretrained_epoch, logger,
                                         FCISInitializer(cfg.network.MSRA_INIT_LAYERS))
    return arg_params, aux_params, cfg.TRAIN.begin_epoch, None, None


def train_net(cfg, logger=None):
    """Train with configuration ``cfg`` (fcis.config.load_config); returns the output folder.

    With a dist kvstore (default.kvstore=dist_sync, started by experiments/fcis/launch_dist.py)
    each worker trains on its shard of every batch; only worker 0 writes the config,
    checkpoints, metrics and loss curves (others log to train.worker<rank>.log). A failing
    worker exits at once with status 1 (fcis.core.dist.exit_on_error).
    """
    output_dir = make_folder(train_output_dir(cfg), OUTPUT_FIX)
    dist = setup_distributed(cfg.default.kvstore)  # dist: joins the job (waits for all nodes)
    logger = logger or create_logger(output_dir, filename=worker_log_name('train.log', dist.rank))
    with exit_on_error(dist, logger):
        return _train_net(cfg, dist, output_dir, logger)


def _train_net(cfg, dist, output_dir, logger):
    """train_net after the kvstore and the logger are set up."""
    if dist.rank == 0:
        save_config(cfg, os.path.join(output_dir, 'config.yaml'))
    logger.info('training %s; outputs in %s', cfg.cfg_file or 'defaults', output_dir)
    reseed(cfg.seed, 0)

    ctx = contexts(cfg)
    roidb = rank0_first(dist, lambda: train_roidb(cfg, logger))  # worker 0 generates/caches first

    symbol = get_train_symbol(network_args(cfg, is_train=True))
    train_iter = make_train_loader(cfg, symbol, ctx, roidb, shard=(dist.rank, dist.num_workers))
    arg_params, aux_params, begin_epoch, states, num_update = initial_params(
        cfg, symbol, train_iter, output_dir, logger)
    epoch_size = train_iter.num_batches  # updates per epoch: batches of len(ctx) * workers images
    logger.info('worker %d of %d, %d device(s) each: %d updates per epoch', dist.rank,
                dist.num_workers, len(ctx), epoch_size)
    if begin_epoch >= cfg.TRAIN.end_epoch:
        logger.info('already trained to epoch %d (TRAIN.end_epoch=%d): nothing to do',
                    begin_epoch, cfg.TRAIN.end_epoch)
        return output_dir
    fixed = fixed_param_names(symbol.list_arguments(), cfg.network.FIXED_PARAMS,
                              cfg.network.FIXED_PARAMS_MATCH_SUFFIX)
    monitor = TrainingMonitor(logger, output_dir, cfg.default.frequent,
                              train_iter.batch_size * dist.num_workers, epoch_size, begin_epoch,
                              cfg.TRAIN.end_epoch) if dist.rank == 0 else None
    max_data, max_label = train_iter.max_shapes()
    try:
        fit(symbol, train_iter, ctx, arg_params, aux_params, fixed_param_names=fixed,
            initializer=None, lr=cfg.TRAIN.lr,
            lr_scheduler=scheduler_from_config(cfg.TRAIN, epoch_size),
            momentum=cfg.TRAIN.momentum, wd=cfg.TRAIN.wd, wd_gamma=cfg.TRAIN.WD_GAMMA,
            clip_gradient=cfg.TRAIN.clip_gradient, rescale_grad=1.0, begin_epoch=begin_epoch,
            end_epoch=cfg.TRAIN.end_epoch, epoch_size=epoch_size,
            eval_metric=fcis_metric.get_metrics(TRAIN_OUTPUT_NAMES),
            callbacks=[monitor] if monitor else [],
            checkpoint_dir=output_dir if dist.rank == 0 else None, prefix=cfg.TRAIN.model_prefix,
            kvstore=dist.kvstore, optimizer_states=states, begin_num_update=num_update,
            seed=cfg.seed, max_data_shapes=max_data, max_label_shapes=max_label, logger=logger)
    except NonFiniteLossError as err:
        logger.error('%s', err)   # into train.log too; the launcher prints it as one line
        raise
    finally:
        train_iter.close()
    logger.info('training done%s', '; loss curves in %s' % monitor.png_path if monitor else '')
    return output_dir


def train_roidb(cfg, logger=None):
    """Training roidb of the config: image_set (+ flipped copies if TRAIN.FLIP), filtered; the
    dataset report is logged first (fcis.core.run.load_roidb)."""
    imdb, roidb = load_roidb(cfg, 'train', logger)
    if cfg.TRAIN.FLIP:
        roidb = imdb.append_flipped_images(roidb)
    return filter_roidb(roidb)


__all__ = ['train_net', 'make_train_loader', 'initial_params', 'train_roidb']
