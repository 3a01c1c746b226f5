"""benchmark.py train's --params: a bad file stops with one line; rows name the file."""
import mxnet as mx
import pytest

from experiments.fcis.tools.bench import train


def test_missing_or_unnamed_params_file_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(['--config', 'shapes', '--params', str(tmp_path / 'none.params')])
    assert exit_info.value.code == 2
    assert '--params: parameter file not found: ' in capsys.readouterr().err
    unnamed = tmp_path / 'unnamed.params'
    mx.nd.save(str(unnamed), [mx.nd.zeros((2,))])
    with pytest.raises(SystemExit):
        train.main(['--config', 'shapes', '--params', str(unnamed)])
    assert 'holds an unnamed NDArray list' in capsys.readouterr().err


def test_row_label_names_the_starting_weights():
    row = {'config': 'shapes', 'ohem': True, 'overrides': [], 'busy': False,
           'params': '/runs/shapes/train/e2e-0003.params'}
    assert train.row_label(row) == 'shapes (OHEM) from e2e-0003.params'
    assert train.row_label(dict(row, params=None)) == 'shapes (OHEM)'
