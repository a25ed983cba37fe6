"""A misbehaving HTTP server on 127.0.0.1 for fault tests: each path is one kind of bad answer.

(And `HangingProxy`: a real CLAM service that hangs for some projects only.)

It records the Authorization headers it receives, so tests can check that
credentials never reach a host they were not meant for.
"""

import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE clam [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<clam id="x" name="&xxe;" version="3.2"><profiles><profile><input>
<InputTemplate id="t" format="PlainTextFormat" label="&xxe;" extension="txt" optional="no" unique="yes"/>
</input><output/></profile></profiles><parameters/></clam>"""

MAX_HANG_SECONDS = 20
SLOW_UPLOAD_SECONDS = 2


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.authorizations = []
        self.redirect_target = None
        self.deleted = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code, body, content_type="text/xml"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fake_clam(self, method):
        """A CLAM look-alike at /fake/<scenario>/<project>/...: its jobs are done at once, with bad outputs."""
        parts = self.path.strip("/").split("/")
        scenario, rest = parts[1], parts[2:]
        if method in ("PUT",) or (method == "DELETE" and len(rest) == 1):
            if method == "DELETE":
                self.server.deleted.append(rest[0])
            return self._send(201 if method == "PUT" else 200, b"ok", "text/plain")
        if method == "POST" and len(rest) >= 2 and rest[1] == "input":
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if scenario == "slowupload":  # CLAM copying and checking a large file before it answers
                self.server.stopping.wait(SLOW_UPLOAD_SECONDS)
            return self._send(200, b'<?xml version="1.0"?><clamupload><upload filename="in.txt"><valid>yes</valid></upload></clamupload>')
        if method == "POST":
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if scenario == "start500":  # the uploads go through; starting the job fails every time
                return self._send(500, b"Internal Server Error", "text/plain")
            return self._send(202, b'<?xml version="1.0"?><clam><status code="1" message="running" completion="0" errors="no"/></clam>')
        if len(rest) == 1:  # the project page
            if scenario == "garbage":
                return self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            if scenario == "hang":
                self.server.stopping.wait(MAX_HANG_SECONDS)
                return
            if scenario == "error500":
                return self._send(500, b"Internal Server Error", "text/plain")
            names = {"traversal": ["../evil.txt", "/abs.txt", "good.txt"], "endless": ["huge.bin"], "vanish": ["cut.bin"],
                     "slowupload": ["good.txt"], "trickle": ["slow.bin"], "lostlong": ["error.log"],
                     "failedlong": ["error.log"]}[scenario]
            files = "".join(f"<file><name>{n}</name></file>" for n in names)
            errors = "yes" if scenario in ("lostlong", "failedlong") else "no"
            body = f'<?xml version="1.0"?><clam><status code="2" message="done" completion="100" errors="{errors}"/><output>{files}</output></clam>'
            return self._send(200, body.encode())
        name = rest[-1]
        if scenario == "endless":
            self.send_response(200)
            self.end_headers()
            deadline = time.monotonic() + MAX_HANG_SECONDS
            try:
                while time.monotonic() < deadline and not self.server.stopping.is_set():
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                pass
            return
        if scenario == "trickle":  # a byte now and then: each wait is short, the whole never ends
            self.send_response(200)
            self.send_header("Content-Length", str(1_000_000))
            self.end_headers()
            deadline = time.monotonic() + MAX_HANG_SECONDS
            try:
                while time.monotonic() < deadline and not self.server.stopping.wait(0.1):
                    self.wfile.write(b"x")
                    self.wfile.flush()
            except OSError:
                pass
            return
        if scenario in ("lostlong", "failedlong"):  # a job's long log (1.4 MB); a killed job's ends without the dispatcher's
            body = b"[CLAM Dispatcher] Started\n" + b"a line of the job's own log\n" * 50_000
            if scenario == "failedlong":
                body += b"Failed: the transcript is empty\n[CLAM Dispatcher] Job ended with exit status 1\n"
            return self._send(200, body, "text/plain")
        if scenario == "vanish":
            self.send_response(200)
            self.send_header("Content-Length", str(1_000_000))
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            self.close_connection = True
            return
        return self._send(200, f"content of {name}".encode(), "text/plain")

    def do_PUT(self):
        self._fake_clam("PUT")

    def do_POST(self):
        self._fake_clam("POST")

    def do_DELETE(self):
        self._fake_clam("DELETE")

    def do_GET(self):
        server = self.server
        server.authorizations.append((self.path, self.headers.get("Authorization")))
        path = self.path.strip("/").split("/")[0]
        if path == "fake":
            return self._fake_clam("GET")
        if path == "html":
            self._send(200, b"<!doctype html><html><body><h1>Welcome to nginx!</body></html>", "text/html")
        elif path == "truncated":
            self._send(200, b'<?xml version="1.0"?><clam id="x"><profiles><profile><input><InputTemplate id="a"')
        elif path == "xxe":
            self._send(200, XXE)
        elif path == "error500":
            self._send(500, b"Internal Server Error", "text/plain")
        elif path == "redirect":
            self.send_response(302)
            self.send_header("Location", server.redirect_target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "hang":
            server.stopping.wait(MAX_HANG_SECONDS)
        elif path == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            for _ in range(MAX_HANG_SECONDS * 4):
                if server.stopping.is_set():
                    break
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    break
                time.sleep(0.25)
        elif path == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            try:
                self.wfile.write(b"<clam>")
                for _ in range(2000):
                    self.wfile.write(b"<x/>" * 4096)
            except OSError:
                pass
        else:
            self._send(404, b"not found", "text/plain")


class Proxy(ThreadingHTTPServer):
    """A server on 127.0.0.1 that passes requests on to a real CLAM service (`backend`), for handlers
    built on `ProxyHandler` that hold some of them first. Shared by HangingProxy and tests/steptrap.py."""

    daemon_threads = True

    def __init__(self, backend, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.backend = backend.rstrip("/")
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    url = FaultServer.url
    start = FaultServer.start
    stop = FaultServer.stop


class HangingProxy(Proxy):
    """A real CLAM service behind a proxy on 127.0.0.1 that hangs for chosen CLAM projects.

    Requests whose first path segment is in `hang_projects` are held for `hang_seconds` and then
    passed on (a service that answers far too late); every other request is passed on at once.
    `requests` records (project, method, outcome) with outcome "passed", "abandoned" (the client
    gave up and closed the connection while the proxy held the request) or "waited out".
    """

    def __init__(self, backend, hang_seconds):
        super().__init__(backend, _HangingHandler)
        self.hang_seconds = hang_seconds
        self.hang_projects = set()
        self.requests = []

    def outcomes(self, project):
        return [outcome for name, _, outcome in list(self.requests) if name == project]


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


class ProxyHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def read_body(self):
        # The whole body first: afterwards anything readable on the socket is the client leaving.
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def client_left(self, seconds, holding=lambda: True):
        """Hold the request for up to `seconds` while `holding()`; True as soon as its client closes the
        connection (it stopped waiting, or was killed)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            if not holding():
                return False
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                return True
        return False

    def ask_backend(self, body):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        return requests.request(self.command, self.server.backend + self.path, headers=headers, data=body,
                                allow_redirects=False, timeout=60)

    def send_answer(self, answer):
        try:
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)
        except OSError:
            pass  # the client left while the answer was on its way


class _HangingHandler(ProxyHandler):
    def _pass_on(self):
        body = self.read_body()
        project = self.path.lstrip("/").split("/")[0].split("?")[0]
        if project in self.server.hang_projects:
            if self.client_left(self.server.hang_seconds):
                self.server.requests.append((project, self.command, "abandoned"))
                self.close_connection = True
                return
            outcome = "waited out"
        else:
            outcome = "passed"
        answer = self.ask_backend(body)
        self.server.requests.append((project, self.command, outcome))
        self.send_answer(answer)

    do_GET = do_PUT = do_POST = do_DELETE = _pass_on


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; `received` holds what each connection sent (a TLS
    hello, a plain-HTTP request …), in the order they came, for tests of what a client asks a server that
    keeps it waiting."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.received = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    @property
    def port(self):
        return self.listener.getsockname()[1]

    def start(self):
        self.threads[0].start()
        return self

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.listener.close()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            data = bytearray()
            self.received.append(data)
            thread = threading.Thread(target=self._keep, args=(connection, data), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _keep(self, connection, data):
        with connection:
            connection.settimeout(0.1)
            while not self.stopping.is_set():
                try:
                    chunk = connection.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                data += chunk
