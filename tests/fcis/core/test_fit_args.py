"""fit's arguments: the checks name the bad argument, and fit_args_from_config carries each
config key to its field (values written out by hand)."""
import os

import mxnet as mx
import pytest

from fcis.config import load_config
from fcis.core.fit_args import BindArgs, CheckpointArgs, EpochArgs, FitArgs, OptimArgs
from fcis.core.module import fit
from fcis.train_end2end import TrainStart, fit_args_from_config

SHAPES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis', 'cfgs',
                      'shapes_fcis_end2end.yaml')


@pytest.mark.parametrize('args, name', [
    (OptimArgs(lr=-0.1), 'lr'), (OptimArgs(momentum=1.0), 'momentum'),
    (OptimArgs(wd=-1e-4), 'wd'), (OptimArgs(clip_gradient=-1), 'clip_gradient'),
    (OptimArgs(rescale_grad=0.0), 'rescale_grad'),
    (EpochArgs(begin_epoch=3, end_epoch=2), 'begin_epoch'),
    (EpochArgs(begin_epoch=-1), 'begin_epoch'), (EpochArgs(epoch_size=0), 'epoch_size'),
    (EpochArgs(begin_num_update=-5), 'begin_num_update'),
    (CheckpointArgs(prefix=''), 'prefix'), (CheckpointArgs(prefix='a/b'), 'prefix'),
])
def test_check_names_the_bad_argument(args, name):
    with pytest.raises(ValueError, match=name):
        args.check()


def test_fit_refuses_bad_arguments_before_binding():
    class NoData(mx.io.DataIter):
        """An iterator fit must not touch."""
        @property
        def provide_data(self):
            raise AssertionError('fit bound a module with bad arguments')

    with pytest.raises(ValueError, match='momentum'):
        fit(mx.sym.Variable('data'), NoData(), [mx.cpu()],
            args=FitArgs(optim=OptimArgs(momentum=-0.5)))


def test_optimizer_params_and_scheduled_lr():
    plain = OptimArgs(lr=0.1, momentum=0.8, wd=0.01, wd_gamma=False, rescale_grad=0.5)
    assert plain.optimizer_params(12) == {
        'learning_rate': 0.1, 'momentum': 0.8, 'wd': 0.01, 'decay_gamma': False,
        'rescale_grad': 0.5, 'clip_gradient': None, 'lr_scheduler': None,
        'begin_num_update': 12}
    assert plain.lr_at(1000) == 0.1
    clipped = OptimArgs(clip_gradient=5.0, lr_scheduler=lambda n: 1.0 / n)
    assert clipped.optimizer_params(0)['clip_gradient'] == 5.0
    assert clipped.lr_at(4) == 0.25


class FakeLoader(object):
    """What fit_args_from_config reads of a TrainLoader."""
    num_batches = 10

    def max_shapes(self):
        return [('data', (1, 3, 64, 96))], [('label', (1, 54))]


def test_fit_args_from_config_carries_every_key():
    cfg = load_config(SHAPES, [
        'TRAIN.lr=0.01', 'TRAIN.lr_step=2', 'TRAIN.lr_factor=0.5', 'TRAIN.warmup=true',
        'TRAIN.warmup_lr=0.001', 'TRAIN.warmup_step=5', 'TRAIN.momentum=0.8',
        'TRAIN.wd=0.002', 'TRAIN.WD_GAMMA=true', 'TRAIN.clip_gradient=5', 'TRAIN.end_epoch=4',
        'TRAIN.model_prefix=tiny', 'seed=11', 'network.FIXED_PARAMS=[conv1, bn2]',
        'default.LOCAL_WORKERS=1'])
    symbol = mx.sym.Group([mx.sym.Variable(n) for n in (
        'data', 'conv1_weight', 'bn2a_gamma', 'res2a_branch1_weight', 'rpn_conv_3x3_weight')])
    start = TrainStart({}, {}, begin_epoch=1, optimizer_states='e2e-0001.states',
                       begin_num_update=10)
    args = fit_args_from_config(cfg, symbol, FakeLoader(), start)
    optim = args.optim
    assert (optim.lr, optim.momentum, optim.wd, optim.wd_gamma, optim.clip_gradient,
            optim.rescale_grad) == (0.01, 0.8, 0.002, True, 5.0, 1.0)
    # warmup: updates 1..4 at 0.001; lr_step 2 epochs of 10 batches: 5..20 at 0.01, then 0.005
    assert [optim.lr_at(k) for k in (1, 4, 5, 20, 21)] == pytest.approx(
        [0.001, 0.001, 0.01, 0.01, 0.005])
    assert args.epochs == EpochArgs(begin_epoch=1, end_epoch=4, epoch_size=10,
                                    begin_num_update=10, seed=11)
    assert args.checkpoint == CheckpointArgs(None, 'tiny', 'e2e-0001.states')
    assert args.bind == BindArgs(('conv1_weight', 'bn2a_gamma'), (('data', (1, 3, 64, 96)),),
                                 (('label', (1, 54)),))
    assert args.kvstore == 'device'


def test_each_worker_step_counts_in_the_schedule():
    """LOCAL_UPDATE each: two optimizer steps per batch of two workers, so the epochs of
    TRAIN.lr_step are twice the batches in updates."""
    overrides = ['TRAIN.lr=0.01', 'TRAIN.lr_step=2', 'TRAIN.lr_factor=0.5', 'TRAIN.warmup=false']
    symbol = mx.sym.Group([mx.sym.Variable('data')])
    start = TrainStart({}, {}, begin_epoch=0)
    for update, step in (('each', 40), ('sum', 20)):       # 10 batches an epoch
        cfg = load_config(SHAPES, overrides + ['default.LOCAL_WORKERS=2',
                                               'default.LOCAL_UPDATE=' + update])
        optim = fit_args_from_config(cfg, symbol, FakeLoader(), start).optim
        assert [optim.lr_at(k) for k in (step, step + 1)] == pytest.approx([0.01, 0.005]), update
