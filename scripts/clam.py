"""Talking to CLAM servers over HTTP, robustly.

The `clam` client has no timeouts and follows redirects with credentials;
every request Equestria makes goes through `ClamConnection` instead: connect
and read timeouts, a byte cap on responses, redirects followed only within
the same host, and failures turned into the domain errors below, whose
messages are meant for administrators and users.
"""

import logging
import time
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from lxml import etree
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3


class ClamError(Exception):
    """An expected failure talking to a CLAM server; str() is the message to show."""


class ServerUnreachable(ClamError):
    pass


class ServerTimeout(ClamError):
    pass


class AuthenticationFailed(ClamError):
    pass


class NotAClamService(ClamError):
    pass


class MalformedResponse(ClamError):
    pass


class ServerError(ClamError):
    """The server answered 5xx: worth retrying later."""


class UnsafeRedirect(ClamError):
    pass


class UnexpectedRedirect(ClamError):
    """A redirect in answer to a request that changes something (an upload, a start, a delete)."""


class RequestRefused(ClamError):
    """CLAM refused the request itself (403 with its reasons), e.g. no profile matches the inputs."""

    PREFIX = "the CLAM server refused: "

    @classmethod
    def reason(cls, exc):
        """CLAM's reasons only, without the words that say it refused."""
        return str(exc).removeprefix(cls.PREFIX)


