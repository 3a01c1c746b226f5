"""Plain arguments of the training loop (``fcis.core.module.fit``).

``fcis.train_end2end.fit_args_from_config(cfg, symbol, train_iter, start)`` is the one
translation from a configuration; tests and tools may also build them by hand:

    fit(symbol, train_iter, [mx.cpu()], arg_params, aux_params,
        FitArgs(optim=OptimArgs(lr=0.05), epochs=EpochArgs(end_epoch=2, seed=7)))
"""
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple


@dataclass(frozen=True)
class OptimArgs:
    """The SGD step (``fcis.core.optimizer.FCISSGD``).

    lr: base learning rate; lr_scheduler: mx.lr_scheduler.LRScheduler called with the
    absolute update count (e.g. schedule.WarmupMultiFactorScheduler), or None for a constant
    lr. wd_gamma: decay ``*_gamma`` as well as ``*_weight``. clip_gradient: 0 = off.
    rescale_grad: factor on the gradients summed over devices.
    """
    lr: float = 0.0005
    lr_scheduler: Any = None
    momentum: float = 0.9
    wd: float = 0.0005
    wd_gamma: bool = True
    clip_gradient: float = 0.0
    rescale_grad: float = 1.0

    def lr_at(self, num_update):
        """Learning rate after ``num_update`` updates."""
        return self.lr_scheduler(num_update) if self.lr_scheduler is not None else self.lr

    def optimizer_params(self, begin_num_update):
        """FCISSGD's keyword arguments, its update count starting at ``begin_num_update``."""
        return {'learning_rate': self.lr, 'momentum': self.momentum, 'wd': self.wd,
                'decay_gamma': self.wd_gamma, 'rescale_grad': self.rescale_grad,
                'clip_gradient': self.clip_gradient if self.clip_gradient else None,
                'lr_scheduler': self.lr_scheduler, 'begin_num_update': begin_num_update}

    def check(self):
        """Raise ValueError naming the argument that SGD cannot use."""
        if not self.lr >= 0:
            raise ValueError('fit(): lr (TRAIN.lr) must be >= 0, got %r' % (self.lr,))
        if not 0 <= self.momentum < 1:
            raise ValueError('fit(): momentum (TRAIN.momentum) must be in [0, 1), got %r'
                             % (self.momentum,))
        if not self.wd >= 0:
            raise ValueError('fit(): wd (TRAIN.wd) must be >= 0, got %r' % (self.wd,))
        if not self.clip_gradient >= 0:
            raise ValueError('fit(): clip_gradient (TRAIN.clip_gradient) must be >= 0 (0 = off), '
                             'got %r' % (self.clip_gradient,))
        if not self.rescale_grad > 0:
            raise ValueError('fit(): rescale_grad must be > 0, got %r' % (self.rescale_grad,))
        return self


@dataclass(frozen=True)
class EpochArgs:
    """Which epochs run and how they are numbered and seeded.

    begin_epoch, end_epoch: 0-based epoch range [begin, end); the checkpoint after epoch e
    is e + 1. epoch_size: batches per epoch (None: len(train_iter) or
    train_iter.num_batches). begin_num_update: updates done before begin_epoch (None:
    begin_epoch * epoch_size). seed: run seed; epoch e reseeds every generator from (seed, e).
    """
    begin_epoch: int = 0
    end_epoch: int = 1
    epoch_size: Optional[int] = None
    begin_num_update: Optional[int] = None
    seed: int = 3

    def check(self):
        """Raise ValueError naming the argument of an impossible epoch range."""
        if self.begin_epoch < 0 or self.end_epoch < self.begin_epoch:
            raise ValueError('fit(): epochs [begin_epoch, end_epoch) = [%r, %r) is no range '
                             '(need 0 <= begin_epoch <= end_epoch; TRAIN.begin_epoch, '
                             'TRAIN.end_epoch)' % (self.begin_epoch, self.end_epoch))
        if self.epoch_size is not None and self.epoch_size < 1:
            raise ValueError('fit(): epoch_size must be >= 1 batch, got %r' % (self.epoch_size,))
        if self.begin_num_update is not None and self.begin_num_update < 0:
            raise ValueError('fit(): begin_num_update must be >= 0, got %r'
                             % (self.begin_num_update,))
        return self


@dataclass(frozen=True)
class CheckpointArgs:
    """Where the checkpoint of every epoch goes and what a resumed run restores.

    directory: folder of the checkpoints (None: none written); prefix: their file prefix
    (TRAIN.model_prefix); optimizer_states: path of a saved optimizer states file to restore.
    """
    directory: Optional[str] = None
    prefix: str = 'e2e'
    optimizer_states: Optional[str] = None

    def check(self):
        """Raise ValueError when the prefix cannot name a file."""
        if not isinstance(self.prefix, str) or not self.prefix or '/' in self.prefix:
            raise ValueError("fit(): checkpoint prefix (TRAIN.model_prefix) must be a file name "
                             "without '/', got %r" % (self.prefix,))
        return self


@dataclass(frozen=True)
class BindArgs:
    """How the training Module is bound.

    fixed_param_names: parameters not trained (grad_req 'null');
    fcis.core.params.fixed_param_names. max_data_shapes, max_label_shapes: [(name, shape)]
    to bind once to the largest shapes so the modules of other shapes reuse its memory
    (None: bind to the first batch).
    """
    fixed_param_names: Tuple[str, ...] = ()
    max_data_shapes: Optional[Tuple[Tuple[str, Tuple[int, ...]], ...]] = None
    max_label_shapes: Optional[Tuple[Tuple[str, Tuple[int, ...]], ...]] = None


@dataclass(frozen=True)
class FitArgs:
    """Everything ``fit`` needs besides the symbol, the data, the devices and the values.

    kvstore: 'device', 'local', 'dist_sync', ... or an mx.kv.KVStore (fcis.core.dist.setup)
    (single device, not dist: no kvstore).
    """
    optim: OptimArgs = field(default_factory=OptimArgs)
    epochs: EpochArgs = field(default_factory=EpochArgs)
    checkpoint: CheckpointArgs = field(default_factory=CheckpointArgs)
    bind: BindArgs = field(default_factory=BindArgs)
    kvstore: Any = 'device'

    def check(self):
        """Raise ValueError naming the first argument ``fit`` cannot use."""
        self.optim.check()
        self.epochs.check()
        self.checkpoint.check()
        return self
