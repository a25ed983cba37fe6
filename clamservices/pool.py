"""Processes that align in parallel: the recordings of a job and the pieces of a long recording.

PocketSphinx holds the GIL-free part of the work in one thread per decoder, and
a job process has one decoder, so both cores are used by processes: each has
its own Aligner, kept in step with the job's (the extra dictionary's entries and
the readings of numbers), and takes one task at a time over a pipe.

A process that dies (killed, out of memory, a crash in PocketSphinx) costs only
its task: `results` reports it as ("died",) and a new process takes the next
task. Processes end when the job closes the pool, when it terminates them (the
job got SIGTERM), or by themselves when the job's end of their pipe closes (the
job was killed): no process outlives its job.
"""

import functools
import multiprocessing
import os
import signal
import sys
import traceback
from collections import deque
from multiprocessing.connection import wait

ENV = "CLAM_SERVICES_ALIGN_PROCESSES"
STOP_SECONDS = 5.0


_JOB_ENDS = []  # the job's ends of its workers' pipes: a forked worker closes its copies (see _serve)


def size():
    """How many aligning processes: CLAM_SERVICES_ALIGN_PROCESSES, else one per core this process may use
    (in a container limited to some cores, os.cpu_count() would count the host's)."""
    value = os.environ.get(ENV, "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return len(os.sched_getaffinity(0)) or 1


def _serve(conn, job_ends, lexicon=None):
    """A worker process: align tasks until the job says stop (None) or its end of the pipe closes."""
    # A fork inherits the job's ends of every pipe, this one's included: with them open here, the
    # pipe would never close when the job ends, and the worker would wait for ever.
    for end in job_ends:
        end.close()
    from clamservices.jobserver import die_with_parent

    die_with_parent()  # and a job killed outright (SIGKILL, out of memory) takes its workers with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the job, which stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the job's handler, which a fork would inherit
    from clamservices.aligner import Aligner, AlignmentError

    aligner = Aligner(lexicon)  # the job's dictionary (another language's: clamservices.languages)
    aligner.doing = lambda text: _tell(conn, ("note", text))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        entries, added, readings, method, args, kwargs = task
        try:
            aligner.follow(entries, added, readings)
            # A method's name, or a module's function of the Aligner (clamservices.tiered.align_group).
            call = getattr(aligner, method) if isinstance(method, str) else functools.partial(method, aligner)
            result = ("ok", call(*args, **kwargs))
        except AlignmentError as exc:
            result = ("alignment", exc.code, str(exc))
        except Exception:  # noqa: BLE001 - reported as this task's failure; the process goes on
            print(f"Unexpected error while aligning:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            aligner.reset()
            result = ("internal",)
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


def _tell(conn, message):
    try:
        conn.send(message)
    except (BrokenPipeError, OSError):  # the job is gone: the task's result cannot be sent either
        pass


class _Worker:
    def __init__(self, context, lexicon=None):
        self.conn, child = context.Pipe()
        _JOB_ENDS.append(self.conn)
        self.process = context.Process(target=_serve, args=(child, list(_JOB_ENDS), lexicon), daemon=True)
        try:
            self.process.start()
        finally:
            child.close()


class Pool:
    """Up to `processes` workers, started when there is work for them; tasks are tagged by the caller."""

    def __init__(self, processes, lexicon=None):
        self.processes = processes
        self.lexicon = lexicon  # None: the English one (each process opens its own)
        # Forked: the job's modules are loaded already (spawning a fresh interpreter cost ~0.5 s per
        # process); each process makes its own Aligner, so no decoder is shared.
        self.context = multiprocessing.get_context("fork")
        self.idle, self.busy, self.queue = [], {}, deque()
        self.failed = []  # [(tag, ("internal",))] of tasks no process could be started for

    def submit(self, tag, aligner, method, *args, **kwargs):
        """Queue `aligner.method(*args, **kwargs)` (or `method(aligner, *args, **kwargs)` for a module-level function)
        for a worker whose Aligner knows `aligner`'s words."""
        self.queue.append((tag, (list(aligner.entries), set(aligner.added), dict(aligner.readings), method,
                                 args, kwargs)))
        self.dispatch()

    def pending(self):
        return len(self.queue) + len(self.busy) + len(self.failed)

    def discard(self, keep):
        """Drop the queued tasks whose tag `keep(tag)` rejects (their recording failed already)."""
        self.queue = deque((tag, task) for tag, task in self.queue if keep(tag))

    def dispatch(self):
        """Send queued tasks to idle (or new) workers. `results` does not: the caller first discards the
        tasks of a recording that a result has made fail (its raw audio is gone)."""
        while self.queue and (self.idle or len(self.busy) < self.processes):
            if self.idle:
                worker = self.idle.pop()
            else:
                try:
                    worker = _Worker(self.context, self.lexicon)
                except OSError as exc:  # no process to be had (out of memory, process limit)
                    if self.busy or self.idle:
                        return  # the running workers take the queue in turn
                    tag, _ = self.queue.popleft()
                    print(f"No process could be started to align: {exc}", file=sys.stderr, flush=True)
                    self.failed.append((tag, ("internal",)))
                    continue
            tag, task = self.queue.popleft()
            try:
                worker.conn.send(task)
            except (BrokenPipeError, OSError):  # it died while idle: a new one takes the task
                self._bury(worker)
                self.queue.appendleft((tag, task))
                continue
            self.busy[worker] = tag

    def results(self, timeout=None):
        """[(tag, result)] of the tasks that ended within `timeout` seconds (at least one if any runs and
        timeout is None). result is ("ok", value), ("alignment", code, message), ("internal",) or ("died",),
        or ("note", text) from a task that goes on (Aligner.doing: what a long search is doing)."""
        if self.failed:
            finished, self.failed = self.failed, []
            return finished
        if not self.busy:
            return []
        ready = set(wait([w.conn for w in self.busy] + [w.process.sentinel for w in self.busy], timeout))
        finished = []
        for worker in [w for w in self.busy if w.conn in ready or w.process.sentinel in ready]:
            tag = self.busy[worker]
            result, broken = None, False
            try:
                while result is None and worker.conn.poll():
                    message = worker.conn.recv()
                    if message[0] == "note":
                        finished.append((tag, message))
                    else:
                        result = message
            except Exception:  # noqa: BLE001 - a result cut short by the process's death
                result, broken = None, True
            if result is None and not broken and worker.process.sentinel not in ready:
                continue  # only notes: the task goes on
            del self.busy[worker]
            if result is None:
                self._bury(worker)
                finished.append((tag, ("died",)))
            else:
                self.idle.append(worker)
                finished.append((tag, result))
        return finished

    def _bury(self, worker):
        if worker.conn in _JOB_ENDS:
            _JOB_ENDS.remove(worker.conn)
        worker.conn.close()
        worker.process.join(STOP_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        if worker in self.idle:
            self.idle.remove(worker)

    def close(self):
        """Stop every worker: idle ones end when their pipe closes; busy ones are terminated."""
        for worker in list(self.busy):
            worker.process.terminate()
        for worker in self.idle:
            try:
                worker.conn.send(None)  # stop now, rather than at the end of STOP_SECONDS
            except (BrokenPipeError, OSError):
                pass
        for worker in list(self.busy) + self.idle:
            self._bury(worker)
        self.busy, self.idle, self.queue = {}, [], deque()

    def pids(self):
        return [w.process.pid for w in list(self.busy) + self.idle]