# An XML parser that resolves no entities, loads no DTD and touches no network (XXE).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_xml(content, what="response"):
    try:
        root = etree.fromstring(content, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedResponse(f"the server's {what} is not well-formed XML ({exc})") from None
    if root is None:
        raise MalformedResponse(f"the server's {what} is empty")
    return root


def upload_read_timeout(size):
    """How long CLAM may take to answer an upload of `size` bytes, counted from when the body is sent.

    CLAM's web server takes in the whole body first; only then does CLAM copy the file into the
    project, validate it and expand archives, all before it answers, so a large file legitimately
    needs longer than a status poll. (Sending the body itself is bounded per write by the connect
    timeout: a server that stops reading fails fast.)
    """
    return settings.CLAM_READ_TIMEOUT + settings.CLAM_UPLOAD_SECONDS_PER_GB * size / 1024**3


def transfer_seconds(size):
    """How long a transfer of `size` bytes (an output being downloaded) may take in all.

    The allowance of `upload_read_timeout` with CLAM_TOTAL_TIMEOUT to start with: a server may pause,
    but one that trickles a few bytes at a time is stopped.
    """
    return settings.CLAM_TOTAL_TIMEOUT + settings.CLAM_UPLOAD_SECONDS_PER_GB * size / 1024**3


def _same_origin(a, b):
    a, b = urlsplit(a), urlsplit(b)
    return (a.hostname, a.port or _default_port(a.scheme)) == (b.hostname, b.port or _default_port(b.scheme))


def _default_port(scheme):
    return 443 if scheme == "https" else 80


class ClamConnection:
    def __init__(self, url, username="", password="", auth_scheme="basic", *, for_admin=False):
        self.url = url if url.endswith("/") else url + "/"
        self.username = username
        self.password = password
        self.auth_scheme = auth_scheme
        self.session = requests.Session()
        # Credentials are added per request below, only for this server's origin.
        self.session.trust_env = False
        # For the admin (import, test connection), messages name the whole URL the administrator typed
        # (a wrong path is the usual mistake), and everything ends within CLAM_ADMIN_TIMEOUT, because an
        # administrator's page waits for it. A worker's requests go to CLAM's own project paths, which
        # mean nothing to a researcher: its messages name the server.
        self.for_admin = for_admin
        self.deadline = time.monotonic() + settings.CLAM_ADMIN_TIMEOUT if for_admin else None

    @classmethod
    def for_script(cls, script, *, for_admin=False):
        return cls(script.url, script.username, script.get_password(), script.auth_scheme, for_admin=for_admin)

    def _admin_time_is_up(self, url):
        return ServerTimeout(
            f"{self._where(url)} did not answer completely within {settings.CLAM_ADMIN_TIMEOUT} s, Equestria's limit "
            "for the admin (CLAM_ADMIN_TIMEOUT); it accepts connections, but does not answer as a CLAM service would"
        )

    def _auth(self, scheme):
        if not self.username:
            return None
        if scheme == "digest":
            return HTTPDigestAuth(self.username, self.password)
        return HTTPBasicAuth(self.username, self.password)

    def request(self, method, path="", *, stream=False, max_bytes=None, read_timeout=None, **kwargs):
        """One request, relative to the service's URL; returns the response, or raises ClamError.

        `read_timeout` is how long the server may take to answer once the request is sent: by default
        CLAM_READ_TIMEOUT, short, so a worker spends little time on a server that hangs; an upload
        passes `upload_read_timeout(size)`.
        """
        url = urljoin(self.url, path)
        read_timeout = read_timeout or settings.CLAM_READ_TIMEOUT
        timeout = (settings.CLAM_CONNECT_TIMEOUT, read_timeout)
        scheme = self.auth_scheme
        for _ in range(MAX_REDIRECTS + 1):
            clipped = False
            if self.deadline is not None:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise self._admin_time_is_up(url)
                clipped = remaining < read_timeout
                timeout = (min(settings.CLAM_CONNECT_TIMEOUT, remaining), min(read_timeout, remaining))
            try:
                response = self.session.request(
                    method, url, auth=self._auth(scheme), timeout=timeout, allow_redirects=False, stream=True, **kwargs
                )
            except requests.exceptions.ConnectTimeout:
                raise ServerTimeout(
                    f"cannot connect to {self._where(url)} within {settings.CLAM_CONNECT_TIMEOUT} s"
                ) from None
            except requests.exceptions.Timeout:
                if clipped:
                    raise self._admin_time_is_up(url) from None
                raise ServerTimeout(f"{self._where(url)} did not answer within {read_timeout:g} s") from None
            except requests.exceptions.ConnectionError as exc:
                if self.for_admin and any(n in str(exc) for n in ("Connection aborted", "RemoteDisconnected")):
                    raise ServerUnreachable(
                        f"{self._where(url)} closed the connection without answering ({_reason(exc)})"
                    ) from None
                raise ServerUnreachable(f"cannot connect to {self._where(url)} ({_reason(exc)})") from None
            except requests.exceptions.RequestException as exc:
                raise ServerUnreachable(f"request to {self._where(url)} failed ({_reason(exc)})") from None
            if response.status_code == 401 and self.username and scheme != "digest":
                if "digest" in response.headers.get("WWW-Authenticate", "").lower():
                    response.close()
                    scheme = "digest"
                    continue
            if response.is_redirect:
                target = urljoin(url, response.headers.get("Location", ""))
                response.close()
                if method not in ("GET", "HEAD"):
                    # An upload's body is a stream already sent: following would send nothing (or wait
                    # for the read timeout), and a service that redirects an upload did not store it.
                    raise UnexpectedRedirect(
                        f"{self._where(url)} answered the {_what(method)} with a redirect (HTTP {response.status_code}) "
                        "instead of accepting it; Equestria follows no redirect for uploads and other changes"
                    )
                if not _same_origin(target, self.url) or urlsplit(target).scheme not in ("http", "https"):
                    raise UnsafeRedirect(
                        f"{self._where(url)} redirects to {urlsplit(target).netloc or target}; "
                        "Equestria does not send credentials to another host — use the final address as the URL"
                    )
                url = target
                continue
            break
        else:
            raise MalformedResponse(f"{self._where(url)} redirects too often")
        self.auth_scheme = scheme
        self._raise_for_status(response, url)
        if not stream:
            response._content = self._read_capped(response, max_bytes or settings.CLAM_MAX_XML_BYTES)
        return response

    def _read_capped(self, response, max_bytes):
        # The read timeout applies to each receive; a server that trickles
        # bytes would never trip it, hence the overall deadline.
        deadline = time.monotonic() + settings.CLAM_TOTAL_TIMEOUT
        admin_limit = self.deadline is not None and self.deadline < deadline
        deadline = min(deadline, self.deadline) if self.deadline is not None else deadline
        chunks, size = [], 0
        try:
            while True:
                # read1 returns what has arrived instead of waiting for a full buffer.
                chunk = response.raw.read1(64 * 1024, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise MalformedResponse(f"the server's answer is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    if admin_limit:
                        raise self._admin_time_is_up(response.url)
                    raise ServerTimeout(
                        f"{self._where(response.url)} took longer than {settings.CLAM_TOTAL_TIMEOUT} s to send its answer"
                    )
                chunks.append(chunk)
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError):
            raise ServerTimeout(f"{self._where(response.url)} stopped sending in the middle of its answer") from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise ServerUnreachable(f"the connection to {self._where(response.url)} broke ({_reason(exc)})") from None
        finally:
            response.close()
        return b"".join(chunks)

    def chunks(self, response, size=1024 * 1024):
        """The body of a streamed response, in pieces as they arrive (not waiting for `size` bytes each)."""
        try:
            while chunk := response.raw.read1(size, decode_content=True):
                yield chunk
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError):
            raise ServerTimeout(
                f"{self._where(response.url)} stopped sending within {settings.CLAM_READ_TIMEOUT:g} s"
            ) from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise ServerUnreachable(f"the connection to {self._where(response.url)} broke ({_reason(exc)})") from None

    def where(self):
        """The server's address as shown to users (scheme and host, no path)."""
        return self._where(self.url)

    def _raise_for_status(self, response, url):
        code = response.status_code
        if code == 403:
            reason = self._clam_refusal(response)
            if reason:
                raise RequestRefused(f"{RequestRefused.PREFIX}{reason}")
        if code in (401, 403):
            response.close()
            raise AuthenticationFailed(
                f"{self._where(url)} rejected the credentials (HTTP {code})"
                if self.username
                else f"{self._where(url)} requires a username and password (HTTP {code})"
            )
        if code == 404:
            response.close()
            raise NotAClamService(f"{self._where(url)} answered 404 Not Found")
        if code >= 500:
            response.close()
            raise ServerError(f"{self._where(url)} had an internal error (HTTP {code})")
        if code >= 400:
            response.close()
            raise MalformedResponse(f"{self._where(url)} refused the request (HTTP {code})")

    def _clam_refusal(self, response):
        """CLAM's own reasons in a 403 answer, or None when it is an authentication refusal."""
        try:
            body = self._read_capped(response, settings.CLAM_MAX_XML_BYTES)
            root = parse_xml(body, "answer")
        except ClamError:
            # CLAM refuses some requests (e.g. a file name it does not accept) with a plain-text 403;
            # a refused login is a 401, so this is the service's reason, not a password problem.
            if response.headers.get("Content-Type", "").startswith("text/plain"):
                text = body.decode("utf-8", errors="replace").strip() if "body" in locals() else ""
                return text[:300] or None
            return None
        if root.tag not in ("clam", "clamupload"):
            return None
        reasons = [s.get("errormsg") for s in root.iter("status") if s.get("errormsg")]
        reasons += [f"{p.get('id')}: {p.get('error')}" for p in root.iter() if p.get("error") and p.get("id")]
        reasons += [(e.text or "").strip() for e in root.iter("error") if (e.text or "").strip()]
        return "; ".join(dict.fromkeys(reasons)) or None

    def _where(self, url):
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]  # never credentials written into the URL
        return f"{parts.scheme}://{host}{parts.path}" if self.for_admin else f"{parts.scheme}://{host}"

    def index(self):
        """The service's description: the root <clam> element of its index page."""
        response = self.request("GET", "")
        try:
            root = parse_xml(response.content, "index page")
        except MalformedResponse:
            if b"<clam" not in response.content[:4096]:
                raise NotAClamService(
                    f"{self._where(self.url)} answered with a page that is not a CLAM service description"
                ) from None
            raise
        if root.tag != "clam":
            raise NotAClamService(f"{self._where(self.url)} does not look like a CLAM service (no <clam> document)")
        # Without credentials a protected service still answers, with its public
        # "porch" page for user "anonymous": projects would be refused later.
        if root.get("authentication", "none") != "none" and root.get("user", "anonymous") == "anonymous":
            raise AuthenticationFailed(f"{self._where(self.url)} requires a username and password")
        return root


    def index_of(self, project):
        """The root <clam> element of one project's page."""
        response = self.request("GET", quote(project, safe="") + "/")
        try:
            root = parse_xml(response.content, "project page")
        except MalformedResponse:
            if b"<clam" not in response.content[:4096]:
                raise MalformedResponse("the server answered with a page that is not CLAM's XML (a proxy error?)") from None
            raise
        if root.tag != "clam":
            raise MalformedResponse("the server answered with a page that is not CLAM's XML (a proxy error?)")
        return root


_NETWORK_REASONS = [
    (("Connection refused",), "connection refused"),
    (("Name or service not known", "nodename nor servname", "Temporary failure in name resolution"),
     "unknown host name"),
    (("timed out", "Timeout"), "timed out"),
    (("Connection reset",), "connection reset"),
    (("Connection aborted", "RemoteDisconnected", "closed connection", "IncompleteRead"),
     "the connection was closed early"),
    (("No route to host", "Network is unreachable"), "network unreachable"),
    (("SSL", "certificate"), "TLS (certificate) problem"),
]


def _what(method):
    return {"POST": "upload or start", "PUT": "creation of the project", "DELETE": "deletion"}.get(
        method, f"{method} request"
    )


def _reason(exc):
    """A network error in plain words: the library's text names exception classes (NewConnectionError …)."""
    text = str(exc)
    for needles, reason in _NETWORK_REASONS:
        if any(needle in text for needle in needles):
            return reason
    return "network error"
