"""The GPU check's .npz layout: inputs and CPU-expected outputs (NumPy + stdlib only).

Arrays too large to carry (COCO-size feature maps, 170 MB each) are not stored:

* a large *input* is stored as its recipe ``<key>@synth`` = [seed, lo, hi, *shape] and regenerated
  with :func:`synth` -- integer hashing in uint32, so NumPy 1.x and 2.x give the same bits --
  plus ``<key>@sha256`` to prove the regenerated array is the one the CPU saw;
* a large *expected output* is stored as ``<key>@sha256`` (the digest of all its bytes) and
  ``<key>@sample``, its values at :func:`sample_index` positions (``<key>@shape`` gives the
  shape). Bit-identical checks compare the digest (all elements) and the sample; tolerance
  checks compare the sample.

Everything else is stored as it is. ``meta`` is a JSON string with the cases' attributes.
"""
import hashlib
import json

import numpy as np

FULL_LIMIT = 1 << 19   # arrays with more elements are stored as a recipe / digest + sample
SAMPLE_SIZE = 1 << 18  # elements in the sample of a large expected output


def _hash32(x):
    """An integer mixing function on uint32 arrays (wraps modulo 2**32)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x45D9F3B)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x45D9F3B)
    return x ^ (x >> np.uint32(16))


def synth(seed, shape, lo=-4.0, hi=4.0):
    """float32 array of `shape` with values on a 1/8192 grid in [lo, hi), a pure function of
    (seed, shape, lo, hi). Grid values make ties (equal group members) occur naturally."""
    n = int(np.prod(shape, dtype=np.int64))
    idx = np.arange(n, dtype=np.uint32) + np.uint32(seed * 0x9E3779B1 % (1 << 32))
    levels = (_hash32(idx) >> np.uint32(8)).astype(np.float64) / float(1 << 24)  # [0, 1)
    steps = np.floor(levels * ((hi - lo) * 8192.0))
    return (lo + steps / 8192.0).astype(np.float32).reshape(shape)


def sample_index(size, seed=12345):
    """Sorted distinct flat positions (int64) sampled from range(size): all of them when
    size <= SAMPLE_SIZE."""
    if size <= SAMPLE_SIZE:
        return np.arange(size, dtype=np.int64)
    idx = np.arange(SAMPLE_SIZE, dtype=np.uint32) + np.uint32(seed)
    return np.unique(_hash32(idx).astype(np.int64) % size)


def digest(array):
    """sha256 hex digest of the C-contiguous bytes of array."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def put_input(store, key, array, recipe=None):
    """Stores input `array`; recipe (seed, lo, hi): it is synth(seed, array.shape, lo, hi),
    stored as that recipe when it is large."""
    if recipe is not None and array.size > FULL_LIMIT:
        store[key + '@synth'] = np.array(list(recipe) + list(array.shape), dtype=np.float64)
        store[key + '@sha256'] = np.array(digest(array))
    else:
        store[key] = np.ascontiguousarray(array)


def get_input(npz, key):
    """The input stored under key (regenerated and digest-checked when it is a recipe)."""
    if key in npz.files:
        return npz[key]
    recipe = npz[key + '@synth']
    array = synth(int(recipe[0]), tuple(int(d) for d in recipe[3:]), recipe[1], recipe[2])
    if digest(array) != str(npz[key + '@sha256']):
        raise ValueError('gpu_check: input %s regenerated with different bits than on the CPU '
                         'side; remake the inputs with this NumPy' % key)
    return array


def put_expected(store, key, array):
    """Stores the CPU result `array`: whole when small, else digest + sample + shape."""
    array = np.ascontiguousarray(array)
    if array.size <= FULL_LIMIT:
        store[key] = array
        return
    store[key + '@sha256'] = np.array(digest(array))
    store[key + '@shape'] = np.array(array.shape, dtype=np.int64)
    store[key + '@sample'] = array.reshape(-1)[sample_index(array.size)]


def get_expected(npz, key):
    """(whole array or None, sample values, sample positions, digest or None, shape)."""
    if key in npz.files:
        whole = npz[key]
        return whole, whole.reshape(-1), np.arange(whole.size), None, whole.shape
    shape = tuple(int(d) for d in npz[key + '@shape'])
    size = int(np.prod(shape, dtype=np.int64))
    return (None, npz[key + '@sample'], sample_index(size), str(npz[key + '@sha256']), shape)


def put_meta(store, meta):
    store['meta'] = np.array(json.dumps(meta, sort_keys=True))


def get_meta(npz):
    return json.loads(str(npz['meta']))


def synth_input(store, key, seed, shape, lo=-4.0, hi=4.0):
    """synth(seed, shape, lo, hi), stored under key (as its recipe when large); returns it."""
    array = synth(seed, shape, lo, hi)
    put_input(store, key, array, (seed, lo, hi))
    return array
