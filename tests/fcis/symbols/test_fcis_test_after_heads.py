"""get_test_symbol on given head outputs builds only the graph after the heads; fed the full
test symbol's head outputs it gives the full symbol's outputs to the bit."""
import mxnet as mx
import numpy as np

from fcis.config.symbol_args import network_args
from fcis.core.params import load_params
from fcis.symbols import TEST_OUTPUT_NAMES, HeadOutputs, get_test_symbol
from test_fcis_small_forward import small_config, synthetic_batch


def run(sym, inputs, arg_params, aux_params):
    """Outputs (NumPy) of one inference forward of ``sym`` on ``inputs`` {name: array}."""
    exe = sym.simple_bind(mx.cpu(), grad_req='null', **{n: a.shape for n, a in inputs.items()})
    for name, array in exe.arg_dict.items():
        if name in inputs:
            array[:] = inputs[name]
        else:
            arg_params[name].copyto(array)
    for name, array in exe.aux_dict.items():
        aux_params[name].copyto(array)
    np.random.seed(0)  # the proposal layer pads from the global NumPy state
    return [o.asnumpy() for o in exe.forward(is_train=False)]


def test_graph_after_the_heads_equals_the_full_test_symbol(test_seed):
    args = network_args(small_config(), is_train=False)
    full = get_test_symbol(args)
    variables = HeadOutputs(*(mx.sym.Variable(n) for n in HeadOutputs._fields))
    after = get_test_symbol(args, variables)
    assert sorted(after.list_arguments()) == sorted(HeadOutputs._fields + ('im_info',))
    assert after.list_outputs() == full.list_outputs()

    data, _ = synthetic_batch(args.num_anchors, test_seed)
    image, im_info = data[0], data[1]
    arg_params, aux_params = load_params(full, {'data': image.shape})
    arg_params['fcis_cls_seg_weight'] *= 300  # spread the class scores and masks
    internals = full.get_internals()
    heads = run(mx.sym.Group([internals[n + '_output'] for n in HeadOutputs._fields]),
                {'data': image}, arg_params, aux_params)
    expected = run(full, {'data': image, 'im_info': im_info}, arg_params, aux_params)
    got = run(after, dict(zip(HeadOutputs._fields, heads), im_info=im_info), {}, {})
    assert len(got) == len(TEST_OUTPUT_NAMES)
    for name, a, b in zip(TEST_OUTPUT_NAMES, expected, got):
        np.testing.assert_array_equal(b, a, err_msg=name)
