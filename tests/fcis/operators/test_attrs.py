"""Attribute parsing of the custom ops: strings in, values out, one-line errors."""
import pytest

from fcis.operators._attrs import parse_bool, parse_float, parse_floats, parse_int
from fcis.operators.proposal_target import ProposalTargetProp


def test_parses_the_strings_mxnet_passes():
    assert parse_int('op', 'n', '128') == 128 and parse_int('op', 'n', '-1') == -1
    assert parse_float('op', 'x', '0.7') == 0.7
    assert parse_bool('op', 'b', 'False') is False and parse_bool('op', 'b', 'true') is True
    assert parse_floats('op', 's', '(8, 16, 32)') == (8.0, 16.0, 32.0)
    assert parse_floats('op', 's', '[0.5,1,2]') == (0.5, 1.0, 2.0)
    assert parse_floats('op', 's', '4') == (4.0,)


@pytest.mark.parametrize('call', [
    lambda: parse_int('op', 'batch_rois', '12.5'),
    lambda: parse_float('op', 'threshold', 'high'),
    lambda: parse_bool('op', 'output_score', 'yes'),
    lambda: parse_floats('op', 'bbox_stds', '(0.1, 0.1)', 4),
    lambda: parse_floats('op', 'scales', 'eight'),
])
def test_bad_values_name_the_attribute(call):
    with pytest.raises(ValueError, match=r'^op: attribute \w+=.* is not .*; pass e\.g\. '):
        call()


def test_unsupported_batch_images_is_rejected():
    with pytest.raises(ValueError, match='batch_images'):
        ProposalTargetProp(num_classes='3', batch_images='2')
