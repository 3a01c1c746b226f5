"""lib.utils.process: the owner pid of a scratch folder, and the removal of the folders of
processes that are gone (a SIGKILLed training run) without touching live ones."""
import os
import signal
import subprocess
import sys

from lib.utils import process


def _write_owner(folder, pid, namespace=None):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, process.OWNER_FILE), 'w') as f:
        f.write('%d %s\n' % (pid, process._pid_namespace() if namespace is None
                                 else namespace))


def _dead_pid():
    """The pid of a process that was SIGKILLed and reaped."""
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    child.send_signal(signal.SIGKILL)
    child.wait()
    return child.pid


def test_scratch_folder_records_its_owner(tmp_path):
    folder = process.scratch_folder('run-', base=str(tmp_path))
    assert os.path.dirname(folder) == str(tmp_path)
    assert os.path.basename(folder).startswith('run-')
    with open(os.path.join(folder, process.OWNER_FILE)) as f:
        pid, _, namespace = f.read().strip().partition(' ')
    assert int(pid) == os.getpid()
    if os.path.exists('/proc/self/ns/pid'):   # Linux
        assert namespace == os.readlink('/proc/self/ns/pid') and namespace.startswith('pid:[')


def test_orphans_go_the_live_and_the_unknown_stay(tmp_path):
    base = str(tmp_path)
    live = process.scratch_folder('run-', base=base)
    orphan = os.path.join(base, 'run-killed')
    os.makedirs(os.path.join(orphan, 'sub'))
    _write_owner(orphan, _dead_pid())
    unknown = os.path.join(base, 'run-older')   # no owner file: cannot tell, stays
    os.makedirs(unknown)
    other = os.path.join(base, 'other-killed')  # another prefix: stays
    _write_owner(other, _dead_pid())
    elsewhere = os.path.join(base, 'run-in-another-container')   # its pids are not ours
    _write_owner(elsewhere, _dead_pid(), namespace='pid:[1]')
    fresh = process.scratch_folder('run-', base=base)   # removes the orphan first
    assert not os.path.exists(orphan)
    assert all(os.path.isdir(p) for p in (live, unknown, other, elsewhere, fresh))


def test_pid_alive():
    assert process.pid_alive(os.getpid())
    assert not process.pid_alive(_dead_pid())


def test_a_killed_worker0_leaves_a_folder_that_the_next_run_removes(tmp_path):
    """A process that makes its scratch folder and is SIGKILLed leaves it behind; the next
    scratch_folder call of the same prefix removes it."""
    code = ('import sys, time; from lib.utils.process import scratch_folder; '
            'print(scratch_folder("fcis-test-", base=sys.argv[1]), flush=True); time.sleep(60)')
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    child = subprocess.Popen([sys.executable, '-c', code, str(tmp_path)], cwd=root,
                             stdout=subprocess.PIPE, text=True)
    left = child.stdout.readline().strip()
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert os.path.isdir(left)
    assert process.remove_orphans(str(tmp_path), 'fcis-test-') == [left]
    assert not os.path.exists(left)
