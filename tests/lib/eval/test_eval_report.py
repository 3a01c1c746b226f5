"""Metrics report: printed tables and metrics.json."""
import json
import os

import numpy as np

from lib.eval.report import format_metrics, report_metrics, write_metrics


def example_metrics():
    return {'segm': {'AP': np.float64(0.292), 'AP50': 0.508, 'APs': -1.0},
            'sds': {'mAP^r@0.5': 0.66, 'mAP^r@0.7': np.float32(0.519), 'num_classes': 2,
                    'per_class': {'aeroplane': {'mAP^r@0.5': 0.7, 'mAP^r@0.7': 0.6},
                                  'bicycle': {'mAP^r@0.5': 0.62, 'mAP^r@0.7': float('nan')}}}}


def test_report_prints_tables_and_writes_metrics_json(tmp_path, capsys):
    out_dir = str(tmp_path / 'run' / 'eval')
    path = report_metrics(example_metrics(), out_dir)
    printed = capsys.readouterr().out
    assert path == os.path.join(out_dir, 'metrics.json')
    assert path in printed
    assert os.listdir(out_dir) == ['metrics.json']  # atomic write leaves no temporary
    for text in ('AP50', '29.2', '50.8', 'mAP^r@0.7', '51.9', 'aeroplane', '70.0', '62.0'):
        assert text in printed
    with open(path) as f:
        saved = json.load(f)
    assert saved['segm'] == {'AP': 0.292, 'AP50': 0.508, 'APs': -1.0}
    assert abs(saved['sds']['mAP^r@0.7'] - 0.519) < 1e-6
    assert saved['sds']['num_classes'] == 2
    assert saved['sds']['per_class']['bicycle']['mAP^r@0.7'] is None  # NaN -> null


def test_format_marks_missing_values():
    text = format_metrics({'sds': {'per_class': {'a': {'x': 0.5}, 'b': {'y': 0.25}}}})
    lines = [line.split() for line in text.splitlines()]
    assert lines[0] == ['sds', 'per_class', 'x', 'y']
    assert lines[2] == ['a', '50.0', '-'] and lines[3] == ['b', '-', '25.0']


def test_write_metrics_overwrites(tmp_path):
    write_metrics(str(tmp_path), {'a': {'AP': 0.1}})
    path = write_metrics(str(tmp_path), {'a': {'AP': 0.2}})
    with open(path) as f:
        assert json.load(f) == {'a': {'AP': 0.2}}


def test_seconds_show_as_seconds_not_percent():
    text = format_metrics({'segm': {'AP': 0.292, 'seconds_per_image': 0.238},
                           'seconds_per_image': 0.2384})
    lines = [line.split() for line in text.splitlines()]
    assert lines[0] == ['segm', 'AP', 'seconds_per_image']
    assert lines[2] == ['(%)', '29.2', '0.238', 's']
    assert lines[4:] == [['metric', 'value'], ['-' * 26], ['seconds_per_image', '0.238', 's']]
    assert '23.8' not in text
