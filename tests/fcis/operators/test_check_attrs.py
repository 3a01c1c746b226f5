"""fcis.operators.check_attrs: a CustomOp's attribute checks run in Python before MXNet
creates the operator (inside MXNet a raised exception ends the process)."""
import os

import mxnet as mx
import pytest

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.operators import PROPS, box_annotator_ohem, check_attrs, proposal
from fcis.symbols import ops

SHAPES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis', 'cfgs',
                      'shapes_fcis_end2end.yaml')


def test_every_registered_op_has_its_prop():
    assert set(PROPS) == {'fcis_proposal', 'fcis_proposal_target', 'BoxAnnotatorOHEM',
                          'fcis_box_parser'}
    assert PROPS[proposal.OP_NAME] is proposal.ProposalProp


def test_bad_attributes_raise_in_python():
    check_attrs(box_annotator_ohem.OP_NAME, {'num_classes': '5', 'roi_per_img': '64'})
    with pytest.raises(ValueError, match='roi_per_img=0 must be >= 1'):
        check_attrs(box_annotator_ohem.OP_NAME, {'num_classes': '5', 'roi_per_img': '0'})
    with pytest.raises(ValueError, match='rpn_post_nms_top_n=0 must be >= 1'):
        check_attrs(proposal.OP_NAME, {'rpn_post_nms_top_n': '0'})


def test_symbol_builder_checks_before_creating():
    """ops.proposal with args whose check() was bypassed: the ValueError comes from the
    prop's own check, raised while the symbol is built."""
    import dataclasses
    args = network_args(load_config(SHAPES, []), is_train=True)
    bad = dataclasses.replace(args, proposal=dataclasses.replace(args.proposal,
                                                                 post_nms_top_n=0))
    ops.ensure_operators()
    x = mx.sym.Variable('x')
    with pytest.raises(ValueError, match='fcis_proposal: rpn_post_nms_top_n=0 must be >= 1'):
        ops.proposal('rois', x, x, x, bad, bad.proposal)
