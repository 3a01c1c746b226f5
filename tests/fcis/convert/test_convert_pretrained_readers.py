"""Reading pretrained source files without PyTorch: pickles of arrays (Python 2 style
Detectron blobs too), .npz, and torch.save zip / legacy files written here byte for byte
in PyTorch's layout (storages, _rebuild_tensor_v2, views and strides); hostile pickles
are refused."""
import io
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from fcis.convert.pickle_reader import ConvertError
from fcis.convert.readers import read_source
from fcis.convert.torch_reader import LEGACY_MAGIC

RNG = np.random.default_rng(5)
STATE = OrderedDict([
    ('conv1.weight', RNG.standard_normal((4, 3, 7, 7)).astype(np.float32)),
    ('bn1.running_var', RNG.uniform(0.5, 2, 4).astype(np.float32)),
    ('bn1.num_batches_tracked', np.array(7, dtype=np.int64)),
    ('fc.weight', RNG.standard_normal((5, 6)).astype(np.float64)),
])


def assert_same(read, expected):
    assert sorted(read) == sorted(expected)
    for name, value in expected.items():
        assert read[name].dtype == value.dtype and read[name].shape == value.shape, name
        np.testing.assert_array_equal(read[name], value)


class FakeStorage:
    """A torch storage to pickle: flat data of a dtype, pickled by persistent id."""

    def __init__(self, key, flat):
        self.key, self.flat = key, flat


class _Torch:
    """Stand-in 'torch' and 'torch._utils' modules so that the pickle names torch's globals."""
    def __init__(self):
        self.torch = types.ModuleType('torch')
        self.utils = types.ModuleType('torch._utils')
        for name in ('FloatStorage', 'DoubleStorage', 'LongStorage'):
            setattr(self.torch, name, type(name, (), {'__module__': 'torch'}))

        def _rebuild_tensor_v2(*args):
            raise AssertionError('only pickled here')
        _rebuild_tensor_v2.__module__ = 'torch._utils'
        _rebuild_tensor_v2.__qualname__ = '_rebuild_tensor_v2'
        self.utils._rebuild_tensor_v2 = _rebuild_tensor_v2
        self.torch._utils = self.utils

    def storage_class(self, dtype):
        name = {np.float32: 'FloatStorage', np.float64: 'DoubleStorage',
                np.int64: 'LongStorage'}[np.dtype(dtype).type]
        return getattr(self.torch, name)


