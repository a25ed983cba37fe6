"""The upload temporary folder, and removing what a request wrote there however the request ends.

Uploads stream into a folder of our own (FILE_UPLOAD_TEMP_DIR, by default var/tmp/uploads), so the
periodic cleanup (upload.cleanup) only ever looks at our files. Every temporary file or folder an
upload makes is tracked here while it lives:

- a request that ends, normally or by an exception (a client that disconnects mid-upload makes
  the body parser raise), removes its own in UploadTempFilesMiddleware;
- a web process that exits normally while requests are still running (Ctrl-C of runserver, whose
  request threads are abandoned at exit; gunicorn's quick shutdown) removes every tracked one at exit.

A process killed outright (SIGKILL, a gunicorn graceful timeout, power loss) leaves them behind:
the periodic cleanup removes those once they are older than CLEANUP_ORPHAN_AGE_HOURS.
"""

import atexit
import os
import shutil
import threading

from django.conf import settings

# Names of what uploads leave in the temporary folder; the cleanup removes only these, so even a
# FILE_UPLOAD_TEMP_DIR shared with other programs (/tmp) loses nothing of theirs.
# Django's TemporaryUploadedFile: tmp<random>.upload<extension>.
TEMP_PATTERNS = ("tmp*.upload*", "equestria-upload-*", "equestria-zip-*")

_live = set()
_lock = threading.Lock()


def temp_dir():
    """The upload temporary folder, made if it is missing (an operator may have emptied var/tmp)."""
    os.makedirs(settings.FILE_UPLOAD_TEMP_DIR, exist_ok=True)
    return settings.FILE_UPLOAD_TEMP_DIR


def track(path):
    """Remove `path` (a file or folder) if the process exits before `untrack` is called."""
    with _lock:
        _live.add(os.fspath(path))


def untrack(path):
    with _lock:
        _live.discard(os.fspath(path))


def remove(path):
    """Remove a tracked file or folder now (gone already is fine)."""
    path = os.fspath(path)
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    untrack(path)


@atexit.register
def _remove_live():
    with _lock:
        paths = list(_live)
    for path in paths:
        try:
            remove(path)
        except OSError:
            pass  # exiting anyway; the periodic cleanup gets it
