"""Parsing of custom-op attributes.

MXNet hands every attribute of ``mx.sym.Custom`` / ``mx.nd.Custom`` to the ``CustomOpProp``
constructor as a string (``'16'``, ``'(8, 16, 32)'``, ``'False'``). These helpers turn
them back into Python values and fail with one line naming the attribute and the fix.
"""
import ast


def _error(op, name, value, expected):
    return ValueError('%s: attribute %s=%r is not %s; pass e.g. %s'
                      % (op, name, value, expected[0], expected[1]))


def parse_int(op, name, value):
    """'128' (or 128, or '128.0') -> 128."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _error(op, name, value, ('an integer', "%s='128'" % name)) from None
    if number != int(number):
        raise _error(op, name, value, ('an integer', "%s='128'" % name))
    return int(number)


def parse_float(op, name, value):
    """'0.7' (or 0.7) -> 0.7."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _error(op, name, value, ('a number', "%s='0.5'" % name)) from None


def parse_bool(op, name, value):
    """'True' / 'False' / '1' / '0' (any case, or a bool) -> bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ('true', '1'):
        return True
    if text in ('false', '0'):
        return False
    raise _error(op, name, value, ('a boolean', "%s='False'" % name))


def parse_floats(op, name, value, length=None):
    """'(0.5, 1, 2)' / '[0.5,1,2]' / '0.5,1,2' / '2' (or a sequence) -> tuple of floats.

    ``length``: the required number of values, or None for any non-empty tuple.
    """
    if isinstance(value, (list, tuple)):
        parsed = value
    else:
        try:
            parsed = ast.literal_eval(str(value).strip())
        except (ValueError, SyntaxError):
            parsed = None
    if isinstance(parsed, (int, float)):
        parsed = (parsed,)
    expected = ('a tuple of %s numbers' % (length if length else 'one or more'),
                "%s='(0.1, 0.1, 0.2, 0.2)'" % name)
    if not isinstance(parsed, (list, tuple)) or len(parsed) == 0:
        raise _error(op, name, value, expected)
    try:
        parsed = tuple(float(item) for item in parsed)
    except (TypeError, ValueError):
        raise _error(op, name, value, expected) from None
    if length is not None and len(parsed) != length:
        raise _error(op, name, value, expected)
    return parsed


def parse_choice(op, name, value, choices):
    """'image' -> 'image' when it is one of ``choices`` (case-sensitive)."""
    text = str(value).strip()
    if text not in choices:
        raise _error(op, name, value, ('one of %s' % (choices,), "%s='%s'" % (name, choices[0])))
    return text
