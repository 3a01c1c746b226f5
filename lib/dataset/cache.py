"""Pickle caches of parsed annotations.

A cache file holds ``{'key': key, 'data': data}``. ``load_cache`` returns the data only
when the stored key equals the expected one (the key fingerprints the annotation files,
so an edited annotation file rebuilds the cache); a corrupt file is reported with a
warning and treated as missing. ``save_cache`` writes to a temporary file in the same
folder and renames it, so a reader never sees a half-written cache.
"""
import hashlib
import logging
import os
import pickle

from lib.utils.atomic import atomic_path

logger = logging.getLogger(__name__)

# Bump when the layout of cached roidb entries changes: old caches are then rebuilt.
CACHE_FORMAT = 2


def file_sha1(path, chunk_size=1 << 22):
    """SHA-1 hex digest of a file's content."""
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk_size), b''):
            digest.update(block)
    return digest.hexdigest()


def stat_fingerprint(paths):
    """SHA-1 over (name, size, mtime) of many files: cheap, changes when any file changes."""
    digest = hashlib.sha1()
    for path in paths:
        try:
            st = os.stat(path)
            digest.update(('%s|%d|%d\n' % (path, st.st_size, st.st_mtime_ns)).encode())
        except OSError:
            digest.update(('%s|missing\n' % path).encode())
    return digest.hexdigest()


def load_cache(path, key):
    """Return the cached data at ``path`` if its key equals ``key``; otherwise None.

    A missing file or a stale key returns None quietly; an unreadable or corrupt file
    logs a warning and returns None (the caller rebuilds and overwrites it).
    """
    if not os.path.exists(path):
        return None
    try:
        with open(path, 'rb') as f:
            content = pickle.load(f)
        if not isinstance(content, dict) or 'key' not in content or 'data' not in content:
            raise ValueError('not a cache file written by lib.dataset.cache')
    except Exception as exc:  # corrupt pickle, truncated file, wrong format
        logger.warning('cache %s is corrupt (%s: %s); rebuilding it', path, type(exc).__name__, exc)
        return None
    if content['key'] != key:
        logger.info('cache %s is out of date; rebuilding it', path)
        return None
    return content['data']


def save_cache(path, key, data):
    """Atomically write ``data`` with ``key`` to ``path`` (temporary file + rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            pickle.dump({'key': key, 'data': data}, f, protocol=pickle.HIGHEST_PROTOCOL)
    logger.info('wrote cache %s', path)
