"""Atomic file writes.

The new content goes to a temporary file beside the target (same folder, so the rename never
crosses file systems), which is flushed to disk (fsync) and renamed over the target with
``os.replace``; the folder is fsync'ed after the rename. A reader, or a process killed while
writing, finds the old file or the new one, never a partial one. A write that fails removes
its temporary file and leaves the target as it was.

This module needs nothing but the standard library: setup.py loads it by path.
"""
import contextlib
import itertools
import json
import os

_SERIAL = itertools.count()


def temporary_path(path, suffix=''):
    """``<path>.<pid>-<n>.tmp<suffix>``: a name beside ``path`` that no other write of this
    process or of another one uses. suffix: an extension the writer needs (e.g. '.png')."""
    return '%s.%d-%d.tmp%s' % (path, os.getpid(), next(_SERIAL), suffix)


def fsync_dir(directory):
    """Flush a folder's entries (a rename in it) to disk, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, suffix=''):
    """Yield a temporary path for the caller to write ``path``'s new content to; when the
    block ends without an exception it becomes ``path`` (fsync, os.replace, fsync of the
    folder), otherwise it is removed. The folder of ``path`` is created if missing.

        with atomic_path(png_path, suffix='.png') as tmp:
            figure.savefig(tmp)
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(folder)


def write_bytes_atomic(path, data):
    """Write ``data`` (bytes) to ``path`` atomically; returns path."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)
    return path


def write_text_atomic(path, text):
    """Write ``text`` (str, UTF-8) to ``path`` atomically; returns path."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
    return path


def write_json_atomic(path, obj, indent=None):
    """Write ``obj`` as JSON (json.dump, streamed) to ``path`` atomically; returns path."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(obj, f, indent=indent)
    return path
