"""Parameters of the FCIS symbols: pretrained loading by name, initialization, frozen names.

    arg_params, aux_params = load_params(sym, {'data': (1, 3, 600, 1000)},
                                         'model/pretrained_model/resnet_v1_101', 0)
    fixed = fixed_param_names(sym.list_arguments(), cfg.network.FIXED_PARAMS)

Initialization of every parameter the file does not hold (``FCISInitializer``):

* new layers (``fcis.symbols.NEW_LAYERS``: rpn_conv_3x3, rpn_cls_score, rpn_bbox_pred,
  conv_new_1, fcis_cls_seg, fcis_bbox): weight N(0, 0.01), bias 0; those named in
  ``msra_layers`` (network.MSRA_INIT_LAYERS) He / MSRA normal instead. With a trunk trained
  from scratch (features of unit scale, not a pretrained res5) two stacked N(0, 0.01) layers
  (conv_new_1 -> fcis_cls_seg) give each other gradients ~1e-3 and the class head barely
  moves for hundreds of iterations;
* trunk convolutions (only when training from scratch, no file): He / MSRA normal,
  std sqrt(2 / fan_in);
* BatchNorm: gamma 1, beta 0, moving_mean 0, moving_var 1; any other bias 0.

With a file, every trunk parameter must be in it (a missing one is an error naming it);
a name of the file with a different shape is an error naming the parameter and both
shapes; names of the file the symbol does not use are a warning.
"""
import logging
import os

import mxnet as mx
import numpy as np

from fcis.symbols.heads import NEW_LAYERS
from fcis.symbols.names import TEST_DATA_NAMES, TRAIN_DATA_NAMES, TRAIN_LABEL_NAMES
from lib.utils.checkpoint import read_params

INPUT_NAMES = frozenset(TRAIN_DATA_NAMES + TRAIN_LABEL_NAMES + TEST_DATA_NAMES)
NEW_LAYER_STD = 0.01
README = 'model/README.md'
_SHOWN = 8  # names listed in one message


class ParamsError(ValueError):
    """A parameter file is missing or does not fit the symbol; the message says which."""


def params_path(prefix, epoch):
    """'model/pretrained_model/resnet_v1_101', 0 -> '.../resnet_v1_101-0000.params'."""
    return '%s-%04d.params' % (prefix, epoch)


def is_new_layer(name):
    """True for the parameters of the FCIS/RPN layers added on top of the trunk."""
    return any(name.startswith(layer + '_') for layer in NEW_LAYERS)


def _he_std(shape):
    """sqrt(2 / fan_in) of a conv weight (out, in, kh, kw)."""
    return float(np.sqrt(2.0 / max(1, int(np.prod(shape[1:])))))


@mx.init.register
class FCISInitializer(mx.init.Initializer):
    """New layers N(0, 0.01) (those in ``msra_layers`` He-normal); other conv weights
    He-normal; biases 0; BatchNorm gamma 1, beta 0, moving mean 0, moving var 1 (MXNet's
    defaults for those).

    msra_layers: names from fcis.symbols.NEW_LAYERS (e.g. ['conv_new_1', 'fcis_cls_seg']);
    another name is a ValueError listing the allowed ones.
    """

    def __init__(self, msra_layers=()):
        msra_layers = list(msra_layers)
        unknown = [n for n in msra_layers if n not in NEW_LAYERS]
        if unknown:
            raise ValueError('network.MSRA_INIT_LAYERS: %s not a new layer; choose from %s'
                             % (', '.join(map(str, unknown)), ', '.join(NEW_LAYERS)))
        super().__init__(msra_layers=msra_layers)
        self._msra = tuple(msra_layers)

    def _init_weight(self, name, arr):
        new = is_new_layer(name)
        msra = new and any(name.startswith(layer + '_') for layer in self._msra)
        std = NEW_LAYER_STD if new and not msra else _he_std(arr.shape)
        arr[:] = mx.nd.random.normal(0, std, shape=arr.shape, dtype=arr.dtype)

    def _init_default(self, name, arr):
        if name.endswith('moving_mean'):
            arr[:] = 0.0
        elif name.endswith('moving_var'):
            arr[:] = 1.0
        else:
            raise ValueError("no initialization rule for parameter '%s' (FCISInitializer knows "
                             "*weight, *bias, *gamma, *beta, *moving_mean, *moving_var)" % name)


def initial_value(name, shape, initializer=None):
    """Initial NDArray of parameter/aux state ``name`` with ``shape`` (FCISInitializer)."""
    arr = mx.nd.zeros(shape)
    (initializer or FCISInitializer())(mx.init.InitDesc(name), arr)
    return arr


def _parameter_graph(sym):
    """The part of ``sym`` that holds its parameters: the outputs of the new layers (trunk +
    heads, which depend on 'data' only), or ``sym`` itself when it has none of them.
    Custom ops (proposals, ROI sampling) need every input shape, this part only 'data'."""
    internals = sym.get_internals()
    outputs = set(internals.list_outputs())
    heads = [internals[layer + '_output'] for layer in NEW_LAYERS if layer + '_output' in outputs]
    return mx.sym.Group(heads) if heads else sym


