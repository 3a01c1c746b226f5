"""experiments/fcis/tools/launch_dist.py: process plan, environment and ssh commands; live jobs on
127.0.0.1 (every process bounded in time): a worker that dies or fails stops the job with a
non-zero status, local processes listen on 127.0.0.1 only, and the ssh path (through a fake
ssh that runs the remote command here) passes the DMLC_* environment."""
import os
import re
import shlex
import signal
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
LAUNCHER = os.path.join(ROOT, 'experiments', 'fcis', 'tools', 'launch_dist.py')
sys.path.insert(0, os.path.dirname(LAUNCHER))   # the launcher is a script, not a package
import launch_dist  # noqa: E402
from bounded_run import run_bounded  # noqa: E402
sys.path.pop(0)

# A kvstore worker: MODE 'sum' pushes rank+1 and prints the sum; 'die' / 'raise' make rank 1
# die (SIGKILL) / raise inside exit_on_error while rank 0 waits in a barrier forever.
# Rank 0 first prints the listening addresses of every process of the job (the launcher's
# children), read from /proc.
WORKER = r"""
import os, signal, sys
import lib  # prepares numpy for MXNet
import mxnet as mx
from fcis.core.dist import Distributed, exit_on_error

def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if link.startswith('socket:['):
            inodes.add(link[8:-1])
    return inodes

def listening(pids):
    inodes = set().union(*(socket_inodes(p) for p in pids))
    found = []
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        for line in open(table).readlines()[1:]:
            f = line.split()
            if f[3] == '0A' and f[9] in inodes:           # 0A = LISTEN
                host = f[1].split(':')[0]
                found.append('.'.join(str(int(host[i:i + 2], 16)) for i in (6, 4, 2, 0))
                             if len(host) == 8 else 'ipv6:' + host)
    return found

def job_pids():
    launcher = os.getppid()
    pids = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                stat = open('/proc/%s/stat' % name).read()
            except OSError:
                continue
            if int(stat.rsplit(')', 1)[1].split()[1]) == launcher:
                pids.append(int(name))
    return pids

mode = sys.argv[1]
kv = mx.kv.create('dist_sync')
if kv.rank == 0:
    pids = job_pids()
    print('processes %d listening %s' % (len(pids), ','.join(sorted(listening(pids)))), flush=True)
kv._barrier()
if mode == 'sum':
    out = mx.nd.zeros((2,))
    kv.init('w', mx.nd.zeros((2,)))
    kv.pushpull('w', mx.nd.ones((2,)) * (kv.rank + 1), out=out)
    print('rank %d sum %g' % (kv.rank, out.asnumpy()[0]), flush=True)
    sys.exit(0)
if kv.rank == 1:
    if mode == 'die':
        os.kill(os.getpid(), signal.SIGKILL)
    with exit_on_error(Distributed(kv, kv.rank, kv.num_workers)):
        raise ValueError('bad batch')
kv._barrier()                      # rank 0: never passes, rank 1 is gone
print('rank 0 passed the barrier', flush=True)
"""

# ssh stand-in: records its arguments, then runs the remote command here.
FAKE_SSH = r"""
import os, sys
with open(os.environ['FAKE_SSH_LOG'], 'a') as f:
    f.write(repr(sys.argv[1:]) + '\n')
os.execvp('sh', ['sh', '-c', sys.argv[-1]])
"""


def launch(tmp_path, mode, *options):
    script = tmp_path / 'worker.py'
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    command = [sys.executable, LAUNCHER, '--workers', '2', '--servers', '1', '--timeout', '60',
               '--grace', '3'] + list(options) + ['--', sys.executable, str(script), mode]
    return run_bounded(command, timeout=80, cwd=ROOT, env=env)


def started_pids(output):
    return [int(p) for p in re.findall(r'started \w+ \d+ on \S+: pid (\d+)', output)]


