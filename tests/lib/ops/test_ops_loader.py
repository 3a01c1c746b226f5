"""The operator library loader: load once, clear errors for a missing or stale library."""
import os

import mxnet as mx
import pytest

import setup
from lib.ops import loader


def test_missing_library_names_file_and_build_command(tmp_path):
    missing = str(tmp_path / 'libfcis_ops.so')
    with pytest.raises(loader.OpsLibraryError) as info:
        loader.load_ops(missing)
    message = str(info.value)
    assert missing in message and 'missing' in message
    assert 'sh init.sh' in message and 'python setup.py build_ext --inplace' in message


def test_stale_library_names_the_newer_source(tmp_path):
    library = tmp_path / 'libfcis_ops.so'
    source = tmp_path / 'op.cc'
    library.write_bytes(b'')
    source.write_text('// newer')
    os.utime(library, (1000, 1000))
    with pytest.raises(loader.OpsLibraryError) as info:
        loader.check_library(str(library), [str(source)])
    message = str(info.value)
    assert 'stale' in message and str(source) in message and 'sh init.sh' in message
    loader.check_library(str(library), [])  # nothing newer: no error


def test_sources_checked_are_those_setup_builds():
    assert os.path.join(setup.ROOT, setup.OPERATOR_LIBRARY['output']) == loader.LIBRARY_PATH
    checked = set(loader.native_sources())
    for source in setup.OPERATOR_LIBRARY['cpu_sources']:
        assert os.path.join(setup.ROOT, source) in checked
    headers = [s for s in checked if s.endswith('.h')]
    assert any(h.endswith('psroi_pooling.h') for h in headers)
    assert any(h.endswith('channel_operator.h') for h in headers)


def test_load_ops_once_registers_every_operator():
    first = loader.load_ops()
    assert loader.load_ops() == first == loader.LIBRARY_PATH
    assert hasattr(mx.nd, 'PSROIPooling') and hasattr(mx.sym, 'ChannelOperator')
    assert hasattr(mx.nd, 'SpatialMean') and hasattr(mx.sym, 'SpatialMean')
