"""Safe reading of pickled arrays: an unpickler that builds only NumPy arrays, dtypes,
scalars and (ordered) dicts/lists, so a hostile pretrained file cannot run code."""
import codecs
import io
import pickle
from collections import OrderedDict

import numpy as np

EXPORT_HINT = ("export the state dict as NumPy arrays with PyTorch, e.g. python -c \"import "
               "torch, numpy as np; sd = torch.load('resnet101.pth', map_location='cpu'); "
               "np.savez('resnet101.npz', **{k: v.numpy() for k, v in sd.items()})\", and "
               "convert the .npz (see model/README.md)")

# (module suffix, name) a pickle of NumPy arrays refers to -> the object that builds it.
# NumPy 1 writes 'numpy.core.<suffix>', NumPy 2 'numpy._core.<suffix>'.
_NUMPY_GLOBALS = {
    ('multiarray', '_reconstruct'): np.core.multiarray._reconstruct,
    ('multiarray', 'scalar'): np.core.multiarray.scalar,
    ('numeric', '_frombuffer'): getattr(np.core.numeric, '_frombuffer', None),
}
_ALLOWED = {('numpy', 'ndarray'): np.ndarray, ('numpy', 'dtype'): np.dtype,
            ('collections', 'OrderedDict'): OrderedDict,
            ('_codecs', 'encode'): codecs.encode}  # how protocol 2 writes bytes in Python 3


class ConvertError(ValueError):
    """A source file cannot be converted; the message names the file/tensors and the fix."""


def allowed_global(module, name):
    """The NumPy / container object a pickle may refer to, or None."""
    if (module, name) in _ALLOWED:
        return _ALLOWED[(module, name)]
    for prefix in ('numpy.core.', 'numpy._core.'):
        if module.startswith(prefix):
            return _NUMPY_GLOBALS.get((module[len(prefix):], name))
    return None


class ArrayUnpickler(pickle.Unpickler):
    """Unpickler that builds only NumPy arrays, dtypes, scalars and (ordered) dicts.
    latin1 decodes the Python 2 pickles of Detectron (its str blobs are raw bytes)."""

    def __init__(self, stream):
        super().__init__(stream, encoding='latin1')

    def find_class(self, module, name):
        found = allowed_global(module, name)
        if found is None:
            raise ConvertError('the pickle refers to %s.%s, which is not a NumPy array; %s'
                               % (module, name, EXPORT_HINT))
        return found


def load_pickle(data):
    """bytes of a pickle of arrays/dicts -> the object."""
    return ArrayUnpickler(io.BytesIO(data)).load()
