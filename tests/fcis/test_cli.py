"""fcis.cli: user-caused failures become one 'error: ...' line, --debug lets them through."""
import mxnet as mx
import pytest

from fcis.cli import one_line, run_main


def failing_main(error):
    def main(argv):
        assert '--debug' not in argv
        raise error
    return main


def test_user_error_is_one_line_and_exit_status_1():
    with pytest.raises(SystemExit) as exit_info:
        run_main(failing_main(ValueError("bad key 'X'\n  in cfg.yaml")), ['--cfg', 'a.yaml'])
    assert exit_info.value.code == "error: bad key 'X' in cfg.yaml"   # sys.exit(str): status 1


def test_debug_shows_the_exception():
    with pytest.raises(ValueError, match='bad'):
        run_main(failing_main(ValueError('bad')), ['--debug'])


def test_programming_errors_are_not_hidden():
    with pytest.raises(TypeError):
        run_main(failing_main(TypeError('a bug')), [])


def test_mxnet_error_gives_the_operator_message():
    wrapped = mx.base.MXNetError('Traceback (most recent call last):\n  File "x.py", line 3\n'
                                 'ValueError: fcis_proposal: rpn_post_nms_top_n=0 must be >= 1\n'
                                 '[bt] (0) libmxnet.so')
    assert one_line(wrapped) == 'fcis_proposal: rpn_post_nms_top_n=0 must be >= 1'
    plain = mx.base.MXNetError('[bt] frames\nMXNetError: Check failed: header == magic')
    assert one_line(plain) == 'Check failed: header == magic'


def test_os_error_names_the_file():
    err = FileNotFoundError(2, 'No such file or directory', '/data/x.json')
    assert one_line(err) == 'no such file or directory: /data/x.json'
