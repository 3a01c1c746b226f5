"""fit() on a tiny conv net with batches of varying shapes: learning, optimizer settings,
exact resume, NaN stop."""
import pickle
import threading

import mxnet as mx
import numpy as np
import pytest

from fcis.core.callback import NonFiniteLossError, TrainingMonitor, read_metrics
from fcis.core.checkpoint import load_training_state
from fcis.core.fit_args import BindArgs, CheckpointArgs, EpochArgs, FitArgs, OptimArgs
from fcis.core.module import fit, reseed
from fcis.core.params import fixed_param_names
from fcis.core.schedule import WarmupMultiFactorScheduler
from lib.utils.checkpoint import checkpoint_paths, find_last_checkpoint
from lib.utils.logger import create_logger
from lib.utils.thread_governor import OperatorThread
from lib.utils.threads import omp_threads

SIZES = [(8, 8), (8, 12), (12, 8), (10, 10)]


def tiny_symbol():
    """conv1 3x3 -> frozen-stat BN -> ReLU -> conv_new_1 1x1 (lr_mult 3) -> avg -> softmax."""
    data, label = mx.sym.Variable('data'), mx.sym.Variable('label')
    x = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name='conv1')  # (B,4,H,W)
    x = mx.sym.BatchNorm(x, fix_gamma=False, use_global_stats=True, name='bn1')
    x = mx.sym.Activation(x, act_type='relu')
    w = mx.sym.Variable('conv_new_1_weight', lr_mult=3)
    x = mx.sym.Convolution(x, weight=w, num_filter=2, kernel=(1, 1), name='conv_new_1')  # (B,2,H,W)
    x = mx.sym.Pooling(x, global_pool=True, pool_type='avg', kernel=(1, 1))             # (B,2,1,1)
    x = mx.sym.Flatten(x)                                                                # (B,2)
    return mx.sym.SoftmaxOutput(x, label, name='softmax')


def initial_params(seed=0):
    rng = np.random.RandomState(seed)
    arg = {'conv1_weight': rng.randn(4, 3, 3, 3) * 0.3, 'conv1_bias': rng.randn(4) * 0.1,
           'bn1_gamma': 1 + rng.randn(4) * 0.1, 'bn1_beta': rng.randn(4) * 0.1,
           'conv_new_1_weight': rng.randn(2, 4, 1, 1) * 0.3, 'conv_new_1_bias': np.zeros(2)}
    aux = {'bn1_moving_mean': rng.randn(4) * 0.1, 'bn1_moving_var': 1 + rng.rand(4)}
    def to_nd(d):
        return {k: mx.nd.array(v) for k, v in d.items()}
    return to_nd(arg), to_nd(aux)


class RandomShapeIter(mx.io.DataIter):
    """Batches (B, 3, H, W) with (H, W) drawn per batch; class 1 images are brighter in
    channel 0. All randomness is drawn from np.random in reset() (fit reseeds it first).
    nan_at=(epoch, batch): that batch (1-based) overflows (1e38 pixels -> inf - inf = NaN;
    a NaN pixel is not enough: MKLDNN's fused ReLU maps NaN to 0)."""

    def __init__(self, num_batches=6, batch_size=4, nan_at=None):
        super(RandomShapeIter, self).__init__(batch_size)
        self.num_batches, self.nan_at, self.epoch = num_batches, nan_at, -1
        self.shapes_seen = set()
        self.reset()

    def __len__(self):
        return self.num_batches

    def reset(self):
        self.epoch += 1
        self.cursor = 0
        self.plan = [(SIZES[np.random.randint(len(SIZES))], np.random.randint(2 ** 31 - 1))
                     for _ in range(self.num_batches)]

    def set_epoch(self, epoch):
        self.reset()
        self.epoch = epoch

    def _arrays(self, index):
        (h, w), seed = self.plan[index]
        rng = np.random.RandomState(seed)
        label = rng.randint(0, 2, size=self.batch_size)
        data = rng.randn(self.batch_size, 3, h, w)                           # (B, 3, H, W)
        data[:, 0] += 0.3 * (2 * label - 1)[:, None, None]
        if self.nan_at == (self.epoch, index + 1):
            data[0] = 1e38
        return data, label

    @property
    def provide_data(self):
        (h, w), _ = self.plan[min(self.cursor, self.num_batches - 1)]
        return [mx.io.DataDesc('data', (self.batch_size, 3, h, w))]

    @property
    def provide_label(self):
        return [mx.io.DataDesc('label', (self.batch_size,))]

    def next(self):
        if self.cursor >= self.num_batches:
            raise StopIteration
        data, label = self._arrays(self.cursor)
        self.cursor += 1
        self.shapes_seen.add(data.shape)
        return mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)],
                               provide_data=[mx.io.DataDesc('data', data.shape)],
                               provide_label=[mx.io.DataDesc('label', label.shape)])