def torch_pickle(obj, torch, tensor_views, legacy):
    """Pickle ``obj`` like torch.save: each array becomes _rebuild_tensor_v2(storage, offset,
    size, stride, False, OrderedDict()); ``tensor_views`` {id(array): (storage flat array,
    offset, stride)} puts a tensor inside a bigger storage with its own strides.
    Returns (pickle bytes, {key: FakeStorage})."""
    storages = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, value):
            if isinstance(value, FakeStorage):
                pid = ('storage', torch.storage_class(value.flat.dtype), value.key, 'cpu',
                       value.flat.size)
                return pid + (None,) if legacy else pid
            return None

        def reducer_override(self, value):
            if not isinstance(value, np.ndarray):
                return NotImplemented
            flat, offset, stride = tensor_views.get(
                id(value), (value.ravel(), 0, tuple(s // value.itemsize for s in value.strides)))
            key = str(len(storages))
            storages[key] = FakeStorage(key, flat)
            return torch.utils._rebuild_tensor_v2, (storages[key], offset, value.shape, stride,
                                                    False, OrderedDict())

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue(), storages


def write_torch_zip(path, obj, torch, views=None):
    data, storages = torch_pickle(obj, torch, views or {}, legacy=False)
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as archive:
        archive.writestr('archive/data.pkl', data)
        archive.writestr('archive/byteorder', 'little')
        for key, storage in storages.items():
            little_endian = storage.flat.astype(storage.flat.dtype.newbyteorder('<'))
            archive.writestr('archive/data/' + key, little_endian.tobytes())
        archive.writestr('archive/version', '3\n')


def write_torch_legacy(path, obj, torch, views=None):
    data, storages = torch_pickle(obj, torch, views or {}, legacy=True)
    with open(path, 'wb') as f:
        for header in (LEGACY_MAGIC, 1001, {'protocol_version': 1001, 'little_endian': True}):
            pickle.dump(header, f, protocol=2)
        f.write(data)
        pickle.dump(list(storages), f, protocol=2)
        for storage in storages.values():
            f.write(struct.pack('<q', storage.flat.size) + storage.flat.tobytes())


@pytest.fixture
def torch(monkeypatch):
    fake = _Torch()
    monkeypatch.setitem(sys.modules, 'torch', fake.torch)
    monkeypatch.setitem(sys.modules, 'torch._utils', fake.utils)
    return fake


def test_pickle_of_arrays_and_detectron_blobs(tmp_path):
    plain = tmp_path / 'state.pkl'
    plain.write_bytes(pickle.dumps(STATE, protocol=4))
    assert_same(read_source(str(plain)), STATE)
    blobs = tmp_path / 'R-101.pkl'  # Detectron: {'blobs': {...}}, protocol 2 like Python 2
    blobs.write_bytes(pickle.dumps({'blobs': dict(STATE)}, protocol=2))
    assert_same(read_source(str(blobs)), STATE)


class Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 str (BINSTRING), as Detectron's Python 2 pickles hold them."""
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, value):
        self.write(b'T' + struct.pack('<i', len(value)) + value)
        self.memoize(value)
    dispatch[bytes] = save_py2_str


def test_python2_pickle_of_arrays_reads_with_latin1(tmp_path):
    buf = io.BytesIO()
    Python2Pickler(buf, protocol=2).dump({'blobs': dict(STATE)})
    assert b'_codecs' not in buf.getvalue() and b'T' in buf.getvalue()
    path = tmp_path / 'R-101.pkl'
    path.write_bytes(buf.getvalue())
    assert_same(read_source(str(path)), STATE)


def test_npz(tmp_path):
    path = tmp_path / 'resnet101.npz'
    np.savez(path, **STATE)
    assert_same(read_source(str(path)), STATE)


@pytest.mark.parametrize('writer', [write_torch_zip, write_torch_legacy])
def test_torch_save_files_read_without_pytorch(tmp_path, torch, writer):
    state = OrderedDict(STATE)
    big = RNG.standard_normal(20).astype(np.float32)
    # a (3, 2) tensor at element offset 5 with strides (1, 3): a transposed view
    state['layer1.0.conv1.weight'] = big[5:11].reshape(2, 3).T.copy()
    views = {id(state['layer1.0.conv1.weight']): (big, 5, (1, 3))}
    path = tmp_path / 'resnet101.pth'
    writer(str(path), state, torch, views)
    del sys.modules['torch'], sys.modules['torch._utils']  # reading needs no torch module
    assert_same(read_source(str(path)), state)


def test_torch_zip_state_dict_under_a_key(tmp_path, torch):
    path = tmp_path / 'checkpoint.pth'
    write_torch_zip(str(path), {'state_dict': STATE}, torch)
    del sys.modules['torch'], sys.modules['torch._utils']
    assert_same(read_source(str(path)), STATE)


def test_hostile_pickle_is_refused_without_running_it(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ('pwned',))
    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps({'conv1_w': Boom()}))
    with pytest.raises(ConvertError, match=r'builtins\.print.*np\.savez'):
        read_source(str(path))


def test_unreadable_files_are_one_clear_error(tmp_path):
    with pytest.raises(ConvertError, match='cannot read the pretrained source'):
        read_source(str(tmp_path / 'absent.pkl'))
    junk = tmp_path / 'junk.pkl'
    junk.write_bytes(b'not a pickle at all')
    with pytest.raises(ConvertError, match='junk.pkl is not a pickle of arrays'):
        read_source(str(junk))
    listing = tmp_path / 'list.pkl'
    listing.write_bytes(pickle.dumps([np.zeros(3)]))
    with pytest.raises(ConvertError, match='holds a list, not a dict'):
        read_source(str(listing))
