"""The SGD step of FCIS training (``FCISSGD``, registered with MXNet as 'fcissgd').

SGD with momentum; weight decay on the parameters named ``*_weight`` and ``*_gamma``
(MXNet's stock rule; ``decay_gamma=False`` leaves BatchNorm scales undecayed too), none on
biases and ``*_beta``, unless the symbol sets ``__wd_mult__``; ``__lr_mult__`` symbol
attributes are honored (``mx.sym.Variable('conv_new_1_weight', lr_mult=3)``). On the CPU one
native MultiSGDMom call updates every parameter; elsewhere MXNet's multi_sgd_mom_update runs
on groups of similar sizes (:func:`size_buckets`).
"""
import os

import mxnet as mx
import numpy as np

from lib.ops import multi_sgd_mom_update

# _update_plan's value for one native MultiSGDMom call over all parameters
NATIVE_UPDATE = 'native'
# parameters per multi_sgd_mom_update call at most (size_buckets)
MULTI_SGD_MAX_COUNT = 45


@mx.optimizer.Optimizer.register
class FCISSGD(mx.optimizer.SGD):
    """SGD (momentum) whose weight decay applies to parameters named ``*_weight`` and, with
    ``decay_gamma`` (the default, as MXNet's stock SGD), ``*_gamma``.

    Symbol ``__wd_mult__`` attributes and explicit ``set_wd_mult`` entries still override.
    """

    # dense float32 parameters on the CPU take one native MultiSGDMom call (lib/ops) per
    # update; elsewhere (GPU) MXNet's multi_sgd_mom_update in groups of similar sizes
    native_cpu_update = True

    def __init__(self, decay_gamma=True, **kwargs):
        self.decay_gamma = bool(decay_gamma)  # read by set_wd_mult, which __init__ calls
        super(FCISSGD, self).__init__(**kwargs)
        # MXNet's Updater hands _update_impl the parameters in lists of aggregate_num (its
        # default: 4); all at once here, so the small shapes trunk's update, which is call
        # overhead (benchmark.py train), takes one native call
        self.aggregate_num = int(os.getenv('MXNET_OPTIMIZER_AGGREGATION_SIZE', '100000'))
        self._plan_cache = {}  # (indices, multi_precision) -> NATIVE_UPDATE, buckets or None

    def _update_impl(self, indices, weights, grads, states, multi_precision=False):
        """Update a group of parameters with the arithmetic of MXNet's SGD, in fewer calls.

        On the CPU one native ``MultiSGDMom`` call updates the whole group (the bits of
        ``sgd_mom_update``, tests/lib/ops/test_multi_sgd.py). Elsewhere the parameters go
        in calls of similar sizes (see size_buckets): the multi-tensor kernel visits
        max(size) x count elements per call, so one call over a 125k-element weight and 44
        small ones costs 45 x 125k; each parameter's arithmetic is the same in any
        grouping. The plan for a list of indices is worked out once (sizes, storage types,
        dtypes and devices do not change).
        """
        plan = self._update_plan(indices, weights, grads, multi_precision)
        if plan is None:
            return super(FCISSGD, self)._update_impl(indices, weights, grads, states,
                                                     multi_precision)
        self._update_count(indices)
        lrs, wds = self._get_lrs(indices), self._get_wds(indices)
        if plan is NATIVE_UPDATE:
            multi_sgd_mom_update(weights, grads, states, lrs, wds, self.momentum,
                                 self.rescale_grad, self.clip_gradient or -1.0)
            return
        kwargs = {'rescale_grad': self.rescale_grad, 'momentum': self.momentum}
        if self.clip_gradient:
            kwargs['clip_gradient'] = self.clip_gradient
        for bucket in plan:
            mx.nd.multi_sgd_mom_update(
                *[a for i in bucket for a in (weights[i], grads[i], states[i])],
                out=[weights[i] for i in bucket], num_weights=len(bucket),
                lrs=[lrs[i] for i in bucket], wds=[wds[i] for i in bucket], **kwargs)

    def _update_plan(self, indices, weights, grads, multi_precision):
        """How _update_impl updates a list of indices whose weights and gradients are all
        dense float32 with momentum: NATIVE_UPDATE on the CPU (with native_cpu_update),
        else their size_buckets; None (MXNet's own path) for anything else. Cached."""
        if not isinstance(indices, (tuple, list)) or len(indices) < 2:
            return None
        key = (tuple(indices), bool(multi_precision))
        if key not in self._plan_cache:
            arrays = list(weights) + list(grads)
            dense = (not multi_precision and self.momentum > 0 and all(
                a.stype == 'default' and a.dtype == np.float32 for a in arrays))
            on_cpu = all(a.context.device_type == 'cpu' for a in arrays)
            if not dense:
                plan = None
            elif on_cpu and self.native_cpu_update:
                plan = NATIVE_UPDATE
            else:
                plan = size_buckets([w.size for w in weights])
            self._plan_cache[key] = plan
        return self._plan_cache[key]

    def set_wd_mult(self, args_wd_mult):
        decayed = ('_weight', '_gamma') if self.decay_gamma else ('_weight',)
        self.wd_mult = {n: 0.0 for n in self.idx2name.values() if not n.endswith(decayed)}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and '__wd_mult__' in attr[name]:
                    self.wd_mult[name] = float(attr[name]['__wd_mult__'])
        self.wd_mult.update(args_wd_mult)


def size_buckets(sizes, waste=2.0, max_count=MULTI_SGD_MAX_COUNT):
    """Positions of ``sizes`` grouped in ascending size, each group's max(size) x count at
    most ``waste`` times its total size (a lone larger element starts a group of its own)
    and at most ``max_count`` positions (MXNet's multi_sgd_mom_update takes up to 60).

    sizes: list of element counts. Returns a list of lists of positions into ``sizes``;
    the sort is stable, so equal sizes keep their order.
    """
    buckets, total = [], 0
    for i in sorted(range(len(sizes)), key=lambda k: sizes[k]):
        if (buckets and len(buckets[-1]) < max_count
                and sizes[i] * (len(buckets[-1]) + 1) <= waste * (total + sizes[i])):
            buckets[-1].append(i)
            total += sizes[i]
        else:
            buckets.append([i])
            total = sizes[i]
    return buckets


__all__ = ['FCISSGD', 'NATIVE_UPDATE', 'MULTI_SGD_MAX_COUNT', 'size_buckets']
