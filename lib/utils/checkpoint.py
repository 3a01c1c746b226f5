"""Atomic, verifiable checkpoints (model-independent part).

A checkpoint of epoch E under ``<directory>/<prefix>`` is three files:

    <prefix>-EEEE.params         arg/aux NDArrays, keys 'arg:<name>' / 'aux:<name>' (the
                                 layout of ``mx.model.save_checkpoint``, so MXNet tools load it)
    <prefix>-EEEE.states         optimizer states (opaque bytes), optional
    <prefix>-EEEE.manifest.json  written LAST: names, sizes and SHA-256 of the files above,
                                 plus free-form metadata (update count, seed, ...)

Each file is written atomically (lib.utils.atomic: a temporary file beside it, fsync'ed and
renamed with ``os.replace``), so a killed process leaves either the old file or the new one.
A checkpoint is complete exactly when its manifest exists; an epoch without a manifest
(interrupted write) is ignored by :func:`find_last_checkpoint`. A manifest whose files are
missing or differ from the recorded size/hash is corruption and raises :class:`CheckpointError` naming the file.

Any single .params file (a checkpoint's, a pretrained or converted model) is written by
:func:`save_params` and read by :func:`read_params` / :func:`load_params`.
"""
import hashlib
import json
import os
import re

import mxnet as mx
import numpy as np

from lib.utils.atomic import atomic_path, write_bytes_atomic
from lib.utils.ndarray_copy import to_ndarray

MANIFEST_SUFFIX = '.manifest.json'
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint or .params file is missing, incomplete or corrupt; the message names the
    file."""


def checkpoint_paths(directory, prefix, epoch):
    """{'params', 'states', 'manifest'} -> file paths of the checkpoint of ``epoch``."""
    base = os.path.join(directory, '%s-%04d' % (prefix, epoch))
    return {'params': base + '.params', 'states': base + '.states',
            'manifest': base + MANIFEST_SUFFIX}


def file_sha256(path):
    """Hex SHA-256 of a file (read in 4 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 22), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _cpu_ndarray(value):
    """An NDArray on the CPU of an NDArray or a NumPy array (which keeps its dtype)."""
    if isinstance(value, mx.nd.NDArray):
        return value.as_in_context(mx.cpu())
    value = np.asarray(value)
    return to_ndarray(value, ctx=mx.cpu(), dtype=value.dtype)


def save_params(path, arg_params, aux_params):
    """Write {name: NDArray or NumPy array} dicts as one MXNet .params file (keys
    'arg:<name>' / 'aux:<name>'), atomically. Returns ``path``."""
    merged = {'arg:%s' % k: _cpu_ndarray(v) for k, v in arg_params.items()}
    merged.update({'aux:%s' % k: _cpu_ndarray(v) for k, v in aux_params.items()})
    with atomic_path(path) as tmp:
        mx.nd.save(tmp, merged)
    return path


