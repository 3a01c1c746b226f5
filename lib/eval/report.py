"""Print evaluation metrics as tables and write them to ``metrics.json``.

``metrics`` is a dict of sections, e.g.::

    {'segm': {'AP': 0.29, 'AP50': 0.51, ...},          # lib.eval.coco_eval
     'bbox': {...},
     'sds': {'mAP^r@0.5': 0.66, 'mAP^r@0.7': 0.52,     # lib.eval.sds_eval
             'num_classes': 20, 'per_class': {'aeroplane': {'mAP^r@0.5': .., ..}, ..}}}

A section's scalar entries print as one row; an entry that maps names to dicts of scalars
(like ``per_class``) prints as its own table, one row per name. Values in [0, 1] from the
evaluators are fractions; tables show them in percent, metrics.json keeps the fractions.
Entries whose key names seconds ('seconds_per_image') are shown in seconds ('0.238 s').
"""
import math
import numbers
import os

from ..utils.table import format_table
from .results import write_json_atomic

METRICS_FILENAME = 'metrics.json'


def is_seconds(key):
    """True for an entry measured in seconds (its key names them, e.g. 'seconds_per_image')."""
    return 'seconds' in str(key).lower()


def format_value(value, key=''):
    """'-' for missing or NaN; seconds (an entry whose ``key`` names them) as '0.238 s';
    plain for ints; percent with one decimal for other floats (fractions)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    if is_seconds(key) and isinstance(value, numbers.Real):
        return '%.3f s' % value
    if isinstance(value, numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return '%.1f' % (100.0 * value) if value >= 0 else '%g' % value
    return str(value)


def format_section(name, section):
    """Tables of one metrics section (scalars in one row, nested name->dict as a matrix)."""
    scalars = [(k, v) for k, v in section.items() if not isinstance(v, dict)]
    tables = []
    if scalars:
        tables.append(format_table([name] + [k for k, _ in scalars],
                                   [['(%)'] + [format_value(v, k) for k, v in scalars]]))
    for key, nested in section.items():
        if not isinstance(nested, dict) or not nested:
            continue
        columns = []
        for row in nested.values():
            columns.extend(c for c in (row if isinstance(row, dict) else {}) if c not in columns)
        rows = [[row_name] + [format_value(row.get(c), c) if isinstance(row, dict) else
                              format_value(row, key) for c in columns]
                for row_name, row in nested.items()]
        tables.append(format_table(['%s %s' % (name, key)] + columns, rows))
    return '\n\n'.join(tables)


def format_metrics(metrics):
    """All sections of ``metrics`` as text tables."""
    return '\n\n'.join(format_section(name, section) if isinstance(section, dict)
                       else format_table(['metric', 'value'], [[name, format_value(section, name)]])
                       for name, section in metrics.items())


def to_jsonable(value):
    """Plain JSON types: NumPy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, 'tolist'):
        return to_jsonable(value.tolist())
    if isinstance(value, bool) or isinstance(value, numbers.Integral):
        return value if isinstance(value, bool) else int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_metrics(output_dir, metrics, filename=METRICS_FILENAME):
    """Write ``metrics`` as JSON to ``output_dir/filename`` atomically; returns the path."""
    path = os.path.join(output_dir, filename)
    write_json_atomic(path, to_jsonable(metrics), indent=2)
    return path


def report_metrics(metrics, output_dir, filename=METRICS_FILENAME):
    """Print the metrics tables, write metrics.json into ``output_dir``, print its path."""
    print(format_metrics(metrics))
    path = write_metrics(output_dir, metrics, filename)
    print('metrics written to %s' % path)
    return path
