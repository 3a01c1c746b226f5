"""What every command-line entry point shares: user-caused failures end in one line.

    if __name__ == '__main__':
        run_main(main)

``run_main`` calls ``main(argv)`` and turns an error a user can fix (a bad config key, a
missing or corrupt file, an invalid dataset, a folder that cannot be created, a checkpoint
or .params problem, a diverged training) into one line on stderr, ``error: <message>``,
and exit status 1, without a traceback. ``--debug`` anywhere on the command line (or
FCIS_DEBUG=1) lets the exception through with its traceback instead. Interrupting with
Ctrl-C exits with status 130 and one line.
"""
import os
import re
import sys

DEBUG_FLAG = '--debug'
# the last "SomethingError: message" line inside an MXNetError raised around a custom op
_INNER_ERROR = re.compile(r'^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$')


def user_error_types():
    """Exception classes whose message is meant for the user (they name the fix)."""
    from mxnet.base import MXNetError

    from fcis.core.callback import NonFiniteLossError
    from fcis.core.local_workers import WorkerFailed
    from lib.ops.loader import OpsLibraryError
    from lib.utils.checkpoint import CheckpointError
    return (ValueError, OSError, CheckpointError, NonFiniteLossError, OpsLibraryError,
            MXNetError, WorkerFailed)


def one_line(err):
    """The message of ``err`` as one line: an MXNetError wrapping a Python error raised in
    an operator gives that inner error's message."""
    from lib.utils.checkpoint import mxnet_reason
    text = str(err).strip()
    if type(err).__name__ == 'MXNetError':
        inner = [m.group(2) for m in map(_INNER_ERROR.match, text.splitlines()) if m]
        text = inner[-1] if inner else mxnet_reason(err)
    if isinstance(err, OSError) and err.filename and err.strerror:
        text = '%s: %s' % (err.strerror.lower(), err.filename)
    return ' '.join(text.split()) or type(err).__name__


def run_main(main, argv=None):
    """Run ``main(argv)``; see the module docstring. Returns main's result."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or os.environ.get('FCIS_DEBUG', '') not in ('', '0')
    argv = [a for a in argv if a != DEBUG_FLAG]
    if debug:
        return main(argv)
    try:
        return main(argv)
    except KeyboardInterrupt:
        print('error: interrupted', file=sys.stderr)
        sys.exit(130)
    except user_error_types() as err:
        sys.exit('error: %s' % one_line(err))  # printed to stderr, exit status 1
