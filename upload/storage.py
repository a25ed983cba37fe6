"""The media storage: a file appears under its name only once it is complete.

Django's FileSystemStorage writes straight into the final name, so a web process stopped during
the copy leaves a truncated file there. This one writes into MEDIA_ROOT/.partial/ (the same file
system, and a folder no stored name ever points into), flushes it to disk, then links it under its
name: os.link fails if the name is taken, which keeps Django's choice of another free name for a
clash. A half-written file therefore only ever exists in .partial/, where the periodic cleanup
(upload.cleanup) removes what a killed process left.
"""

import errno
import os
import uuid

from django.core.files.storage import FileSystemStorage
from django.utils._os import safe_makedirs

from upload import tempfiles

PARTIAL_FOLDER = ".partial"

# File systems without hard links (some network and FAT mounts) answer os.link with one of these.
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


class AtomicFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        partial = self._write_partial(content)
        try:
            full_path = self._link_into_place(partial, name)
        finally:
            tempfiles.remove(partial)
        # As FileSystemStorage._save ends: a name relative to the root, with forward slashes.
        self._ensure_location_group_id(full_path)
        return os.path.relpath(full_path, self.location).replace("\\", "/")

    def _makedirs(self, directory):
        try:
            if self.directory_permissions_mode is not None:
                safe_makedirs(directory, self.directory_permissions_mode, exist_ok=True)
            else:
                os.makedirs(directory, exist_ok=True)
        except FileExistsError:
            raise FileExistsError(f"{directory} exists and is not a directory.") from None

    def _write_partial(self, content):
        folder = self.path(PARTIAL_FOLDER)
        self._makedirs(folder)
        partial = os.path.join(folder, uuid.uuid4().hex)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        tempfiles.track(partial)  # removed if the web process exits during the copy
        target = None
        try:
            for chunk in content.chunks():
                if target is None:
                    target = os.fdopen(fd, "wb" if isinstance(chunk, bytes) else "wt")
                target.write(chunk)
            if target is not None:
                target.flush()
            # On disk before it gets its name: after a power loss the name never shows an empty file.
            os.fsync(fd)
        except BaseException:
            tempfiles.remove(partial)
            raise
        finally:
            if target is not None:
                target.close()
            else:
                os.close(fd)
        if self.file_permissions_mode is not None:
            os.chmod(partial, self.file_permissions_mode)
        return partial

    def _link_into_place(self, partial, name):
        folder_gone = 0
        while True:
            full_path = self.path(name)
            self._makedirs(os.path.dirname(full_path))
            try:
                if self._allow_overwrite:
                    os.replace(partial, full_path)
                else:
                    self._link(partial, full_path)
                return full_path
            except FileExistsError:
                name = self.get_available_name(name)
            except FileNotFoundError:
                # The folder was removed between makedirs and the link (the cleanup removes empty
                # folders, a project deletion removes its whole folder): make it again, a few times.
                folder_gone += 1
                if folder_gone > 3 or not os.path.exists(partial):
                    raise

    @staticmethod
    def _link(partial, full_path):
        try:
            os.link(partial, full_path)
        except OSError as exc:
            if exc.errno not in _NO_LINKS or isinstance(exc, FileExistsError):
                raise
            # No hard links here: check, then rename (a clash in between would overwrite; only such file systems risk it).
            if os.path.lexists(full_path):
                raise FileExistsError(full_path) from None
            os.rename(partial, full_path)
