"""Fixtures of the tests under tests/fcis: a shapes model with random weights."""
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SHAPES_CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')


@pytest.fixture(scope='session')
def shapes_params_file(tmp_path_factory):
    """Path of randomly initialized parameters of the shapes test symbol (seeded), saved like a
    checkpoint."""
    import mxnet as mx

    from fcis.config import load_config
    from fcis.config.symbol_args import network_args
    from fcis.core.params import FCISInitializer, load_params
    from fcis.symbols import get_test_symbol
    from lib.utils.checkpoint import save_params
    symbol = get_test_symbol(network_args(load_config(SHAPES_CFG), is_train=False))
    mx.random.seed(0)
    arg, aux = load_params(symbol, {'data': (1, 3, 224, 224)}, '', 0, initializer=FCISInitializer())
    return save_params(str(tmp_path_factory.mktemp('shapes_model') / 'model-0001.params'), arg, aux)
