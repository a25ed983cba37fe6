"""The job server of a bundled CLAM service: its job module imported once, a forked child per job.

    python -m clamservices.jobserver clamservices.fa_job /path/to/jobserver.sock

A fresh Python for every job spends about a quarter of a second importing numpy, soundfile, soxr and
pocketsphinx before it does anything (docs/performance.md, "CLAM layer"). `clamservices.serve`
starts this server next to waitress, in the service's process group, and tells the dispatcher
(clamservices/dispatcher.py) where its socket is (CLAM_SERVICES_JOB_SOCKET). Per request the
dispatcher sends, over a Unix seqpacket socket, one message (NUL-separated: the number of arguments,
the arguments, the job's folder, then NAME=VALUE for each environment variable) with its
stdin, stdout and stderr as passed file descriptors; the server answers "pid N" once it has forked
the child that runs the job, and "status N" (the exit status, negative for a signal, as
subprocess reports it) when that child has ended. It refuses ("refused ...") a command that is not
`<this Python> -m MODULE ...`, and the dispatcher then starts the job itself.

If the dispatcher goes away, nobody will record the job's end, so its child is killed. If this
server dies, its children die with it (PR_SET_PDEATHSIG) and every dispatcher sees its connection
close without a status: the job is lost, as when a service dies with its jobs. This server also
dies with the process that started it, so it never outlives its service.

Standard library only apart from the preloaded modules; single-threaded (one selector loop), since
forking a process that has other threads running may copy a lock held by one of them.
"""

import atexit
import ctypes
import importlib
import os
import runpy
import selectors
import signal
import socket
import sys
import traceback
import types

# Modules each job module needs, imported here so children find them loaded. The job module's own
# imports bring most; these are the ones it imports lazily.
PRELOAD = {
    "clamservices.fa_job": ["numpy", "soundfile", "soxr", "pocketsphinx", "clamservices.aligner",
                            "num2words", "webrtcvad", "multiprocessing.pool",
                            # numpy imports numpy.ma on first use (np.percentile): 40-60 ms in every job
                            "numpy.ma", "encodings.utf_8_sig"],
    "clamservices.g2p_job": ["gruut"],
}
MAX_REQUEST_BYTES = 1 << 20
PR_SET_PDEATHSIG = 1


