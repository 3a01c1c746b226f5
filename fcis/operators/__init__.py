"""Python CustomOps of FCIS. Importing this package registers every op with MXNet:

- 'fcis_proposal'         RPN scores and deltas -> ROIs               (proposal.py)
- 'fcis_proposal_target'  ROI sampling with class, box and mask targets (proposal_target.py)
- 'BoxAnnotatorOHEM'      online hard example mining                  (box_annotator_ohem.py)
- 'fcis_box_parser'       regressed ROIs for the second test pass     (box_parser.py)
"""
from fcis.operators import box_annotator_ohem, box_parser, proposal, proposal_target  # noqa: F401

__all__ = ['box_annotator_ohem', 'box_parser', 'proposal', 'proposal_target']
