"""Output folders: created up front, with an error that names the folder and the fix."""
import os


def make_folder(path, fix):
    """Create ``path`` (and its parents) unless it exists; returns ``path``.

    fix: how the user chooses another folder (e.g. "set output_path to a writable folder").
    Raises OSError "cannot create folder <path> (<reason>); <fix>" when the path is taken by
    a file, sits under a file, or is not writable.
    """
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise OSError('cannot create folder %s (%s); %s' % (path, reason, fix)) from None
    if not os.access(path, os.W_OK):
        raise OSError('cannot write to folder %s (permission denied); %s' % (path, fix))
    return path