def param_shapes(sym, input_shapes):
    """Shapes of the symbol's parameters and aux states from the input shapes.

    input_shapes: {'data': (N, 3, H, W), ...}; 'data' suffices for the FCIS symbols.
    Returns ({param: shape}, {aux: shape}) without the inputs.
    """
    params = [n for n in sym.list_arguments() if n not in INPUT_NAMES and n not in input_shapes]
    graph = _parameter_graph(sym)
    if not set(params) <= set(graph.list_arguments()):
        graph = sym
    known = {k: v for k, v in input_shapes.items() if k in graph.list_arguments()}
    arg_shapes, _, aux_shapes = graph.infer_shape_partial(**known)
    inferred = dict(zip(graph.list_arguments(), arg_shapes))
    args = {n: tuple(inferred[n]) for n in params}
    unknown = [n for n, s in args.items() if not s or 0 in s]
    if unknown:
        raise ParamsError('cannot infer the shapes of %s from the inputs %s'
                          % (', '.join(unknown[:_SHOWN]), sorted(input_shapes)))
    aux_inferred = dict(zip(graph.list_auxiliary_states(), aux_shapes))
    auxs = {n: tuple(aux_inferred[n]) for n in sym.list_auxiliary_states()}
    return args, auxs


def _check_shapes(path, wanted, saved):
    """Raise ParamsError listing every name whose saved shape differs from the symbol's."""
    bad = ['%s: file %s, symbol %s' % (n, tuple(saved[n].shape), s)
           for n, s in sorted(wanted.items()) if n in saved and tuple(saved[n].shape) != s]
    if bad:
        raise ParamsError('%s does not fit the symbol, shape mismatch of %d parameter(s): %s'
                          % (path, len(bad), '; '.join(bad[:_SHOWN])))


def check_params(sym, params, input_shapes, source):
    """Raise ParamsError unless ``params`` = (arg_params, aux_params) hold every parameter and
    aux state of ``sym`` with the shape it has for ``input_shapes`` ({'data': (1, 3, H, W)});
    ``source`` names them in the message (e.g. the file)."""
    arg_shapes, aux_shapes = param_shapes(sym, input_shapes)
    arg_params, aux_params = params
    _check_shapes(source, arg_shapes, arg_params)
    _check_shapes(source, aux_shapes, aux_params)
    missing = sorted(n for n in arg_shapes if n not in arg_params)
    missing += sorted(n for n in aux_shapes if n not in aux_params)
    if missing:
        raise ParamsError('%s lacks %d parameter(s) of the model: %s (was it trained with this '
                          'config?)' % (source, len(missing), ', '.join(missing[:_SHOWN])))


def _fill(wanted, saved, initializer):
    """{name: NDArray} with the saved array where present, else the initial value."""
    return {n: (saved[n].astype('float32') if n in saved else initial_value(n, s, initializer))
            for n, s in wanted.items()}


def load_params(sym, input_shapes, prefix='', epoch=0, logger=None, initializer=None):
    """Parameters for ``sym``: from ``prefix-epoch.params`` by name, the rest initialized.

    prefix '' trains from scratch (everything initialized). Returns (arg_params,
    aux_params) dicts of NDArrays covering every parameter and aux state of ``sym``.
    Raises ParamsError for a missing file, a shape mismatch or a trunk parameter absent
    from the file, CheckpointError (lib.utils.checkpoint) for an unreadable file; logs a
    warning for names in the file the symbol does not use.
    """
    logger = logger or logging.getLogger(__name__)
    arg_shapes, aux_shapes = param_shapes(sym, input_shapes)
    if not prefix:
        return _fill(arg_shapes, {}, initializer), _fill(aux_shapes, {}, initializer)

    path = params_path(prefix, epoch)
    if not os.path.isfile(path):
        raise ParamsError('pretrained parameters not found: %s (see %s for the file to put '
                          'there, e.g. model/pretrained_model/resnet_v1_101-0000.params)'
                          % (path, README))
    saved_args, saved_auxs, plain = read_params(path)
    for name, value in plain.items():  # files without 'arg:'/'aux:' prefixes
        (saved_auxs if name in aux_shapes else saved_args)[name] = value
    _check_shapes(path, arg_shapes, saved_args)
    _check_shapes(path, aux_shapes, saved_auxs)

    missing = sorted(n for n in list(arg_shapes) + list(aux_shapes)
                     if not is_new_layer(n) and n not in saved_args and n not in saved_auxs)
    if missing:
        raise ParamsError('%s lacks %d trunk parameter(s) of the symbol: %s (is it the ResNet-v1 '
                          'of network.depth? see %s)' % (path, len(missing),
                                                       ', '.join(missing[:_SHOWN]), README))
    unused = sorted(set(saved_args) - set(arg_shapes)) + sorted(set(saved_auxs) - set(aux_shapes))
    if unused:
        logger.warning('%s: %d name(s) not used by the symbol: %s%s', path, len(unused),
                       ', '.join(unused[:_SHOWN]), ' ...' if len(unused) > _SHOWN else '')
    fresh = sorted(n for n in arg_shapes if n not in saved_args)
    logger.info('loaded %d parameters and %d aux states from %s; initialized %d: %s',
                len(arg_shapes) - len(fresh), len(aux_shapes), path, len(fresh), ', '.join(fresh))
    return _fill(arg_shapes, saved_args, initializer), _fill(aux_shapes, saved_auxs, initializer)


def fixed_param_names(arg_names, fixed_parts, match_suffix=False):
    """Parameters not trained: those whose name starts with an entry of ``fixed_parts``
    (network.FIXED_PARAMS: prefixes such as 'conv1', 'res2', 'bn2'; an entry such as
    'gamma' is a prefix too and so matches no BatchNorm parameter) or, with
    ``match_suffix`` (network.FIXED_PARAMS_MATCH_SUFFIX), ends with '_' + an entry ('gamma',
    'beta': every BatchNorm scale and shift). Inputs (data, labels) are never listed."""
    parts = [p for p in fixed_parts if p]
    return [n for n in arg_names if n not in INPUT_NAMES
            and any(n.startswith(p) or (match_suffix and n.endswith('_' + p)) for p in parts)]
