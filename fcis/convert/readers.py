"""Read a pretrained source file into {name: np.ndarray} without executing its contents.

Accepted files:

* a pickle (Python 2 or 3) of a dict of NumPy arrays: Detectron's ``R-101.pkl``
  ({'blobs': {...}} or the plain dict), or a torchvision state dict exported as arrays;
* a NumPy ``.npz`` archive of named arrays;
* a ``torch.save`` file (zip or legacy format) of a state dict, read by
  ``fcis.convert.torch_reader`` without PyTorch.

Pickles are read by an unpickler that only builds NumPy arrays, dicts and lists (any other
class is refused by name), so a hostile file cannot run code.
"""
import io
import zipfile

import numpy as np

from fcis.convert import torch_reader
from fcis.convert.pickle_reader import EXPORT_HINT, ConvertError, load_pickle


def _unwrap(obj, path):
    """The {name: array} dict inside Detectron's {'blobs': ...} or a checkpoint's
    {'state_dict': ...} / {'model': ...}; the object itself otherwise."""
    if not isinstance(obj, dict):
        raise ConvertError('%s holds a %s, not a dict of named arrays; %s'
                           % (path, type(obj).__name__, EXPORT_HINT))
    for key in ('blobs', 'state_dict', 'model'):
        if isinstance(obj.get(key), dict):
            return obj[key]
    return obj


def _as_arrays(named, path):
    """{name: value} -> {name: np.ndarray}; a value that is no number/array is an error."""
    arrays = {}
    for name, value in named.items():
        array = np.asarray(value)
        if array.dtype.kind not in 'biuf':
            raise ConvertError("%s: entry '%s' is a %s, not a numeric array; %s"
                               % (path, name, type(value).__name__, EXPORT_HINT))
        arrays[str(name)] = array
    return arrays


def read_source(path):
    """Read ``path`` -> {tensor name: np.ndarray}. Raises ConvertError with the fix."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except OSError as err:
        raise ConvertError('cannot read the pretrained source %s: %s' % (path, err.strerror))
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if names and all(n.endswith('.npy') for n in names):
                with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                    return _as_arrays({k: npz[k] for k in npz.files}, path)
            obj = torch_reader.load_zip(archive, path)
    elif torch_reader.is_legacy(data):
        obj = torch_reader.load_legacy(data, path)
    else:
        try:
            obj = load_pickle(data)
        except ConvertError:
            raise
        except Exception as err:  # noqa: BLE001  (any unreadable pickle: one clear line)
            raise ConvertError('%s is not a pickle of arrays, an .npz or a torch.save file '
                               '(%s: %s); %s' % (path, type(err).__name__, err, EXPORT_HINT))
    return _as_arrays(_unwrap(obj, path), path)
