"""Read a ``torch.save`` file of tensors (a state dict) into NumPy arrays without PyTorch.

Two layouts exist:

* zip (PyTorch >= 1.6): ``<root>/data.pkl`` is the pickled object, whose tensors call
  ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` and whose
  storages are persistent ids ``('storage', torch.FloatStorage, key, location, numel)``
  with the raw little-endian bytes in ``<root>/data/<key>`` (``<root>/byteorder`` may say
  'big');
* legacy: consecutive pickles (magic number, protocol 1001, system info, the object with
  persistent ids ``('storage', type, key, location, numel, view)``, the list of storage
  keys), then each storage as an int64 element count and its raw bytes.

Only tensors, storages and the NumPy/dict globals of ``pickle_reader`` are built; any other
global (a module, a custom class) is refused with the export instructions.
"""
import io
import pickle
import struct

import numpy as np

from fcis.convert.pickle_reader import EXPORT_HINT, ArrayUnpickler, ConvertError

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_HEADER = pickle.dumps(LEGACY_MAGIC, protocol=2)
# storage class name -> NumPy dtype of its elements ('bfloat16' is widened to float32)
STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
    'BFloat16Storage': np.uint16, 'LongStorage': np.int64, 'IntStorage': np.int32,
    'ShortStorage': np.int16, 'CharStorage': np.int8, 'ByteStorage': np.uint8,
    'BoolStorage': np.bool_, 'UntypedStorage': np.uint8,
}


class StorageType:
    """Stand-in for ``torch.<Name>Storage`` in a pickle."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class LazyTensor:
    """A tensor whose storage bytes may arrive after the pickle (legacy layout)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def to_numpy(self, storages):
        """The tensor as a contiguous array. storages: {key: (flat array, storage name)}."""
        key, view_offset = self.storage
        flat, name = storages[key]
        start = view_offset + self.offset
        if not self.size:
            array = flat[start:start + 1].reshape(())
        else:
            need = start + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
            if min(self.size) > 0 and need > flat.size:
                raise ConvertError('a tensor of shape %s needs %d elements of storage %s, '
                                   'which has %d' % (self.size, need, key, flat.size))
            step = flat.itemsize
            array = np.lib.stride_tricks.as_strided(
                flat[start:], shape=self.size, strides=[s * step for s in self.stride])
        if name == 'BFloat16Storage':  # upper 16 bits of a float32
            return (array.astype(np.uint32) << 16).view(np.float32)
        return np.array(array)


def _rebuild_tensor(storage, offset, size, stride, *unused):
    """torch._utils._rebuild_tensor / _rebuild_tensor_v2 (extra args: grad flag, hooks)."""
    return LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
    """torch._utils._rebuild_parameter: a Parameter is its data here."""
    return data


_TORCH_GLOBALS = {('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
                  ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
                  ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
                  ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
                  ('torch', 'Size'): tuple}


class TorchUnpickler(ArrayUnpickler):
    """Unpickler of a torch.save object: storages become (key, element offset) pairs and
    their (type name, element count) are collected in ``self.storage_types``."""

    def __init__(self, stream):
        super().__init__(stream)
        self.storage_types = {}

    def find_class(self, module, name):
        if module == 'torch' and name in STORAGE_DTYPES:
            return StorageType(name)
        if (module, name) in _TORCH_GLOBALS:
            return _TORCH_GLOBALS[(module, name)]
        return super().find_class(module, name)

    def persistent_load(self, pid):
        kind = pid[0].decode('ascii') if isinstance(pid[0], bytes) else pid[0]
        if kind != 'storage' or not isinstance(pid[1], StorageType):
            raise ConvertError('unsupported torch.save entry %r; %s' % (pid[:2], EXPORT_HINT))
        storage_type, key, numel = pid[1], _text(pid[2]), int(pid[4])
        self.storage_types[key] = (storage_type, numel)
        view = pid[5] if len(pid) > 5 else None
        if view:  # legacy view of a root storage: (view key, element offset, view size)
            return key, int(view[1])
        return key, 0


def _text(value):
    return value.decode('ascii') if isinstance(value, bytes) else str(value)


def _resolve(obj, storages):
    """Replace every LazyTensor in (nested) dicts/lists by its NumPy array."""
    if isinstance(obj, LazyTensor):
        return obj.to_numpy(storages)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, storages)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, storages) for v in obj)
    return obj


def load_zip(archive, path):
    """Read the object of a torch.save zip ``archive`` (zipfile.ZipFile) with NumPy arrays."""
    pickles = [n for n in archive.namelist() if n.endswith('data.pkl')]
    if len(pickles) != 1:
        raise ConvertError('%s is a zip file but neither an .npz nor a torch.save file (no '
                           'single data.pkl); %s' % (path, EXPORT_HINT))
    root = pickles[0][:-len('data.pkl')]
    unpickler = TorchUnpickler(io.BytesIO(archive.read(pickles[0])))
    obj = unpickler.load()
    names = set(archive.namelist())
    big = root + 'byteorder' in names and archive.read(root + 'byteorder').strip() == b'big'
    storages = {}
    for key, (storage_type, numel) in unpickler.storage_types.items():
        dtype = storage_type.dtype.newbyteorder('>' if big else '<')
        raw = archive.read(root + 'data/' + key)
        flat = np.frombuffer(raw, dtype=dtype, count=numel).astype(storage_type.dtype)
        storages[key] = (flat, storage_type.name)
    return _resolve(obj, storages)


def is_legacy(data):
    """True when ``data`` (bytes) starts like a legacy (pre-zip) torch.save file."""
    return data.startswith(_LEGACY_HEADER)


def load_legacy(data, path):
    """Read the object of a legacy torch.save file (bytes) with NumPy arrays."""
    stream = io.BytesIO(data)
    for _ in range(3):  # magic number, protocol version, system info
        ArrayUnpickler(stream).load()
    unpickler = TorchUnpickler(stream)
    obj = unpickler.load()
    keys = [_text(k) for k in ArrayUnpickler(stream).load()]
    storages = {}
    for key in keys:
        storage_type, numel = unpickler.storage_types[key]
        count = struct.unpack('<q', stream.read(8))[0]
        if count != numel:
            raise ConvertError('%s: storage %s holds %d elements, its header says %d; the file '
                               'is damaged or not a torch.save file' % (path, key, count, numel))
        raw = stream.read(count * storage_type.dtype.itemsize)
        flat = np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder('<'), count=count)
        storages[key] = (flat.astype(storage_type.dtype), storage_type.name)
    return _resolve(obj, storages)
