"""Learning-rate schedule: constant warmup, then multi-factor steps given in epochs
(``TRAIN.lr_policy: step``, the release's rule) or a linear decay over the whole run
(``TRAIN.lr_policy: linear``).

Counting convention (MXNet's): ``num_update`` is the 1-based index of the update being
made, i.e. the optimizer passes 1 for the first batch of the run, 2 for the second, ...
The count is absolute over the whole run: a resumed run restores it from the checkpoint,
so steps that happened before ``begin_epoch`` are already applied and the warmup is not
repeated.

With ``epoch_size`` batches per epoch, ``lr_step='5.33'`` becomes the step iteration
``int(5.33 * epoch_size)``; the learning rate is

    warmup_lr                                  if warmup and num_update < warmup_step
    base_lr * factor ** #{s in step_iters : num_update > s}   otherwise

so ``warmup_step=250`` warms the updates 1 .. 249 and update 250 is the first at base_lr
(the original release's rule), and with ``lr_step='14'`` the updates 1 .. 14*epoch_size
(the first 14 epochs) use base_lr.

The linear policy over ``total`` updates (end_epoch x epoch_size) keeps the warmup and then
falls by the same amount each update, from base_lr at the first update after the warmup
(``first`` = warmup_step with warmup, else 1) to base_lr / (total - first + 1) at the last:

    base_lr * (total - num_update + 1) / (total - first + 1)    for first <= num_update
"""
import mxnet as mx

from fcis.config.config import LR_POLICIES


def parse_lr_steps(lr_step):
    """'5.33' / '14,20' / '' / [14, 20] -> sorted list of float epochs.

    Raises ValueError naming the value when it is not a comma list of increasing numbers.
    """
    if isinstance(lr_step, (int, float)):
        epochs = [float(lr_step)]
    elif isinstance(lr_step, str):
        parts = [p.strip() for p in lr_step.split(',') if p.strip()]
        try:
            epochs = [float(p) for p in parts]
        except ValueError:
            raise ValueError("TRAIN.lr_step=%r must be a comma list of epochs such as '5.33' "
                             "or '14,20'" % (lr_step,))
    else:
        epochs = [float(e) for e in lr_step]
    if any(e < 0 for e in epochs) or epochs != sorted(epochs):
        raise ValueError('TRAIN.lr_step=%r must list non-negative epochs in increasing order'
                         % (lr_step,))
    return epochs


def epochs_to_iters(epochs, epoch_size):
    """Step epochs -> step iterations ``int(epoch * epoch_size)`` (epoch_size: batches/epoch)."""
    if epoch_size <= 0:
        raise ValueError('epoch_size (batches per epoch) must be positive, got %r' % epoch_size)
    return [int(e * epoch_size) for e in epochs]


def lr_at(num_update, base_lr, step_iters, factor, warmup=False, warmup_lr=0.0, warmup_step=0):
    """Learning rate of update number ``num_update`` (1-based, absolute over the run)."""
    if warmup and num_update < warmup_step:
        return warmup_lr
    passed = sum(1 for s in step_iters if num_update > s)
    return base_lr * factor ** passed


class WarmupMultiFactorScheduler(mx.lr_scheduler.LRScheduler):
    """MXNet LRScheduler implementing :func:`lr_at`.

    ``base_lr`` is overwritten by the optimizer with its ``learning_rate``, so it is read at
    each call, never cached.
    """

    def __init__(self, step_iters, factor=0.1, warmup=False, warmup_lr=0.0, warmup_step=0,
                 base_lr=0.01):
        super(WarmupMultiFactorScheduler, self).__init__(base_lr=base_lr)
        step_iters = [int(s) for s in step_iters]
        if any(b <= a for a, b in zip(step_iters, step_iters[1:])):
            raise ValueError('lr step iterations %s must be strictly increasing (two lr_step '
                             'epochs fall in the same iteration; use fewer steps)' % step_iters)
        if not 0 < factor <= 1:
            raise ValueError('TRAIN.lr_factor=%r must be in (0, 1]' % (factor,))
        if warmup and warmup_step < 0:
            raise ValueError('TRAIN.warmup_step=%r must be >= 0' % (warmup_step,))
        self.step_iters = step_iters
        self.factor = factor
        self.warmup = bool(warmup)
        self.warmup_lr = warmup_lr
        self.warmup_step = int(warmup_step)

    @classmethod
    def from_epochs(cls, lr_step, epoch_size, base_lr, factor=0.1, warmup=False,
                    warmup_lr=0.0, warmup_step=0):
        """Build from a comma list of step epochs and the number of batches per epoch."""
        iters = epochs_to_iters(parse_lr_steps(lr_step), epoch_size)
        return cls(iters, factor, warmup, warmup_lr, warmup_step, base_lr)

    def __call__(self, num_update):
        return lr_at(num_update, self.base_lr, self.step_iters, self.factor,
                     self.warmup, self.warmup_lr, self.warmup_step)


class WarmupLinearScheduler(mx.lr_scheduler.LRScheduler):
    """MXNet LRScheduler: the warmup of :func:`lr_at`, then a linear decay that reaches
    base_lr / (total_updates - first + 1) at update ``total_updates`` (module docstring)."""

    def __init__(self, total_updates, warmup=False, warmup_lr=0.0, warmup_step=0,
                 base_lr=0.01):
        super(WarmupLinearScheduler, self).__init__(base_lr=base_lr)
        self.warmup = bool(warmup)
        self.warmup_lr = warmup_lr
        self.first = max(int(warmup_step), 1) if self.warmup else 1
        self.total_updates = int(total_updates)
        if self.total_updates < self.first:
            raise ValueError('the linear lr policy needs more updates (%d: TRAIN.end_epoch x '
                             'batches per epoch) than the warmup (TRAIN.warmup_step=%d)'
                             % (self.total_updates, warmup_step))

    def __call__(self, num_update):
        if self.warmup and num_update < self.first:
            return self.warmup_lr
        left = max(self.total_updates - num_update + 1, 1)
        return self.base_lr * left / (self.total_updates - self.first + 1)


def scheduler_from_config(train_cfg, epoch_size):
    """Scheduler from ``config.TRAIN`` (lr, lr_policy, lr_step, lr_factor, warmup*,
    end_epoch) and batches/epoch."""
    policy = str(train_cfg.get('lr_policy', 'step'))
    if policy not in LR_POLICIES:
        raise ValueError('TRAIN.lr_policy=%r must be one of %s' % (policy, ', '.join(LR_POLICIES)))
    if policy == 'linear':
        return WarmupLinearScheduler(int(train_cfg.end_epoch) * int(epoch_size),
                                     train_cfg.warmup, train_cfg.warmup_lr,
                                     train_cfg.warmup_step, train_cfg.lr)
    return WarmupMultiFactorScheduler.from_epochs(
        train_cfg.lr_step, epoch_size, train_cfg.lr, train_cfg.lr_factor,
        train_cfg.warmup, train_cfg.warmup_lr, train_cfg.warmup_step)