def die_with_parent(sig=signal.SIGKILL):
    """Ask the kernel to send `sig` to this process when its parent (thread) ends (Linux only)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the process group still ends with the service
        pass


# The job module's spec and code, compiled once here: each job runs it as __main__, and without bytecode on
# disk (PYTHONDONTWRITEBYTECODE, a read-only checkout) runpy compiled its source again in every job.
_job_code = {}


def preload(module):
    for name in [module, *PRELOAD.get(module, [])]:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # the job itself will say what is missing
            print(f"[jobserver] could not preload {name}: {exc}", file=sys.stderr, flush=True)
    spec = getattr(sys.modules.get(module), "__spec__", None)
    if spec is not None and hasattr(spec.loader, "get_code"):
        _job_code[module] = (spec, spec.loader.get_code(module))
    if "numpy" in sys.modules:  # each child seeds numpy.random (run_job), which numpy imports on first use
        importlib.import_module("numpy.random")


def listen(path):
    """A seqpacket socket on `path`, readable and writable by this user only."""
    try:
        os.unlink(path)  # left by a server that died
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    umask = os.umask(0o177)  # no moment at which another user could connect
    try:
        listener.bind(path)
    finally:
        os.umask(umask)
    os.chmod(path, 0o600)
    listener.listen(64)
    return listener


class Server:
    def __init__(self, module, path):
        self.module = module
        self.listener = listen(path)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self.jobs = {}  # pid -> (connection, pidfd)

    def serve_forever(self):
        while True:
            for key, _ in self.selector.select():
                kind, item = key.data
                if kind == "accept":
                    self._accept()
                elif kind == "request":
                    self._request(key.fileobj)
                elif kind == "ended":
                    self._ended(item)
                elif kind == "dispatcher":
                    self._dispatcher_gone(item)

    def _accept(self):
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        self.selector.register(connection, selectors.EVENT_READ, ("request", None))

    def _close(self, connection):
        self.selector.unregister(connection)
        connection.close()

    def _request(self, connection):
        fds = []
        try:
            message, fds, _, _ = socket.recv_fds(connection, MAX_REQUEST_BYTES, 3)
            if len(fds) != 3 or not message:
                raise ValueError("stdin, stdout and stderr are needed")
            argv, cwd, env = parse_request(message)
            if len(argv) < 3 or argv[0] != sys.executable or argv[1] != "-m":
                connection.send(b"refused: not a Python module of this service")
                self._close(connection)
                return
            pid = self._fork(connection, fds, argv, cwd, env)
        except (OSError, ValueError) as exc:
            try:
                connection.send(f"refused: {exc}".encode())
            except OSError:
                pass
            self._close(connection)
            return
        finally:
            for fd in fds:
                os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.jobs[pid] = (connection, pidfd)
        self.selector.modify(connection, selectors.EVENT_READ, ("dispatcher", pid))
        self.selector.register(pidfd, selectors.EVENT_READ, ("ended", pid))
        try:
            connection.send(f"pid {pid}".encode())
        except OSError:
            self._dispatcher_gone(pid)

    def _fork(self, connection, fds, argv, cwd, env):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        status = 1
        try:
            # Nothing of the server's stays open in the job (as with subprocess's close_fds).
            for key in list(self.selector.get_map().values()):  # the listener, connections, pidfds
                key.fileobj.close() if hasattr(key.fileobj, "close") else os.close(key.fd)
            for other, _ in self.jobs.values():  # also those no longer watched (dispatcher gone)
                other.close()
            self.selector.close()
            status = run_job(fds, argv, cwd, env)
        except BaseException:  # noqa: BLE001 - whatever happens, this child must not return into the server loop
            traceback.print_exc()
        finally:
            os._exit(status)

    def _ended(self, pid):
        connection, pidfd = self.jobs.pop(pid)
        _, wait_status = os.waitpid(pid, 0)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        try:
            connection.send(f"status {os.waitstatus_to_exitcode(wait_status)}".encode())
        except OSError:
            pass
        try:
            self.selector.unregister(connection)
        except KeyError:  # already, when its dispatcher went away
            pass
        connection.close()

    def _dispatcher_gone(self, pid):
        # The dispatcher only ever listens after its request: readable means closed.
        if pid not in self.jobs:  # it ended in the same wake-up, and _ended has cleaned up
            return
        connection, _ = self.jobs[pid]
        self.selector.unregister(connection)
        os.kill(pid, signal.SIGKILL)  # the pidfd still tells when it has ended, and then it is reaped


def parse_request(message):
    """(argv, cwd, env) of a dispatcher's request; ValueError when it is not one."""
    fields = message.decode("utf-8", "surrogateescape").split("\0")
    count = int(fields[0])
    if count < 1 or len(fields) < count + 2:
        raise ValueError("incomplete request")
    argv, cwd = fields[1:count + 1], fields[count + 1]
    env = dict(item.split("=", 1) for item in fields[count + 2:] if "=" in item)
    return argv, cwd, env


def run_job(fds, argv, cwd, env):
    """In the forked child: become the job `python -m MODULE args...` would have been; returns its exit status."""
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a fresh Python's own
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    die_with_parent()  # a job lives no longer than its server
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        if fd > 2:
            os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    if "numpy" in sys.modules:  # a fresh Python draws a new seed; children of one server share its state
        sys.modules["numpy"].random.seed()
    sys.argv = [argv[2], *argv[3:]]
    # As under `python -m`, the module runs as __main__ and is not also imported under its own name.
    sys.modules.pop(argv[2], None)
    try:
        if argv[2] in _job_code:
            _run_as_main(*_job_code[argv[2]])
        else:
            runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            status = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            status = 1
    except KeyboardInterrupt:
        status = 128 + signal.SIGINT
    except BaseException:  # noqa: BLE001 - as a Python would, print it and fail
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()  # e.g. multiprocessing ends its pools' workers here
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return status & 0xFF


def _run_as_main(spec, code):
    """What runpy.run_module(name, run_name="__main__", alter_sys=True) does, with code compiled beforehand."""
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=spec.origin, __cached__=spec.cached, __loader__=spec.loader,
                         __package__=spec.parent, __spec__=spec)
    sys.modules["__main__"] = main
    sys.argv[0] = spec.origin
    exec(code, main.__dict__)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m clamservices.jobserver MODULE SOCKETPATH", file=sys.stderr)
        return 2
    module, path = argv
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the service ended before the line above took effect
        return 0
    preload(module)
    Server(module, path).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
