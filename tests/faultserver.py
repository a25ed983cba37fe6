"""A misbehaving HTTP server on 127.0.0.1 for fault tests: each path is one kind of bad answer.

It records the Authorization headers it receives, so tests can check that
credentials never reach a host they were not meant for.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE clam [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<clam id="x" name="&xxe;" version="3.2"><profiles><profile><input>
<InputTemplate id="t" format="PlainTextFormat" label="&xxe;" extension="txt" optional="no" unique="yes"/>
</input><output/></profile></profiles><parameters/></clam>"""

MAX_HANG_SECONDS = 20


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.authorizations = []
        self.redirect_target = None
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

    def do_GET(self):
        server = self.server
        server.authorizations.append((self.path, self.headers.get("Authorization")))
        path = self.path.strip("/").split("/")[0]
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
