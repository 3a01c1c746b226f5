"""Child processes and the scratch folders they share.

- die_with_parent: a child that must not outlive the process that started it.
- scratch_folder: a private folder that records its owner's pid, so that a later run can
  remove the folder of a run that was killed (SIGKILL leaves no chance to clean up) and
  not keep memory in /dev/shm.
"""
import ctypes
import glob
import logging
import os
import shutil
import signal
import tempfile

OWNER_FILE = 'owner.pid'


def die_with_parent():
    """SIGKILL this process when its parent dies (Linux prctl PR_SET_PDEATHSIG; elsewhere
    nothing). Also a ``preexec_fn`` for subprocess.Popen."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def pid_alive(pid):
    """True when a process ``pid`` exists (another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(folder):
    """The pid in ``folder``'s OWNER_FILE, or None (no file, unreadable, not a number)."""
    try:
        with open(os.path.join(folder, OWNER_FILE)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def remove_orphans(base, prefix):
    """Remove the folders ``base``/``prefix``* whose owner process is gone; returns their
    paths. Folders without an owner file, or owned by a live process, stay."""
    removed = []
    for folder in sorted(glob.glob(os.path.join(glob.escape(base), prefix + '*'))):
        pid = _owner(folder)
        if pid is None or pid_alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.exists(folder):
            logging.getLogger('fcis').warning(
                'removed %s, left by process %d that ended without removing it', folder, pid)
            removed.append(folder)
    return removed


def scratch_folder(prefix, base=None):
    """A new private folder ``prefix``* holding this process's pid in OWNER_FILE, under
    ``base`` (default: /dev/shm where writable, in memory, else the temp folder). The
    orphaned folders of the same prefix there are removed first (remove_orphans)."""
    if base is None:
        base = '/dev/shm' if os.access('/dev/shm', os.W_OK) else tempfile.gettempdir()
    remove_orphans(base, prefix)
    folder = tempfile.mkdtemp(prefix=prefix, dir=base)
    with open(os.path.join(folder, OWNER_FILE), 'w') as f:
        f.write('%d\n' % os.getpid())
    return folder
