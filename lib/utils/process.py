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


def _pid_namespace():
    """This process's pid namespace ('pid:[4026531836]' on Linux, '' elsewhere): pids of
    another container that shares /dev/shm mean nothing here."""
    try:
        return os.readlink('/proc/self/ns/pid')
    except OSError:
        return ''


def _owner(folder):
    """(pid, pid namespace) of ``folder``'s OWNER_FILE, or None (no file, unreadable,
    malformed)."""
    try:
        with open(os.path.join(folder, OWNER_FILE)) as f:
            pid, _, namespace = f.read().strip().partition(' ')
        return int(pid), namespace
    except (OSError, ValueError):
        return None


def remove_orphans(base, prefix):
    """Remove the folders ``base``/``prefix``* whose owner process is gone; returns their
    paths. Folders without an owner file, owned by a live process or by a process of
    another pid namespace stay."""
    removed = []
    namespace = _pid_namespace()
    for folder in sorted(glob.glob(os.path.join(glob.escape(base), prefix + '*'))):
        owner = _owner(folder)
        if owner is None or owner[1] != namespace or pid_alive(owner[0]):
            continue
        pid = owner[0]
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.exists(folder):
            logging.getLogger('fcis').warning(
                'removed %s, left by process %d that ended without removing it', folder, pid)
            removed.append(folder)
    return removed


def scratch_folder(prefix, base=None):
    """A new private folder ``prefix``* holding this process's pid and pid namespace in
    OWNER_FILE, under
    ``base`` (default: /dev/shm where writable, in memory, else the temp folder). The
    orphaned folders of the same prefix there are removed first (remove_orphans)."""
    if base is None:
        base = '/dev/shm' if os.access('/dev/shm', os.W_OK) else tempfile.gettempdir()
    remove_orphans(base, prefix)
    folder = tempfile.mkdtemp(prefix=prefix, dir=base)
    with open(os.path.join(folder, OWNER_FILE), 'w') as f:
        f.write('%d %s\n' % (os.getpid(), _pid_namespace()))
    return folder
