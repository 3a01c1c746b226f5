"""Python CustomOps of FCIS. Importing this package registers every op with MXNet:

- 'fcis_proposal'         RPN scores and deltas -> ROIs               (proposal.py)
- 'fcis_proposal_target'  ROI sampling with class, box and mask targets (proposal_target.py)
- 'BoxAnnotatorOHEM'      online hard example mining                  (box_annotator_ohem.py)
- 'fcis_box_parser'       regressed ROIs for the second test pass     (box_parser.py)
"""
from fcis.operators import box_annotator_ohem, box_parser, proposal, proposal_target

__all__ = ['box_annotator_ohem', 'box_parser', 'check_attrs', 'proposal', 'proposal_target']

# op_type -> its CustomOpProp class
PROPS = {proposal.OP_NAME: proposal.ProposalProp,
         proposal_target.OP_NAME: proposal_target.ProposalTargetProp,
         box_annotator_ohem.OP_NAME: box_annotator_ohem.BoxAnnotatorOHEMProp,
         box_parser.OP_NAME: box_parser.BoxParserProp}


def check_attrs(op_type, attrs):
    """Run the attribute checks of CustomOp ``op_type`` on ``attrs`` (strings) by building
    its property object here: a bad attribute raises its ValueError in Python, where inside
    MXNet's operator creation (a ctypes callback) the same exception ends the process."""
    PROPS[op_type](**attrs)
