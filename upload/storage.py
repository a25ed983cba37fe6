"""The media storage: a file appears under its name only once it is complete.

Django's FileSystemStorage writes straight into the final name, so a web process stopped during
the copy leaves a truncated file there. This one writes into MEDIA_ROOT/.partial/ (the same file
system, and a folder no stored name ever points into), flushes it to disk, then links it under its
name: os.link fails if the name is taken, which keeps Django's choice of another free name for a
clash. A half-written file therefore only ever exists in .partial/, where the periodic cleanup
(upload.cleanup) removes what a killed process left.

Content already in a temporary file of its own (Django's TemporaryUploadedFile, or a MovableFile)
is moved into .partial/ instead of copied: renamed when the temporary folder is on the same file
system, so a 2 GB upload is written once, not twice, and needs its space once.
"""

import errno
import os
import uuid

from django.core.files import File
from django.core.files.move import file_move_safe
from django.core.files.storage import FileSystemStorage
from django.utils._os import safe_makedirs

from upload import tempfiles

PARTIAL_FOLDER = ".partial"

# File systems without hard links (some network and FAT mounts) answer os.link with one of these.
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


class MovableFile(File):
    """An open temporary file that nothing reads after it is stored: the storage may move it into place."""

    def temporary_file_path(self):
        return self.file.name


class AtomicFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        if hasattr(content, "temporary_file_path"):
            partial = self._move_partial(content.temporary_file_path())
        else:
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

    def _new_partial(self):
        folder = self.path(PARTIAL_FOLDER)
        self._makedirs(folder)
        return os.path.join(folder, uuid.uuid4().hex)

    def _move_partial(self, temporary):
        partial = self._new_partial()
        tempfiles.track(partial)  # across file systems the move is a copy, which the process may not finish
        try:
            # A rename on one file system; otherwise a copy (refusing to overwrite), then the source removed.
            file_move_safe(temporary, partial, allow_overwrite=False)
            fd = os.open(partial, os.O_RDONLY)
            try:
                os.fsync(fd)  # as _write_partial: on disk before it gets its name
            finally:
                os.close(fd)
            if self.file_permissions_mode is not None:
                os.chmod(partial, self.file_permissions_mode)  # a temporary file is private (0600)
        except BaseException:
            tempfiles.remove(partial)
            raise
        return partial

    def _write_partial(self, content):
        partial = self._new_partial()
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
