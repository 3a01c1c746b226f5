"""Start a distributed (ps-lite kvstore) FCIS training job: scheduler, servers and workers.

    python experiments/fcis/tools/launch_dist.py --workers N --servers M [--hosts FILE] \
        -- <train command>

e.g. two local workers and one server:

    python experiments/fcis/tools/launch_dist.py --workers 2 --servers 1 -- \\
        python experiments/fcis/fcis_end2end_train_test.py \\
        --cfg experiments/fcis/cfgs/shapes_fcis_end2end.yaml --skip-test default.kvstore=dist_sync

Without --hosts every process runs on this machine and binds to 127.0.0.1 only. With
--hosts (one host per line, ``[user@]host``, '#' comments) the scheduler runs here (reachable
as --scheduler-host) and servers/workers are spread round-robin over the hosts through ssh
(``cd <this folder> && env DMLC_...=... <command>``: the same checkout and Python path must
exist on every host). Workers run <train command>; the scheduler and servers run
``<python> -c KV_NODE_CODE``, which imports ``lib`` (it prepares numpy for MXNet) from this
checkout and then ``mxnet`` (MXNet serves the kvstore at import when DMLC_ROLE is not
'worker').

When every worker has exited 0 the launcher waits --grace seconds for the servers and the
scheduler to stop, then exits 0. When a worker fails, a server or the scheduler dies early,
--timeout passes, or the launcher gets SIGINT/SIGTERM, every process is stopped (SIGTERM to
its process group, SIGKILL after --grace) and the launcher exits non-zero: the failed
worker's status (128 + signal for a killed one), 1 for a failed server/scheduler, 124 for the
timeout. Servers and the scheduler exit 0 by themselves once every worker has left the
kvstore (a worker may go on, e.g. testing, after that). Children also die with the launcher
(PR_SET_PDEATHSIG), even if it is killed.
"""
import argparse
import collections
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

Node = collections.namedtuple('Node', 'role index host')
Node.__doc__ = """role: 'scheduler', 'server' or 'worker'; index within its role; host: ssh
destination ([user@]host) or None for this machine."""

FORWARDED_ENV_PREFIXES = ('DMLC_', 'PS_', 'MXNET_', 'OMP_')
LOCALHOST = '127.0.0.1'
EXIT_TIMEOUT = 124
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
# What the scheduler and the servers run: MXNet serves the kvstore at import, after lib
# (from this checkout) has prepared numpy for it.
KV_NODE_CODE = 'import sys; sys.path.insert(0, %r); import lib, mxnet' % REPO


