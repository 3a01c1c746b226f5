"""FCIS symbol builders (MXNet graphs).

    from fcis.config.symbol_args import network_args
    from fcis.symbols import get_train_symbol, get_test_symbol
    sym = get_train_symbol(network_args(cfg, is_train=True))

Builders take plain arguments (``fcis.symbols.args.FCISArgs``); input/output names and
their order are in ``fcis.symbols.names``.
"""
from .args import FCISArgs, ProposalArgs, TestArgs, TrainArgs, TrunkArgs
from .fcis_test import get_test_symbol
from .fcis_train import get_train_symbol
from .heads import NEW_LAYERS, HeadOutputs
from .names import (TEST_DATA_NAMES, TEST_OUTPUT_NAMES, TRAIN_DATA_NAMES, TRAIN_LABEL_NAMES,
                    TRAIN_OUTPUT_NAMES)
from .resnet_v1 import resnet_v1_trunk
