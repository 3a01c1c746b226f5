"""lib.utils.cuda_paths: the libcudart search setup.py and the CUDA build tests share."""
import os

import setup
from lib.utils import cuda_paths


def fake_home(folder, with_library=True):
    os.makedirs(os.path.join(folder, 'lib64'))
    if with_library:
        open(os.path.join(folder, 'lib64', 'libcudart.so'), 'wb').close()
    return folder


def test_first_home_holding_libcudart_wins(tmp_path, monkeypatch):
    empty = fake_home(str(tmp_path / 'empty'), with_library=False)
    second = fake_home(str(tmp_path / 'second'))
    monkeypatch.setenv('CUDA_HOME', empty)                   # no libcudart.so: skipped
    monkeypatch.setenv('CUDA_PATH', second)
    assert cuda_paths.cuda_homes()[:3] == [empty, second, '/usr/local/cuda']
    assert cuda_paths.cuda_lib_dir() == os.path.join(second, 'lib64')
    assert setup.cuda_library_dirs() == [os.path.join(second, 'lib64')]


def test_no_libcudart_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv('CUDA_HOME', raising=False)
    monkeypatch.delenv('CUDA_PATH', raising=False)
    monkeypatch.setenv('PATH', str(tmp_path))                 # no nvcc
    monkeypatch.setattr(cuda_paths.os.path, 'exists',
                        lambda path: not path.endswith('libcudart.so'))
    assert cuda_paths.cuda_homes() == ['/usr/local/cuda']
    assert cuda_paths.cuda_lib_dir() is None
    assert setup.cuda_library_dirs() == []
