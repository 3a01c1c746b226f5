"""Warmup + multi-factor schedule against an independent per-iteration reference."""
import mxnet as mx
import pytest

from fcis.config import ConfigError, load_config
from fcis.core.schedule import (WarmupLinearScheduler, WarmupMultiFactorScheduler,
                                epochs_to_iters, lr_at, parse_lr_steps, scheduler_from_config)


def reference_lr(k, base_lr, epochs, epoch_size, factor, warmup_lr=None, warmup_step=0):
    """Update number k (1-based): count whole step iterations already completed. Warmup
    covers the updates before number warmup_step (the release: num_update < warmup_step)."""
    if warmup_lr is not None and k < warmup_step:
        return warmup_lr
    lr = base_lr
    for e in epochs:
        last_iter_at_old_lr = int(e * epoch_size)   # updates 1..this keep the old lr
        if k >= last_iter_at_old_lr + 1:
            lr = lr * factor
    return lr


def test_coco_like_schedule_with_warmup():
    epoch_size = 300
    sched = WarmupMultiFactorScheduler.from_epochs('5.33', epoch_size, 5e-4, 0.1,
                                                   warmup=True, warmup_lr=5e-5, warmup_step=250)
    step = int(5.33 * epoch_size)  # 1599
    for k in [1, 2, 249, 250, 251, 1000, step - 1, step, step + 1, step + 2, 8 * epoch_size]:
        expected = reference_lr(k, 5e-4, [5.33], epoch_size, 0.1, 5e-5, 250)
        assert sched(k) == pytest.approx(expected, rel=1e-12), k
    assert sched(249) == 5e-5 and sched(250) == 5e-4
    assert sched(step) == 5e-4 and sched(step + 1) == pytest.approx(5e-5)


def test_two_steps_and_resume_offset():
    epoch_size = 7
    iters = epochs_to_iters(parse_lr_steps('2, 3.5'), epoch_size)
    assert iters == [14, int(3.5 * 7)]
    for k in range(1, 40):
        assert lr_at(k, 0.01, iters, 0.5) == pytest.approx(
            reference_lr(k, 0.01, [2, 3.5], epoch_size, 0.5)), k
    # resuming at begin_epoch 3: the first update of the resumed run is 3*7+1 and the
    # step at epoch 2 is already applied
    assert lr_at(3 * epoch_size + 1, 0.01, iters, 0.5) == pytest.approx(0.005)


def test_optimizer_uses_schedule_with_restored_update_count():
    sched = WarmupMultiFactorScheduler([5], factor=0.1)
    opt = mx.optimizer.SGD(learning_rate=0.2, lr_scheduler=sched, begin_num_update=4)
    weight, grad = mx.nd.ones((2,)), mx.nd.ones((2,))
    state = opt.create_state(0, weight)
    opt.update(0, weight, grad, state)       # update number 5: still base lr
    assert opt.num_update == 5 and sched(opt.num_update) == pytest.approx(0.2)
    assert weight.asnumpy() == pytest.approx([0.8, 0.8])
    opt.update(0, weight, grad, state)       # update number 6: decayed
    assert opt.num_update == 6
    assert weight.asnumpy() == pytest.approx([0.8 - 0.02, 0.8 - 0.02])


def sgd_steps(sched, learning_rate, count):
    """The sizes of ``count`` plain SGD steps (gradient 1) with ``sched`` as the lr_scheduler:
    the learning rate of each update as the optimizer applies it."""
    opt = mx.optimizer.SGD(learning_rate=learning_rate, lr_scheduler=sched)
    weight, grad = mx.nd.zeros((1,)), mx.nd.ones((1,))
    state = opt.create_state(0, weight)
    steps = []
    for _ in range(count):
        before = weight.asscalar()
        opt.update(0, weight, grad, state)
        steps.append(before - weight.asscalar())
    return steps


def test_first_update_at_base_lr_is_update_number_warmup_step():
    """MXNet counts the first update of a run as 1: with warmup_step 3 the updates 1 and 2
    use warmup_lr and the third is the first at base lr (as in the release)."""
    sched = WarmupMultiFactorScheduler([], warmup=True, warmup_lr=0.01, warmup_step=3)
    assert sgd_steps(sched, 0.1, 4) == pytest.approx([0.01, 0.01, 0.1, 0.1], rel=1e-5)


def test_from_config():
    cfg = load_config(None, ['TRAIN.lr_step=14', 'TRAIN.lr=0.001'])
    sched = scheduler_from_config(cfg.TRAIN, 10)
    sched.base_lr = cfg.TRAIN.lr
    assert sched(140) == pytest.approx(0.001) and sched(141) == pytest.approx(0.0001)


def test_bad_steps_are_named():
    with pytest.raises(ValueError, match='lr_step'):
        parse_lr_steps('5,abc')
    with pytest.raises(ValueError, match='increasing'):
        parse_lr_steps('5,3')
    with pytest.raises(ValueError, match='epoch_size'):
        epochs_to_iters([1.0], 0)


def test_linear_policy_hand_computed():
    """10 updates, warmup_step 3: updates 1, 2 warm; 3 .. 10 are 8 updates falling by
    base/8 each: 8/8, 7/8, ..., 1/8 of base."""
    cfg = load_config(None, ['TRAIN.lr_policy=linear', 'TRAIN.lr=0.08', 'TRAIN.end_epoch=2',
                             'TRAIN.warmup=true', 'TRAIN.warmup_lr=0.001',
                             'TRAIN.warmup_step=3'])
    sched = scheduler_from_config(cfg.TRAIN, 5)
    assert isinstance(sched, WarmupLinearScheduler)
    lrs = [sched(k) for k in range(1, 11)]
    assert lrs == pytest.approx([0.001, 0.001, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02,
                                 0.01], rel=1e-12)
    # a resumed run passes the absolute update count: the same lr as without the break
    assert sched(7) == pytest.approx(0.04)


def test_linear_policy_through_the_optimizer():
    """SGD with the schedule as its lr_scheduler takes steps of the scheduled sizes (the
    optimizer overwrites base_lr with its learning_rate)."""
    sched = WarmupLinearScheduler(total_updates=4)
    assert sgd_steps(sched, 0.4, 4) == pytest.approx([0.4, 0.3, 0.2, 0.1], rel=1e-5)


def test_bad_lr_policy_is_named():
    with pytest.raises(ConfigError, match='TRAIN.lr_policy must be one of step, linear'):
        load_config(None, ['TRAIN.lr_policy=cosine'])
    cfg = load_config(None)
    cfg.TRAIN.lr_policy = 'cosine'  # a config changed after loading
    with pytest.raises(ValueError, match='TRAIN.lr_policy'):
        scheduler_from_config(cfg.TRAIN, 10)
    cfg = load_config(None, ['TRAIN.lr_policy=linear', 'TRAIN.end_epoch=1',
                             'TRAIN.warmup=true', 'TRAIN.warmup_step=50'])
    with pytest.raises(ValueError, match='warmup_step'):
        scheduler_from_config(cfg.TRAIN, 10)
