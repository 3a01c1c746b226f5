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

With ``default.LOCAL_WORKERS`` = N > 1 the training runs in N processes of this machine, each
on its own shard of every batch with cores / N threads, summing gradients before every
update (fcis.core.local_workers, fcis.core.local_group): the arithmetic of one process with N
devices. This process is worker 0.
"""
import os
from dataclasses import dataclass, replace
from typing import Any, Dict, Optional

from fcis.config import save_config
from fcis.config.symbol_args import network_args
from fcis.core import metric as fcis_metric
from fcis.core.callback import NonFiniteLossError, TrainingMonitor
from fcis.core.checkpoint import load_training_state
from fcis.core.dist import Distributed, exit_on_error, rank0_first, worker_log_name
from fcis.core.dist import setup as setup_distributed
from fcis.core.fit_args import BindArgs, CheckpointArgs, EpochArgs, FitArgs, OptimArgs
from fcis.core.loader import TrainLoader
from fcis.core.local_group import steps_per_batch
from fcis.core.local_workers import run_local_workers
from fcis.core.loader_args import (AnchorTargetArgs, BatchOrderArgs, TrainImageArgs,
                                   TrainLoaderArgs)
from fcis.core.minibatch import symbol_feat_shape_fn
from fcis.core.module import fit, reseed
from fcis.core.params import FCISInitializer, fixed_param_names, load_params
from fcis.core.run import OUTPUT_FIX, contexts, load_roidb, train_output_dir
from fcis.core.schedule import scheduler_from_config
from fcis.symbols import TRAIN_OUTPUT_NAMES, get_train_symbol
from lib.dataset.roidb import filter_roidb
from lib.utils.folders import make_folder
from lib.utils.image import normalize_scales
from lib.utils.logger import create_logger
from lib.utils.thread_governor import governor_for


def train_loader_args(cfg, shard=(0, 1)):
    """TrainLoaderArgs of the config: SCALES, network.PIXEL_MEANS and IMAGE_STRIDE; anchors of
    network.RPN_FEAT_STRIDE, ANCHOR_SCALES, ANCHOR_RATIOS and TRAIN.RPN_*; TRAIN.SHUFFLE,
    ASPECT_GROUPING, SIZE_GROUPING and cfg.seed; shard: (rank, num_workers) of a distributed run."""
    net, t = cfg.network, cfg.TRAIN
    images = TrainImageArgs(scales=tuple(tuple(pair) for pair in normalize_scales(cfg.SCALES)),
                            pixel_means=tuple(float(m) for m in net.PIXEL_MEANS),
                            image_stride=int(net.IMAGE_STRIDE))
    anchors = AnchorTargetArgs(feat_stride=int(net.RPN_FEAT_STRIDE),
                               scales=tuple(net.ANCHOR_SCALES), ratios=tuple(net.ANCHOR_RATIOS),
                               allowed_border=t.RPN_ALLOWED_BORDER,
                               batch_size=int(t.RPN_BATCH_SIZE),
                               fg_fraction=float(t.RPN_FG_FRACTION),
                               positive_overlap=float(t.RPN_POSITIVE_OVERLAP),
                               negative_overlap=float(t.RPN_NEGATIVE_OVERLAP),
                               clobber_positives=bool(t.RPN_CLOBBER_POSITIVES),
                               match_zero_overlap=bool(t.RPN_MATCH_ZERO_OVERLAP_GT))
    order = BatchOrderArgs(shuffle=bool(t.SHUFFLE), aspect_grouping=bool(t.ASPECT_GROUPING),
                           seed=int(cfg.seed), shard=tuple(shard),
                           size_grouping=bool(t.SIZE_GROUPING))
    return TrainLoaderArgs(images=images, anchors=anchors, order=order).check()


def make_train_loader(cfg, symbol, ctx, roidb, shard=(0, 1)):
    """The training DataIter for ``roidb`` with the config's scales, means and anchors
    (:func:`train_loader_args`).

    shard: (rank, num_workers) of a distributed run (worker ``rank``'s part of every batch).
    """
    rpn_score = symbol.get_internals()['rpn_cls_score_output']
    return TrainLoader(roidb, train_loader_args(cfg, shard), ctx,
                       symbol_feat_shape_fn(rpn_score))


@dataclass(frozen=True)
class TrainStart:
    """Where a run starts: the initial arg/aux parameters ({name: NDArray}), the 0-based
    begin_epoch, and for a resumed run its optimizer states file and update count (None: a
    fresh optimizer, begin_epoch * epoch_size updates)."""
    arg_params: Dict[str, Any]
    aux_params: Dict[str, Any]
    begin_epoch: int = 0
    optimizer_states: Optional[str] = None
    begin_num_update: Optional[int] = None


def initial_params(cfg, symbol, train_iter, output_dir, logger):
    """The TrainStart of the run.

    TRAIN.RESUME: the last complete checkpoint in ``output_dir``; otherwise the pretrained
    file of network.pretrained (trunk) with new layers initialized, or all initialized,
    from TRAIN.begin_epoch.
    """
    if cfg.TRAIN.RESUME:
        state = load_training_state(output_dir, cfg.TRAIN.model_prefix)
        logger.info('resuming from epoch %d (%d updates done)', state.epoch, state.num_update)
        return TrainStart(state.arg_params, state.aux_params, state.epoch, state.states_path,
                          state.num_update)
    shapes = dict(train_iter.provide_data + train_iter.provide_label)
    arg_params, aux_params = load_params(symbol, shapes, cfg.network.pretrained,
                                         cfg.network.pretrained_epoch, logger,
                                         FCISInitializer(cfg.network.MSRA_INIT_LAYERS))
    return TrainStart(arg_params, aux_params, cfg.TRAIN.begin_epoch)


def fit_args_from_config(cfg, symbol, train_iter, start):
    """FitArgs of the config for training ``symbol`` on ``train_iter`` from ``start``.

    train_iter: its num_batches is the epoch size (updates per epoch) and its max_shapes()
    the shapes the Module is bound to. FCISSGD with TRAIN.lr, its schedule
    (TRAIN.lr_step, lr_factor, warmup*), TRAIN.momentum, wd, WD_GAMMA and clip_gradient;
    epochs start.begin_epoch to TRAIN.end_epoch seeded by cfg.seed; network.FIXED_PARAMS
    not trained; kvstore default.kvstore; no checkpoint folder (CheckpointArgs.directory
    None), prefix TRAIN.model_prefix, start's optimizer states restored.
    """
    t = cfg.TRAIN
    epoch_size = int(train_iter.num_batches)
    updates = epoch_size * local_updates_per_batch(cfg)   # optimizer steps per epoch
    max_data, max_label = train_iter.max_shapes()
    fixed = fixed_param_names(symbol.list_arguments(), cfg.network.FIXED_PARAMS,
                              cfg.network.FIXED_PARAMS_MATCH_SUFFIX)
    return FitArgs(
        optim=OptimArgs(lr=float(t.lr), lr_scheduler=scheduler_from_config(t, updates),
                        momentum=float(t.momentum), wd=float(t.wd), wd_gamma=bool(t.WD_GAMMA),
                        clip_gradient=float(t.clip_gradient), rescale_grad=1.0),
        epochs=EpochArgs(begin_epoch=int(start.begin_epoch), end_epoch=int(t.end_epoch),
                         epoch_size=epoch_size, begin_num_update=start.begin_num_update,
                         seed=int(cfg.seed)),
        checkpoint=CheckpointArgs(directory=None, prefix=str(t.model_prefix),
                                  optimizer_states=start.optimizer_states),
        bind=BindArgs(fixed_param_names=tuple(fixed), max_data_shapes=tuple(max_data),
                      max_label_shapes=tuple(max_label)),
        kvstore=cfg.default.kvstore).check()


def train_net(cfg, logger=None):
    """Train with configuration ``cfg`` (fcis.config.load_config); returns the output folder.

    With a dist kvstore (default.kvstore=dist_sync, started by
    experiments/fcis/tools/launch_dist.py) each worker trains on its shard of every batch; only
    worker 0 writes the config, checkpoints, metrics and loss curves (others log to
    train.worker<rank>.log). A failing worker exits at once with status 1
    (fcis.core.dist.exit_on_error).
    """
    output_dir = make_folder(train_output_dir(cfg), OUTPUT_FIX)
    if int(cfg.default.LOCAL_WORKERS) > 1:
        logger = logger or create_logger(output_dir)
        run_local_workers(train_local_worker, cfg, int(cfg.default.LOCAL_WORKERS), logger)
        return output_dir
    dist = setup_distributed(cfg.default.kvstore)  # dist: joins the job (waits for all nodes)
    logger = logger or create_logger(output_dir, filename=worker_log_name('train.log', dist.rank))
    with exit_on_error(dist, logger):
        return _train_net(cfg, dist, output_dir, logger)


def local_updates_per_batch(cfg):
    """Optimizer steps per batch of the config (fcis.core.local_group.steps_per_batch)."""
    return steps_per_batch(cfg.default.LOCAL_WORKERS, cfg.default.LOCAL_UPDATE)


def train_local_worker(cfg, group):
    """Worker ``group.rank`` of a ``default.LOCAL_WORKERS`` run (``group``: a
    fcis.core.local_group.LocalGroup); only worker 0 logs to the console."""
    output_dir = train_output_dir(cfg)
    logger = create_logger(output_dir, filename=worker_log_name('train.log', group.rank),
                           console=group.rank == 0)
    return _train_net(cfg, Distributed(group, group.rank, group.num_workers), output_dir, logger)


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
    start = initial_params(cfg, symbol, train_iter, output_dir, logger)
    epoch_size = train_iter.num_batches  # batches per epoch, of len(ctx) * workers images
    logger.info('worker %d of %d, %d device(s) each: %d batches, %d updates per epoch',
                dist.rank, dist.num_workers, len(ctx), epoch_size,
                epoch_size * local_updates_per_batch(cfg))
    if start.begin_epoch >= cfg.TRAIN.end_epoch:
        logger.info('already trained to epoch %d (TRAIN.end_epoch=%d): nothing to do',
                    start.begin_epoch, cfg.TRAIN.end_epoch)
        return output_dir
    args = fit_args_from_config(cfg, symbol, train_iter, start)
    args = replace(args, kvstore=dist.kvstore, checkpoint=replace(
        args.checkpoint, directory=output_dir if dist.rank == 0 else None))
    monitor = TrainingMonitor(logger, output_dir, cfg.default.frequent,
                              train_iter.batch_size * dist.num_workers, epoch_size,
                              start.begin_epoch, cfg.TRAIN.end_epoch) if dist.rank == 0 else None
    governor = governor_for(cfg.default.ADAPT_THREADS)
    try:
        fit(symbol, train_iter, ctx, start.arg_params, start.aux_params, args=args,
            eval_metric=fcis_metric.get_metrics(TRAIN_OUTPUT_NAMES),
            callbacks=[governor] + ([monitor] if monitor else []), logger=logger,
            run_ops=governor.run)
    except NonFiniteLossError as err:
        logger.error('%s', err)   # into train.log too; the launcher prints it as one line
        raise
    finally:
        train_iter.close()
        governor.close()
    logger.info('training done%s', '; loss curves in %s' % monitor.png_path if monitor else '')
    return output_dir


def train_roidb(cfg, logger=None):
    """Training roidb of the config: image_set (+ flipped copies if TRAIN.FLIP), filtered; the
    dataset report is logged first (fcis.core.run.load_roidb)."""
    imdb, roidb = load_roidb(cfg, 'train', logger)
    if cfg.TRAIN.FLIP:
        roidb = imdb.append_flipped_images(roidb)
    return filter_roidb(roidb)


__all__ = ['train_net', 'train_local_worker', 'make_train_loader', 'train_loader_args',
           'initial_params', 'fit_args_from_config', 'TrainStart', 'train_roidb']