def run(tmp_dir, begin_epoch, end_epoch, contexts=1, arg=None, aux=None, train_iter=None,
        callbacks=(), optimizer_states=None, begin_num_update=None, bind=BindArgs(),
        run_ops=None):
    if arg is None:
        arg, aux = initial_params()
    it = train_iter or RandomShapeIter()
    sched = WarmupMultiFactorScheduler.from_epochs('1.5', len(it), 0.05, 0.1)
    ctx = [mx.cpu(i) for i in range(contexts)]
    args = FitArgs(optim=OptimArgs(lr=0.05, lr_scheduler=sched, momentum=0.9, wd=0.001),
                   epochs=EpochArgs(begin_epoch, end_epoch, begin_num_update=begin_num_update,
                                    seed=7),
                   checkpoint=CheckpointArgs(tmp_dir, 'tiny', optimizer_states), bind=bind)
    module = fit(tiny_symbol(), it, ctx, arg, aux, args, eval_metric=mx.metric.CrossEntropy(),
                 callbacks=callbacks, run_ops=run_ops)
    return module, it


def params_of(module):
    arg, aux = module.get_params()
    out = {k: v.asnumpy() for k, v in arg.items()}
    out.update({'aux:' + k: v.asnumpy() for k, v in aux.items()})
    return out


def momentum_of(states_path):
    with open(states_path, 'rb') as f:
        states = pickle.loads(f.read())
    return {k: v.asnumpy() for k, v in states.items() if v is not None}


def mean_epoch_loss(module, it, epoch):
    """Cross-entropy of the epoch's batches under the module's current parameters."""
    reseed(7, epoch)
    it.set_epoch(epoch)
    metric = mx.metric.CrossEntropy()
    for batch in it:
        module.reshape(batch.provide_data, batch.provide_label)
        module.forward(batch, is_train=False)
        module.update_metric(metric, batch.label)
    return metric.get()[1]


def test_training_lowers_the_loss_over_varying_shapes(tmp_path):
    arg, aux = initial_params()
    module, it = run(None, 0, 4, arg=arg, aux=aux)
    assert len(it.shapes_seen) >= 3                    # the module was reshaped for each
    trained = mean_epoch_loss(module, it, 9)           # batches of an epoch never trained on
    before, _ = run(None, 0, 0, arg=initial_params()[0], aux=initial_params()[1])
    untrained = mean_epoch_loss(before, RandomShapeIter(), 9)
    assert untrained > 0.6 and trained < 0.5 * untrained, (trained, untrained)


@pytest.mark.parametrize('wd_gamma', [True, False])
def test_one_step_honors_lr_mult_wd_fixed_and_sums_device_gradients(wd_gamma):
    arg0, aux0 = initial_params(1)
    it = RandomShapeIter(num_batches=1, batch_size=4)
    reseed(7, 0)
    it.set_epoch(0)
    batch = it.next()
    # reference gradient of the whole batch on one executor
    exe = tiny_symbol().simple_bind(mx.cpu(), grad_req='write', data=batch.data[0].shape,
                                    label=(4,))
    for k, v in arg0.items():
        v.copyto(exe.arg_dict[k])
    for k, v in aux0.items():
        v.copyto(exe.aux_dict[k])
    exe.arg_dict['data'][:] = batch.data[0]
    exe.arg_dict['label'][:] = batch.label[0]
    exe.forward(is_train=True)
    exe.backward()
    grads = {k: exe.grad_dict[k].asnumpy() for k in arg0}
    fixed = fixed_param_names(list(arg0), ['conv1_bias'])
    assert fixed == ['conv1_bias']
    module = fit(tiny_symbol(), RandomShapeIter(num_batches=1, batch_size=4),
                 [mx.cpu(0), mx.cpu(1)], arg0, aux0, FitArgs(
                     optim=OptimArgs(lr=0.1, momentum=0.9, wd=0.01, wd_gamma=wd_gamma),
                     epochs=EpochArgs(end_epoch=1, seed=7),
                     bind=BindArgs(fixed_param_names=tuple(fixed))))
    new = params_of(module)
    lr_mult = {'conv_new_1_weight': 3.0}
    for name, w0 in arg0.items():
        w0 = w0.asnumpy()
        if name in fixed:
            np.testing.assert_array_equal(new[name], w0)
            continue
        decayed = ('_weight', '_gamma') if wd_gamma else ('_weight',)
        wd = 0.01 if name.endswith(decayed) else 0.0    # never on biases and beta
        expected = w0 - 0.1 * lr_mult.get(name, 1.0) * (grads[name] + wd * w0)
        np.testing.assert_allclose(new[name], expected, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize('contexts', [1, 2])
def test_resume_matches_uninterrupted_run(tmp_path, contexts):
    full_dir, part_dir = str(tmp_path / 'full'), str(tmp_path / 'part')
    full, _ = run(full_dir, 0, 2, contexts)
    run(part_dir, 0, 1, contexts)                       # "killed" after its first checkpoint
    state = load_training_state(part_dir, 'tiny')
    assert state.epoch == 1 and state.num_update == 6 and state.seed == 7
    resumed, _ = run(part_dir, state.epoch, 2, contexts, state.arg_params, state.aux_params,
                     optimizer_states=state.states_path, begin_num_update=state.num_update)
    a, b = params_of(full), params_of(resumed)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-5, err_msg=k)
    ma = momentum_of(checkpoint_paths(full_dir, 'tiny', 2)['states'])
    mb = momentum_of(checkpoint_paths(part_dir, 'tiny', 2)['states'])
    assert sorted(ma) == sorted(mb) and len(ma) == 6
    for k in ma:
        np.testing.assert_allclose(mb[k], ma[k], rtol=0, atol=1e-5)
    # controls: without the momentum state, or with the update count lost, the runs differ
    no_mom, _ = run(None, 1, 2, contexts, state.arg_params, state.aux_params)
    assert max(np.abs(params_of(no_mom)[k] - a[k]).max() for k in a) > 1e-4
    no_count, _ = run(None, 1, 2, contexts, state.arg_params, state.aux_params,
                      optimizer_states=state.states_path, begin_num_update=0)
    assert max(np.abs(params_of(no_count)[k] - a[k]).max() for k in a) > 1e-4