def assert_all_gone(pids):
    time.sleep(0.2)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_plan_env_and_ssh_command(tmp_path):
    nodes = launch_dist.plan_nodes(2, 1, ['a', 'me@b'])
    assert nodes == [launch_dist.Node('scheduler', 0, None), launch_dist.Node('server', 0, 'a'),
                     launch_dist.Node('worker', 0, 'a'), launch_dist.Node('worker', 1, 'me@b')]
    args = launch_dist.parse_args(['--workers', '2', '--env', 'A=x y', '--ssh', 'ssh -p 2222',
                                   '--', 'python', 'train.py', 'TRAIN.lr=0.1 0.2'])
    assert args.servers == 1 and args.command == ['python', 'train.py', 'TRAIN.lr=0.1 0.2']
    env = launch_dist.node_env(nodes[3], args, '10.0.0.1', 9091)
    assert env == {'DMLC_ROLE': 'worker', 'DMLC_PS_ROOT_URI': '10.0.0.1',
                   'DMLC_PS_ROOT_PORT': '9091', 'DMLC_NUM_WORKER': '2', 'DMLC_NUM_SERVER': '1',
                   'DMLC_NODE_HOST': 'b', 'A': 'x y'}
    command = launch_dist.node_command(nodes[3], args, env)
    assert command[:4] == ['ssh', '-p', '2222', 'me@b']
    remote = shlex.split(command[4])
    assert remote[:4] == ['cd', os.getcwd(), '&&', 'exec'] and remote[4] == 'env'
    assert 'DMLC_ROLE=worker' in remote and 'A=x y' in remote
    assert remote[-3:] == ['python', 'train.py', 'TRAIN.lr=0.1 0.2']
    server = launch_dist.node_command(launch_dist.Node('server', 0, None), args, env)
    assert server == [sys.executable, '-c', launch_dist.KV_NODE_CODE]
    assert launch_dist.KV_NODE_CODE.endswith('import lib, mxnet')

    hosts = tmp_path / 'hosts'
    hosts.write_text('# cluster\nnode1\n\nme@node2  # second\n')
    assert launch_dist.read_hosts(str(hosts)) == ['node1', 'me@node2']
    hosts.write_text('# nobody\n')
    with pytest.raises(SystemExit, match='lists no host'):
        launch_dist.read_hosts(str(hosts))
    with pytest.raises(SystemExit, match="after '--'"):
        launch_dist.parse_args(['--workers', '2', 'python', 'train.py'])


def test_dead_worker_stops_the_job(tmp_path):
    status, out, seconds = launch(tmp_path, 'die')
    assert status == 128 + signal.SIGKILL, out
    assert 'worker' in out and 'failed with status -9; stopping all' in out
    assert seconds < 40 and 'passed the barrier' not in out
    pids = started_pids(out)
    assert len(pids) == 4
    assert_all_gone(pids)
    listening = re.search(r'processes (\d+) listening (\S+)', out)
    assert listening and int(listening.group(1)) == 4, out
    addresses = listening.group(2).split(',')
    assert len(addresses) >= 4 and set(addresses) == {'127.0.0.1'}, addresses


def test_failing_worker_exits_at_once_and_stops_the_job(tmp_path):
    status, out, seconds = launch(tmp_path, 'raise')
    assert status == 1, out
    assert 'error: worker 1: bad batch' in out and 'failed with status 1' in out
    assert seconds < 40
    assert_all_gone(started_pids(out))


def test_ssh_path_passes_the_environment(tmp_path):
    ssh, log = tmp_path / 'fake_ssh.py', tmp_path / 'ssh.log'
    ssh.write_text(FAKE_SSH)
    hosts = tmp_path / 'hosts'
    hosts.write_text('127.0.0.1\n127.0.0.1\n')
    os.environ['FAKE_SSH_LOG'] = str(log)
    try:
        status, out, _ = launch(tmp_path, 'sum', '--hosts', str(hosts), '--scheduler-host',
                                '127.0.0.1', '--ssh', '%s %s' % (sys.executable, ssh))
    finally:
        del os.environ['FAKE_SSH_LOG']
    assert status == 0, out
    assert 'rank 0 sum 3' in out and 'rank 1 sum 3' in out          # (0 + 1) + (1 + 1)
    calls = log.read_text().splitlines()
    assert len(calls) == 3                                          # one server, two workers
    assert all('DMLC_PS_ROOT_URI=127.0.0.1' in c and 'DMLC_NUM_WORKER=2' in c for c in calls)
    assert sum('DMLC_ROLE=worker' in c for c in calls) == 2
