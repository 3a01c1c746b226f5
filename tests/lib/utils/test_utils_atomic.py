"""lib.utils.atomic: content written, nothing left beside the target, old file kept on failure."""
import json
import os

import pytest

from lib.utils.atomic import (atomic_path, temporary_path, write_bytes_atomic, write_json_atomic,
                              write_text_atomic)


def test_writers_round_trip_and_leave_only_the_target(tmp_path):
    folder = tmp_path / 'new' / 'folder'                    # created on the way
    write_bytes_atomic(str(folder / 'a.bin'), b'\x00\xffab')
    write_text_atomic(str(folder / 'b.txt'), 'line 1\nline 2\n')
    assert write_json_atomic(str(folder / 'c.json'), {'x': [1, 2.5]}, indent=1) == \
        str(folder / 'c.json')
    assert sorted(os.listdir(str(folder))) == ['a.bin', 'b.txt', 'c.json']
    assert (folder / 'a.bin').read_bytes() == b'\x00\xffab'
    assert (folder / 'b.txt').read_text() == 'line 1\nline 2\n'
    assert (folder / 'c.json').read_text() == '{\n "x": [\n  1,\n  2.5\n ]\n}'
    write_text_atomic(str(folder / 'b.txt'), 'replaced')
    assert (folder / 'b.txt').read_text() == 'replaced'


def test_failed_write_keeps_the_old_file(tmp_path):
    path = str(tmp_path / 'state.json')
    write_json_atomic(path, {'epoch': 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {'epoch': object()})          # not serializable: fails mid-write
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path) as tmp:
            with open(tmp, 'w') as f:
                f.write('{"epoch": 2')
            raise KeyboardInterrupt
    assert os.listdir(str(tmp_path)) == ['state.json']
    with open(path) as f:
        assert json.load(f) == {'epoch': 1}


def test_temporary_names_are_beside_the_target_distinct_and_keep_the_suffix(tmp_path):
    path = str(tmp_path / 'curves.png')
    names = {temporary_path(path, '.png') for _ in range(3)}
    assert len(names) == 3
    for name in names:
        assert os.path.dirname(name) == str(tmp_path) and name.endswith('.tmp.png')
        assert name.startswith(path + '.%d-' % os.getpid())
    with atomic_path(path, suffix='.png') as tmp:
        assert tmp.endswith('.tmp.png')
        with open(tmp, 'wb') as f:
            f.write(b'png')
    assert os.listdir(str(tmp_path)) == ['curves.png']