def test_nan_stops_training_and_keeps_last_checkpoint(tmp_path):
    d = str(tmp_path)
    it = RandomShapeIter(nan_at=(1, 3))
    with pytest.raises(NonFiniteLossError) as err:
        run(d, 0, 3, train_iter=it)
    message = str(err.value)
    assert 'epoch 1 batch 3' in message and 'cross-entropy=nan' in message
    assert find_last_checkpoint(d, 'tiny') == 1
    state = load_training_state(d, 'tiny')              # verified: complete and uncorrupted
    assert state.num_update == 6
    assert all(np.isfinite(v.asnumpy()).all() for v in state.arg_params.values())


def test_missing_parameters_are_named():
    arg, aux = initial_params()
    del arg['conv_new_1_bias']
    with pytest.raises(ValueError, match='conv_new_1_bias'):
        fit(tiny_symbol(), RandomShapeIter(), [mx.cpu()], arg, aux,
            FitArgs(epochs=EpochArgs(end_epoch=1)))


def test_binding_to_max_shapes_gives_the_same_training():
    plain, _ = run(None, 0, 1)
    big, _ = run(None, 0, 1, bind=BindArgs(max_data_shapes=(('data', (4, 3, 12, 12)),),
                                           max_label_shapes=(('label', (4,)),)))
    a, b = params_of(plain), params_of(big)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-6, err_msg=k)


def test_monitor_receives_counts_and_scheduled_lr(tmp_path):
    logger = create_logger(str(tmp_path), name='test_module_monitor', console=False)
    monitor = TrainingMonitor(logger, str(tmp_path), frequent=2, batch_size=4, epoch_size=6,
                              begin_epoch=0, end_epoch=2)
    run(str(tmp_path), 0, 2, callbacks=[monitor])
    records = read_metrics(str(tmp_path / 'metrics.jsonl'))
    batches = [r for r in records if r['type'] == 'batch']
    assert [r['num_update'] for r in batches] == [2, 4, 6, 8, 10, 12]
    # lr_step 1.5 epochs of 6 batches: updates 1..9 at 0.05, then 0.005
    assert [r['lr'] for r in batches] == pytest.approx([0.05] * 4 + [0.005] * 2)
    assert [r['epoch'] for r in records if r['type'] == 'epoch'] == [0, 1]
    assert all(np.isfinite(r['metrics']['cross-entropy']) for r in records)
    assert (tmp_path / 'loss_curves.png').stat().st_size > 0


def test_batches_run_through_run_ops_on_another_thread_give_the_same_bits():
    """fit's run_ops carries every batch's operators (forward, backward, metric, update):
    on an OperatorThread with the same OpenMP threads the parameters are bit-identical."""
    plain, _ = run(None, 0, 1)
    worker = OperatorThread(omp_threads())
    threads = set()

    def run_ops(fn):
        threads.add(worker.call(threading.get_ident))
        return worker.call(fn)
    try:
        moved, _ = run(None, 0, 1, run_ops=run_ops)
    finally:
        worker.close()
    assert len(threads) == 1 and threading.get_ident() not in threads
    a, b = params_of(plain), params_of(moved)
    for k in a:
        np.testing.assert_array_equal(b[k], a[k], err_msg=k)
