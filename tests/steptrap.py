"""A real CLAM service behind a proxy on 127.0.0.1 that holds one kind of request, to catch a worker in a step.

Worker-recovery tests and the benchmark (tests/test_worker_recovery.py,
tests/benchmarks/worker_recovery.py) must kill a worker while it is inside a
given step, and then see that step run again. `StepTrap.hold(project, kind)`
makes every request of that kind for that CLAM project wait until its client
leaves (the worker was killed: the request is dropped, never reaching CLAM),
until `release(project)`, or until `limit` seconds pass (then it goes on to
the service); held `answered`, the service carries it out first and only its
answer is held. Each held request is recorded with the moment it arrived, so
a test sees that the step was sent again, and by whom, without timing anything.

Kinds, from the method and path of CLAM's API:

    upload    POST <project>/input/<name>   (step "start": the inputs)
    start     POST <project>/               (step "start": the job's parameters)
    status    GET  <project>/               (step "poll", and the first request of "download")
    download  GET  <project>/output/<name>  (step "download")
    delete    DELETE <project>/             (end of "download"; first request of a retried "start")
"""

import threading
import time
from dataclasses import dataclass

from tests.faultserver import Proxy, ProxyHandler


@dataclass
class Held:
    project: str
    kind: str
    arrived: float  # time.time(), comparable with the database's timestamps
    arrived_monotonic: float
    outcome: str = "held"  # then "abandoned" (the client left), "released" or "waited out"


def kind_of(method, path):
    parts = path.split("?")[0].lstrip("/").split("/")
    project, rest = parts[0], [p for p in parts[1:] if p]
    if method == "POST" and rest[:1] == ["input"]:
        return project, "upload"
    if method == "POST" and not rest:
        return project, "start"
    if method == "GET" and not rest:
        return project, "status"
    if method == "GET" and rest[:1] == ["output"]:
        return project, "download"
    return project, method.lower()


class StepTrap(Proxy):
    def __init__(self, backend, limit=120):
        super().__init__(backend, _TrapHandler)
        self.limit = limit
        self.holding = {}  # project -> kind
        self.answered = set()  # projects whose held requests go to the service before they are held
        self.held = []
        self.changed = threading.Condition()

    def stop(self):
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()
        super().stop()

    def hold(self, project, kind, answered=False):
        """Hold the requests of `kind` for `project`; with `answered`, after the service has done them
        (a worker killed then has had its request carried out, but never learns so)."""
        with self.changed:
            self.holding[project] = kind
            if answered:
                self.answered.add(project)
            else:
                self.answered.discard(project)

    def release(self, project):
        """Let the held requests of `project` go on, and hold no more of them."""
        with self.changed:
            self.holding.pop(project, None)
            self.changed.notify_all()

    def held_for(self, project):
        with self.changed:
            return [h for h in self.held if h.project == project]

    def wait_held(self, project, count, limit):
        """The `count`-th request held for `project`; AssertionError after `limit` seconds."""
        deadline = time.monotonic() + limit
        with self.changed:
            while len([h for h in self.held if h.project == project]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no request number {count} of the held step within {limit} s"
                self.changed.wait(min(left, 0.5))
            return [h for h in self.held if h.project == project][count - 1]


class _TrapHandler(ProxyHandler):
    def _pass_on(self):
        body = self.read_body()
        project, kind = kind_of(self.command, self.path)
        server = self.server
        with server.changed:
            trapped = server.holding.get(project) == kind
            if trapped:
                held = Held(project, kind, time.time(), time.monotonic())
                server.held.append(held)
                server.changed.notify_all()
        answer = None
        if trapped and project in server.answered:
            answer = self.ask_backend(body)
        if trapped:
            if self.client_left(server.limit, holding=lambda: project in server.holding):
                held.outcome = "abandoned"
                self.close_connection = True
                return
            held.outcome = "released" if project not in server.holding else "waited out"
        if answer is None:
            answer = self.ask_backend(body)
        self.send_answer(answer)

    do_GET = do_PUT = do_POST = do_DELETE = _pass_on
