"""create_logger: console + file, no duplicated handlers on a second call."""
import logging

from lib.utils.logger import create_logger


def test_lines_go_to_console_and_file(tmp_path, capsys):
    out = tmp_path / 'run' / 'sub'
    logger = create_logger(str(out), name='test_logger_a')
    logger.info('hello %d', 42)
    logger.debug('not shown at INFO')
    for h in logger.handlers:
        h.flush()
    text = (out / 'train.log').read_text()
    assert 'hello 42' in text and 'INFO' in text and 'not shown' not in text
    assert 'hello 42' in capsys.readouterr().err


def test_second_call_replaces_handlers_and_appends(tmp_path, capsys):
    create_logger(str(tmp_path), name='test_logger_b').info('first run')
    logger = create_logger(str(tmp_path), name='test_logger_b', filename='train.log')
    logger.info('second run')
    for h in logger.handlers:
        h.flush()
    assert len(logger.handlers) == 2
    lines = (tmp_path / 'train.log').read_text().splitlines()
    assert [l.split(' ', 3)[-1] for l in lines] == ['first run', 'second run']
    assert capsys.readouterr().err.count('second run') == 1
    quiet = create_logger(str(tmp_path), name='test_logger_c', filename='q.log', console=False,
                          level=logging.DEBUG)
    quiet.debug('dbg')
    assert 'dbg' not in capsys.readouterr().err
