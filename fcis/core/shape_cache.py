"""One bound Module per input-shape key, all sharing one base Module's parameters.

``Module.reshape`` builds a new executor (shape inference and memory planning of the whole
graph) every time a batch's shapes differ from the previous batch's. With many image sizes
and GT counts that is nearly every batch, and a reshape per batch costs ~12% of a
shapes-config iteration (``python experiments/fcis/benchmark.py train --config shapes``;
its "bind" column shows the one-time binds of this class).

:class:`ShapeModules` binds a Module once per distinct key (data and label shapes) with
``shared_module=base``, the way MXNet's BucketingModule does: parameter, gradient and
auxiliary arrays are the base's own arrays, the executors draw on the base's memory pool,
and the optimizer, updater and kvstore are borrowed from the base. Switching shapes then
costs a dictionary lookup. Bind the base to the largest shapes so every key fits its memory,
and pad images to a multiple of ``network.IMAGE_STRIDE`` to keep the number of keys small;
beyond ``max_modules`` keys the least recently used module is dropped.
"""
import collections

import mxnet as mx


def _shape_list(descs):
    return [(d.name, tuple(d.shape)) for d in descs or []]


def _key(data, label):
    """Hashable key of [(name, shape)] data and label lists."""
    return tuple(data), tuple(label)


def batch_shapes(module, batch):
    """([(name, shape)] of the data, [(name, shape)] of the labels) of ``batch``."""
    data = getattr(batch, 'provide_data', None)
    label = getattr(batch, 'provide_label', None)
    data = _shape_list(data) if data else [
        (n, tuple(a.shape)) for n, a in zip(module.data_names, batch.data)]
    label = _shape_list(label) if label else [
        (n, tuple(a.shape)) for n, a in zip(module.label_names, batch.label or [])]
    return data, label


class ShapeModules(object):
    """Modules bound per (data shapes, label shapes), sharing ``base``'s arrays and optimizer.

    ``base`` must be bound for training, its parameters and optimizer initialized.
    """

    def __init__(self, base, max_modules=64):
        self.base = base
        self.max_modules = int(max_modules)
        self._modules = collections.OrderedDict()   # key -> Module, least recent first
        self.binds = 0                                # modules bound so far (for tests/logs)
        # the base is never reshaped, so its key is fixed
        self._base_key = _key(_shape_list(base.data_shapes), _shape_list(base.label_shapes))

    def get(self, batch):
        """The Module bound to ``batch``'s shapes (the base when they are its own)."""
        data, label = batch_shapes(self.base, batch)
        key = _key(data, label)
        if key == self._base_key:
            return self.base
        module = self._modules.get(key)
        if module is not None:
            self._modules.move_to_end(key)
            return module
        if len(self._modules) >= self.max_modules:
            self._modules.popitem(last=False)
        module = self._bind(data, label)
        self._modules[key] = module
        return module

    def _bind(self, data, label):
        base = self.base
        module = mx.mod.Module(base.symbol, data_names=base.data_names,
                               label_names=base.label_names, context=base._context,
                               logger=base.logger, fixed_param_names=base._fixed_param_names)
        module.bind(data_shapes=data, label_shapes=label or None, for_training=True,
                    shared_module=base)
        module.borrow_optimizer(base)
        self.binds += 1
        return module

    def update(self, module):
        """``module.update()``, and mark the base's parameter copies stale for get_params()."""
        module.update()
        self.base._params_dirty = True