def mxnet_reason(err):
    """The reason an MXNetError gives, one line: its last non-empty line (the C++ stack frames
    come first), without the 'MXNetError: ' prefix."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reason = lines[-1] if lines else type(err).__name__
    return reason[len('MXNetError: '):] if reason.startswith('MXNetError: ') else reason


def read_params(path):
    """Read an MXNet .params file -> (arg_params, aux_params, unprefixed), {name: NDArray}
    dicts: keys 'arg:<name>' / 'aux:<name>' by name, any other key as it is (files saved
    without the prefixes). CheckpointError naming the file if missing, unreadable or unnamed."""
    if not os.path.isfile(path):
        raise CheckpointError('parameter file not found: %s' % path)
    try:
        saved = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise CheckpointError('cannot read parameter file %s (corrupt or truncated, or not an '
                              'MXNet .params file): %s' % (path, mxnet_reason(err)))
    if not isinstance(saved, dict):
        raise CheckpointError("parameter file %s holds an unnamed NDArray list; an MXNet "
                              ".params file maps 'arg:<name>' / 'aux:<name>' to arrays" % path)
    arg_params, aux_params, unprefixed = {}, {}, {}
    for key, value in saved.items():
        kind, _, name = key.partition(':')
        if kind == 'arg' and name:
            arg_params[name] = value
        elif kind == 'aux' and name:
            aux_params[name] = value
        else:
            unprefixed[key] = value
    return arg_params, aux_params, unprefixed


def load_params(path):
    """Read a .params file whose every key is 'arg:<name>' / 'aux:<name>' -> (arg_params,
    aux_params); CheckpointError naming it if unreadable or a key lacks the prefix."""
    arg_params, aux_params, unprefixed = read_params(path)
    if unprefixed:
        raise CheckpointError("parameter file %s has key %r without 'arg:'/'aux:'"
                              % (path, sorted(unprefixed)[0]))
    return arg_params, aux_params


def _describe(path):
    return {'file': os.path.basename(path), 'size': os.path.getsize(path),
            'sha256': file_sha256(path)}


def save_checkpoint(directory, prefix, epoch, arg_params, aux_params, write_states=None,
                    meta=None):
    """Write the checkpoint of ``epoch``; the manifest last. Returns the manifest path.

    write_states: None (no optimizer states), bytes, or ``fn(tmp_path)`` writing the file.
    meta: JSON-serializable dict stored in the manifest (e.g. num_update, seed).
    """
    os.makedirs(directory, exist_ok=True)
    paths = checkpoint_paths(directory, prefix, epoch)
    if os.path.exists(paths['manifest']):   # rewriting an epoch: it is incomplete meanwhile
        os.remove(paths['manifest'])
    save_params(paths['params'], arg_params, aux_params)
    files = {'params': _describe(paths['params'])}
    if write_states is not None:
        if isinstance(write_states, (bytes, bytearray)):
            write_bytes_atomic(paths['states'], bytes(write_states))
        else:
            with atomic_path(paths['states']) as tmp:
                write_states(tmp)
        files['states'] = _describe(paths['states'])
    manifest = {'format': FORMAT_VERSION, 'prefix': prefix, 'epoch': int(epoch),
                'files': files, 'meta': meta or {}}
    text = json.dumps(manifest, indent=1, sort_keys=True).encode('utf-8')
    return write_bytes_atomic(paths['manifest'], text)


def complete_epochs(directory, prefix):
    """Sorted epochs that have a manifest in ``directory`` (files not yet verified)."""
    if not os.path.isdir(directory):
        return []
    pattern = re.compile(r'^%s-(\d{4,})%s$' % (re.escape(prefix), re.escape(MANIFEST_SUFFIX)))
    epochs = []
    for name in os.listdir(directory):
        match = pattern.match(name)
        if match:
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def find_last_checkpoint(directory, prefix):
    """Highest epoch with a complete checkpoint (manifest written), or None."""
    epochs = complete_epochs(directory, prefix)
    return epochs[-1] if epochs else None


def read_manifest(directory, prefix, epoch):
    """Parse and verify the manifest of ``epoch`` and its files; returns the manifest dict."""
    paths = checkpoint_paths(directory, prefix, epoch)
    path = paths['manifest']
    if not os.path.isfile(path):
        raise CheckpointError('checkpoint manifest not found: %s (the checkpoint of epoch %d is '
                              'missing or was interrupted)' % (path, epoch))
    try:
        with open(path, 'rb') as f:
            manifest = json.loads(f.read().decode('utf-8'))
        files = manifest['files']
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError('checkpoint manifest %s is corrupt (%s); delete it to fall back '
                              'to an earlier epoch' % (path, err))
    for kind, info in files.items():
        fpath = os.path.join(directory, info['file'])
        if not os.path.isfile(fpath):
            raise CheckpointError('checkpoint file %s named by %s is missing' % (fpath, path))
        if os.path.getsize(fpath) != info['size'] or file_sha256(fpath) != info['sha256']:
            raise CheckpointError("checkpoint file %s is corrupt (size/SHA-256 differ from %s); "
                                  "delete this epoch's files to fall back to an earlier one"
                                  % (fpath, path))
    return manifest


def load_checkpoint(directory, prefix, epoch):
    """Verify and read a checkpoint -> (arg_params, aux_params, states_path or None, manifest)."""
    manifest = read_manifest(directory, prefix, epoch)
    paths = checkpoint_paths(directory, prefix, epoch)
    arg_params, aux_params = load_params(paths['params'])
    states_path = paths['states'] if 'states' in manifest['files'] else None
    return arg_params, aux_params, states_path, manifest
