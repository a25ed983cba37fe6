"""How a file goes out as a download: the one place its headers are decided, for pages and API."""

import re
import unicodedata
from urllib.parse import quote

from django.http import FileResponse


def content_disposition(name):
    """An attachment header naming `name`: RFC 6266's `filename*` in UTF-8 for browsers, and an ASCII
    `filename` next to it for clients that read only that one (curl -OJ saved "écoute.TextGrid" under the
    URL's last part)."""
    letters = "".join(c for c in unicodedata.normalize("NFKD", name) if unicodedata.category(c) != "Mn")  # é → e
    if sum(not c.isascii() for c in letters) > 1:
        # Greek, Hebrew, Japanese …: "_.TextGrid" for each would make them one file; their UTF-8 in %-escapes
        # keeps names apart (and a browser, reading filename*, shows the name itself).
        letters = quote(letters, safe=" ()")
    ascii_name = re.sub(r"[^A-Za-z0-9._ ()%-]+", "_", letters)
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=utf-8''{quote(name, safe='')}"


def attachment(content, name, content_type="application/octet-stream"):
    """`content` (an open binary file, or an iterator of bytes, which goes out as it comes: no Content-Length)
    as a download named `name`, never shown inline by the browser."""
    response = FileResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition(name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def uploaded_file(f):
    """A project's file as the user uploaded it; sandboxed, should a browser render it after all."""
    response = attachment(f.file.open("rb"), f.name)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
