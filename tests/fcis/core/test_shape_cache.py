"""ShapeModules (one Module per input shape, sharing the base's arrays and optimizer) trains
exactly like MXNet's own Module.reshape path, and binds once per shape."""
import mxnet as mx
import numpy as np
import pytest

from fcis.core import module as fcis_module
from fcis.core.fit_args import EpochArgs, FitArgs, OptimArgs
from fcis.core.module import fit, reseed
from fcis.core.shape_cache import ShapeModules
from test_module import RandomShapeIter, SIZES, initial_params, params_of, tiny_symbol

SETTINGS = FitArgs(optim=OptimArgs(lr=0.05, momentum=0.9, wd=0.001),
                   epochs=EpochArgs(end_epoch=2, seed=7))


def reshape_reference(contexts, epochs):
    """The same training written with a single Module and Module.reshape per batch."""
    arg, aux = initial_params()
    it = RandomShapeIter()
    module = mx.mod.Module(tiny_symbol(), data_names=['data'], label_names=['label'],
                           context=contexts)
    module.bind(it.provide_data, it.provide_label, for_training=True)
    module.init_params(arg_params=arg, aux_params=aux)
    module.init_optimizer(kvstore='device', optimizer='fcissgd', optimizer_params={
        'learning_rate': SETTINGS.optim.lr, 'momentum': SETTINGS.optim.momentum,
        'wd': SETTINGS.optim.wd, 'rescale_grad': 1.0})
    for epoch in range(epochs):
        reseed(SETTINGS.epochs.seed, epoch)
        it.set_epoch(epoch)
        for batch in it:
            module.reshape(batch.provide_data, batch.provide_label)
            module.forward_backward(batch)
            module.update()
    return params_of(module), it.shapes_seen


@pytest.mark.parametrize('contexts', [1, 2])
def test_fit_equals_the_reshape_path(contexts):
    ctx = [mx.cpu(i) for i in range(contexts)]
    expected, shapes = reshape_reference(ctx, epochs=2)
    assert len(shapes) >= 3                          # the batches really change shape
    arg, aux = initial_params()
    module = fit(tiny_symbol(), RandomShapeIter(), ctx, arg, aux, SETTINGS)
    got = params_of(module)                          # the base Module's get_params()
    assert sorted(got) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-6, err_msg=name)
    initial = {k: v.asnumpy() for k, v in initial_params()[0].items()}
    assert max(np.abs(got[k] - initial[k]).max() for k in initial) > 1e-3   # it did train


def make_base(it):
    arg, aux = initial_params()
    base = mx.mod.Module(tiny_symbol(), data_names=['data'], label_names=['label'])
    base.bind(it.provide_data, it.provide_label, for_training=True)
    base.init_params(arg_params=arg, aux_params=aux)
    base.init_optimizer(optimizer='fcissgd', optimizer_params={'learning_rate': 0.05})
    return base


def test_binds_once_per_shape_and_shares_the_base_arrays():
    it = RandomShapeIter(num_batches=12)
    base = make_base(it)
    base_key = tuple(base.data_shapes[0].shape)
    modules = ShapeModules(base)
    seen = set()
    for epoch in range(3):
        it.set_epoch(epoch)
        for batch in it:
            module = modules.get(batch)
            assert tuple(module.data_shapes[0].shape) == batch.data[0].shape
            seen.add(batch.data[0].shape)
            if module is not base:                    # the same memory as the base's arrays
                base_weight = base._exec_group.param_arrays[0][0]
                saved = base_weight.copy()
                base_weight[:] = 5.0
                assert (module._exec_group.param_arrays[0][0].asnumpy() == 5.0).all()
                base_weight[:] = saved
    assert modules.binds == len(seen - {base_key}) <= len(SIZES)


def test_updates_through_a_shape_module_reach_the_base_parameters():
    it = RandomShapeIter(num_batches=6)
    base = make_base(it)
    before = params_of(base)
    modules = ShapeModules(base)
    it.set_epoch(0)
    for batch in it:
        module = modules.get(batch)
        module.forward_backward(batch)
        modules.update(module)
    after = params_of(base)
    assert max(np.abs(after[k] - before[k]).max() for k in before) > 1e-3


def test_evicting_modules_keeps_the_training_identical(monkeypatch):
    arg, aux = initial_params()
    unlimited = params_of(fit(tiny_symbol(), RandomShapeIter(), [mx.cpu()], arg, aux,
                              SETTINGS))

    class OneModule(ShapeModules):
        def __init__(self, base):
            super(OneModule, self).__init__(base, max_modules=1)

    monkeypatch.setattr(fcis_module, 'ShapeModules', OneModule)
    arg, aux = initial_params()
    limited = params_of(fit(tiny_symbol(), RandomShapeIter(), [mx.cpu()], arg, aux,
                            SETTINGS))
    for name in unlimited:
        np.testing.assert_allclose(limited[name], unlimited[name], rtol=0, atol=1e-6)