def parse_args(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--' not in argv:
        sys.exit("error: give the worker command after '--', e.g. launch_dist.py --workers 2 "
                 "--servers 1 -- python experiments/fcis/fcis_end2end_train_test.py --cfg ...")
    split = argv.index('--')
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--workers', type=int, required=True, help='number of workers')
    parser.add_argument('--servers', type=int, default=1, help='number of servers (default 1)')
    parser.add_argument('--hosts', help='file with one ssh host per line (default: all local)')
    parser.add_argument('--scheduler-host', help='address the hosts reach this machine by '
                        "(default 127.0.0.1 without --hosts, else this host's IP)")
    parser.add_argument('--port', type=int, default=0, help='scheduler port (0: a free one)')
    parser.add_argument('--python', default=sys.executable,
                        help='Python of the scheduler and servers (default: this one)')
    parser.add_argument('--ssh', default='ssh -o BatchMode=yes -tt',
                        help="ssh command (default 'ssh -o BatchMode=yes -tt'; -tt makes the "
                        "remote process die with the connection)")
    parser.add_argument('--env', action='append', default=[], metavar='KEY=VALUE',
                        help='extra environment variable for every process (repeatable)')
    parser.add_argument('--timeout', type=float, default=0,
                        help='stop everything after this many seconds (0: no limit)')
    parser.add_argument('--grace', type=float, default=10,
                        help='seconds between SIGTERM and SIGKILL, and for servers to stop')
    args = parser.parse_args(argv[:split])
    args.command = argv[split + 1:]
    if not args.command:
        parser.error("the worker command after '--' is empty")
    if args.workers < 1 or args.servers < 1:
        parser.error('--workers and --servers must be >= 1')
    for item in args.env:
        if '=' not in item:
            parser.error('--env %r must be KEY=VALUE' % item)
    return args


def read_hosts(path):
    """Hosts of a hosts file: one ``[user@]host`` per line; blank lines and '#' comments skipped."""
    try:
        with open(path) as f:
            hosts = [line.split('#', 1)[0].strip() for line in f]
    except OSError as err:
        sys.exit('error: cannot read --hosts file %s: %s' % (path, err.strerror))
    hosts = [h for h in hosts if h]
    if not hosts:
        sys.exit('error: --hosts file %s lists no host (one host per line)' % path)
    return hosts


def free_port(host):
    """A TCP port on ``host`` that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def plan_nodes(num_workers, num_servers, hosts):
    """[Node]: the scheduler (here), then servers and workers round-robin over ``hosts``."""
    nodes = [Node('scheduler', 0, None)]
    for role, count in (('server', num_servers), ('worker', num_workers)):
        for i in range(count):
            nodes.append(Node(role, i, hosts[i % len(hosts)] if hosts else None))
    return nodes


def node_address(node, scheduler_host):
    """The address a node binds to: its host name without user@ (the scheduler's own)."""
    if node.host is None:
        return scheduler_host
    return node.host.split('@', 1)[1] if '@' in node.host else node.host


def node_env(node, args, scheduler_host, port):
    """The DMLC_* variables of ``node`` (plus --env)."""
    env = {'DMLC_ROLE': node.role, 'DMLC_PS_ROOT_URI': scheduler_host,
           'DMLC_PS_ROOT_PORT': str(port), 'DMLC_NUM_WORKER': str(args.workers),
           'DMLC_NUM_SERVER': str(args.servers),
           'DMLC_NODE_HOST': node_address(node, scheduler_host)}
    env.update(item.split('=', 1) for item in args.env)
    return env


def node_command(node, args, env):
    """argv starting ``node``: locally, or through ssh with cd + env on its host."""
    command = args.command if node.role == 'worker' else [args.python, '-c', KV_NODE_CODE]
    if node.host is None:
        return command
    forwarded = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
    forwarded.update(env)
    remote = 'cd %s && exec env %s %s' % (
        shlex.quote(os.getcwd()),
        ' '.join('%s=%s' % (k, shlex.quote(v)) for k, v in sorted(forwarded.items())),
        ' '.join(shlex.quote(c) for c in command))
    return shlex.split(args.ssh) + [node.host, remote]


def _die_with_parent():
    """preexec_fn: SIGKILL this child when the launcher dies (Linux prctl PR_SET_PDEATHSIG).
    lib.utils.process.die_with_parent does the same for the project's processes; the launcher
    imports nothing of the project: importing ``lib`` sets MXNet's environment variables,
    which the launcher would forward to every node."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _copy_output(stream, prefix, out):
    for line in iter(stream.readline, b''):
        out.write(prefix + line.decode('utf-8', 'replace'))
        out.flush()
    stream.close()


class Job(object):
    """The running processes of one job; ``run()`` returns the launcher's exit status."""

    def __init__(self, nodes, commands, envs, grace, timeout, out=sys.stdout):
        self.nodes, self.commands, self.envs = nodes, commands, envs
        self.grace, self.timeout, self.out = grace, timeout, out
        self.procs, self.threads = [], []

    def log(self, message):
        self.out.write('[launch_dist] %s\n' % message)
        self.out.flush()

    def start(self):
        for node, command, env in zip(self.nodes, self.commands, self.envs):
            full_env = dict(os.environ)
            full_env.update(env)
            proc = subprocess.Popen(command, env=full_env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_die_with_parent)
            self.procs.append(proc)
            self.log('started %s %d on %s: pid %d' % (node.role, node.index,
                                                     node.host or 'localhost', proc.pid))
        for node, proc in zip(self.nodes, self.procs):
            prefix = '[%s %d] ' % (node.role, node.index)
            thread = threading.Thread(target=_copy_output, args=(proc.stdout, prefix, self.out),
                                      daemon=True)
            thread.start()
            self.threads.append(thread)

    def _by_role(self, role):
        return [(n, p) for n, p in zip(self.nodes, self.procs) if n.role == role]

    def stop(self):
        """SIGTERM every process group still running; SIGKILL after ``grace`` seconds."""
        running = [p for p in self.procs if p.poll() is None]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for proc in running:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + (self.grace if sig == signal.SIGTERM else 5)
            while time.time() < deadline and any(p.poll() is None for p in running):
                time.sleep(0.05)
            running = [p for p in running if p.poll() is None]
            if not running:
                break
        for thread in self.threads:
            thread.join(timeout=1)

    def wait(self, poll=0.1):
        """Watch the processes -> exit status (see the module docstring)."""
        start = time.time()
        workers, others = self._by_role('worker'), self._by_role('server') + self._by_role('scheduler')
        while True:
            for node, proc in workers:
                code = proc.poll()
                if code not in (None, 0):
                    self.log('worker %d failed with status %d; stopping all' % (node.index, code))
                    return code if code > 0 else 128 - code
            if all(p.poll() == 0 for _, p in workers):
                return self._finish(others)
            for node, proc in others:  # they exit 0 once every worker has left the kvstore
                if proc.poll() not in (None, 0):
                    self.log('%s %d failed with status %d; stopping all'
                             % (node.role, node.index, proc.returncode))
                    return 1
            if self.timeout and time.time() - start > self.timeout:
                self.log('timeout after %g s; stopping all' % self.timeout)
                return EXIT_TIMEOUT
            time.sleep(poll)

    def _finish(self, others):
        deadline = time.time() + self.grace
        while time.time() < deadline and any(p.poll() is None for _, p in others):
            time.sleep(0.05)
        left = [n for n, p in others if p.poll() is None]
        if left:
            self.log('workers done; %d server/scheduler process(es) still running after %g s: '
                     'stopping them' % (len(left), self.grace))
        else:
            self.log('all workers finished')
        return 0

    def run(self):
        def on_signal(signum, _frame):
            raise KeyboardInterrupt(signum)
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            status = self.wait()
        except KeyboardInterrupt as err:
            signum = err.args[0] if err.args else signal.SIGINT
            self.log('interrupted; stopping all')
            status = 128 + int(signum)
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return status


def build_job(args):
    hosts = read_hosts(args.hosts) if args.hosts else None
    if args.scheduler_host:
        scheduler_host = args.scheduler_host
    elif hosts:
        scheduler_host = socket.gethostbyname(socket.gethostname())
    else:
        scheduler_host = LOCALHOST
    port = args.port or free_port(scheduler_host)
    nodes = plan_nodes(args.workers, args.servers, hosts)
    envs = [node_env(n, args, scheduler_host, port) for n in nodes]
    commands = [node_command(n, args, e) for n, e in zip(nodes, envs)]
    return Job(nodes, commands, envs, args.grace, args.timeout), scheduler_host, port


def main(argv=None):
    args = parse_args(argv)
    job, scheduler_host, port = build_job(args)
    job.log('scheduler %s:%d, %d server(s), %d worker(s)%s' % (
        scheduler_host, port, args.servers, args.workers,
        ', hosts from %s' % args.hosts if args.hosts else ''))
    return job.run()


if __name__ == '__main__':
    sys.exit(main())
