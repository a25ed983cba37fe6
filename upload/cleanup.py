"""Removing files that crashes left behind: `remove_orphans`.

A web process killed during an upload leaves its temporary file (up to the largest upload), and,
before the storage wrote aside (upload.storage), a truncated file in media; a worker or web process
killed between storing a file and saving its row leaves a file no row refers to. This removes,
once they are older than CLEANUP_ORPHAN_AGE_HOURS:

- upload temporary files and unpacked archives in FILE_UPLOAD_TEMP_DIR (only names uploads make:
  see upload.tempfiles.TEMP_PATTERNS);
- half-written files in MEDIA_ROOT/.partial/;
- files under MEDIA_ROOT/projects/ that nothing refers to: an uploaded file's row (ProjectFile),
  a process's output folder (runs keep their results there), a saved version of a result
  (ResultVersion) or an input of a process still running;
- then the folders these leave empty, and empty folders older than the age (never the top ones).

Anything else in MEDIA_ROOT is not Equestria's and is left alone. The age is what makes this safe to
run at any time: a file being uploaded, stored or downloaded is written to continually, and has its
row within moments of being complete.

Unreferenced means "no row in *this* database": a cron job or shell whose settings point at another
database (an empty one, a test copy, an old backup) with the same MEDIA_ROOT would take every project
file for an orphan. So unless forced it removes no unreferenced file, and logs an error, when the
database has no projects, files or processes at all while old project files exist, or when more
than half of the project files (and more than MAX_UNREFERENCED_UNFORCED) look unreferenced. The
temporary folder and .partial/ are cleaned all the same: nothing there is ever referenced.
"""

import fnmatch
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.files.storage import default_storage

from upload import tempfiles
from upload.storage import PARTIAL_FOLDER

log = logging.getLogger(__name__)

PROJECTS_FOLDER = "projects"

# Removing more unreferenced files than this at once, and more than this share of all project files,
# needs force=True (see the module's docstring): a crash leaves a few orphans, not half of media.
MAX_UNREFERENCED_UNFORCED = 100
MAX_UNREFERENCED_SHARE = 0.5


@dataclass
class Removed:
    """What one kind of cleanup removed (or would remove, in a dry run)."""

    label: str
    files: int = 0
    bytes: int = 0
    paths: list = field(default_factory=list)

    def add(self, path, size):
        self.files += 1
        self.bytes += size
        self.paths.append(path)


@dataclass
class Report:
    temporary: Removed
    partial: Removed
    unreferenced: Removed
    folders: Removed
    dry_run: bool
    # Why unreferenced files were not removed (a wrong database?), or "".
    refused: str = ""

    @property
    def kinds(self):
        return [self.temporary, self.partial, self.unreferenced, self.folders]

    @property
    def total_bytes(self):
        return sum(kind.bytes for kind in self.kinds)


def remove_orphans(now=None, dry_run=False, age_hours=None, force=False):
    """Remove what crashes left behind (see the module's docstring); returns a Report.

    `now` is a timestamp or an aware datetime (default: the current time); `age_hours` defaults to
    CLEANUP_ORPHAN_AGE_HOURS. Safe to call while web processes and workers run. `force` removes
    unreferenced files even when so many look unreferenced that the database may be the wrong one.
    """
    if now is None:
        now = time.time()
    elif isinstance(now, datetime):
        now = now.timestamp()
    age_hours = settings.CLEANUP_ORPHAN_AGE_HOURS if age_hours is None else age_hours
    cutoff = now - age_hours * 3600
    report = Report(
        temporary=Removed("temporary upload files"),
        partial=Removed("half-written media files"),
        unreferenced=Removed("media files no record refers to"),
        folders=Removed("empty folders"),
        dry_run=dry_run,
    )
    _temporary(report, cutoff, dry_run)
    root = os.path.abspath(default_storage.path(""))
    # References first: a file stored after this read is younger than the age, so it stays anyway.
    files, folders = _references()
    _media(root, PARTIAL_FOLDER, report.partial, report.folders, cutoff, dry_run)
    if not force:
        report.refused = _wrong_database(root, cutoff, files, folders)
    if report.refused and not dry_run:
        log.error("%s", report.refused)
    if not report.refused or dry_run:  # a dry run lists them all the same, to check them
        _media(root, PROJECTS_FOLDER, report.unreferenced, report.folders, cutoff, dry_run, files, folders)
    if not dry_run and any(kind.files for kind in report.kinds):
        log.info("Removed orphan files: %s", ", ".join(f"{kind.files} {kind.label} ({kind.bytes} bytes)" for kind in report.kinds))
        for kind in report.kinds:
            for path in kind.paths:
                log.debug("Removed %s: %s", kind.label, path)
    return report


# Callables giving more storage names that are referenced, registered by the apps above this one (pipelines: the
# result editor's saved versions, kept under their run's folder, outside every output folder).
REFERENCED_FILES = []


def _references():
    """Storage names of every referenced file, and folders (with a trailing slash) whose contents are referenced."""
    from scripts.models import Process
    from upload.models import ProjectFile

    files = set(ProjectFile.objects.values_list("file", flat=True).iterator())
    for more in REFERENCED_FILES:
        files.update(more())
    folders = {f"{folder.rstrip('/')}/" for folder in Process.objects.values_list("output_folder", flat=True).iterator() if folder}
    for inputs in Process.objects.exclude(status__in=Process.FINISHED).values_list("inputs", flat=True).iterator():
        files.update(item.get("storage_name", "") for item in inputs or [] if isinstance(item, dict))
    return files, folders


def _wrong_database(root, cutoff, files, folders):
    """Why the unreferenced project files are too many to remove without force (a wrong database?), or ""."""
    from scripts.models import Process
    from upload.models import Project, ProjectFile

    candidates = Removed("candidates")
    _media(root, PROJECTS_FOLDER, candidates, Removed("folders"), cutoff, True, files, folders)
    if not candidates.files:
        return ""
    where = os.path.join(root, PROJECTS_FOLDER)
    check = ("Is this the database that goes with this MEDIA_ROOT (the settings or environment of this cron "
             "job or shell)? Nothing under it was removed (temporary files and .partial/ were cleaned). See "
             "them with `manage.py remove_orphan_files --dry-run -v 2`; if they really are orphans, run it with --force.")
    if not (Project.objects.exists() or ProjectFile.objects.exists() or Process.objects.exists()):
        return (f"Refusing to remove {candidates.files} project file(s) older than the cleanup age in {where}: the "
                f"database has no projects, files or processes at all. {check}")
    total = sum(len(names) for _, _, names in os.walk(where))
    if candidates.files > MAX_UNREFERENCED_UNFORCED and candidates.files > MAX_UNREFERENCED_SHARE * total:
        return (f"Refusing to remove {candidates.files} of the {total} project files in {where} as unreferenced: "
                f"more than {MAX_UNREFERENCED_SHARE:.0%} of them look like orphans, which a crash does not "
                f"leave (a database restored from an older backup, or another one). {check}")
    return ""


def _in_folders(rel, folders):
    """Whether `rel` lies in one of the referenced folders."""
    parts = rel.split("/")[:-1]
    return any("/".join(parts[:i]) + "/" in folders for i in range(1, len(parts) + 1))


def _temporary(report, cutoff, dry_run):
    folder = settings.FILE_UPLOAD_TEMP_DIR
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in tempfiles.TEMP_PATTERNS):
            continue
        try:
            newest, size = _newest_and_size(entry)
        except FileNotFoundError:
            continue  # its request ended meanwhile
        if newest >= cutoff:
            continue
        if not dry_run and not _removed(tempfiles.remove, entry.path):
            continue
        report.temporary.add(entry.path, size)


def _newest_and_size(entry):
    """Newest modification time and total size of a file, or of a folder and everything in it."""
    if not entry.is_dir(follow_symlinks=False):
        st = entry.stat(follow_symlinks=False)
        return st.st_mtime, st.st_size
    newest, size = entry.stat(follow_symlinks=False).st_mtime, 0
    for path, dirs, names in os.walk(entry.path):
        for name in dirs + names:
            try:
                st = os.lstat(os.path.join(path, name))
            except FileNotFoundError:
                continue
            newest = max(newest, st.st_mtime)
            size += st.st_size if name in names else 0
    return newest, size


def _removed(remove, path):
    """Whether `remove(path)` removed it; a file it may not remove is logged and left, the others go on."""
    try:
        remove(path)
    except FileNotFoundError:
        return False  # removed by its owner meanwhile
    except OSError as exc:
        log.warning("Cannot remove %s: %s", path, exc.strerror or exc)
        return False
    return True


def _media(root, top, removed, removed_folders, cutoff, dry_run, files=frozenset(), folders=frozenset()):
    """Remove files older than `cutoff` below root/top that are not among `files` or in `folders`, then
    the folders left empty (a referenced folder stays even when empty: the run's page lists it)."""
    top = os.path.join(root, top)
    if not os.path.isdir(top):
        return
    gone = set()  # paths removed (or that a dry run would remove)
    emptied = set()  # folders this run took something out of
    for path, dirs, names in os.walk(top, topdown=False):
        for name in names:
            full = os.path.join(path, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if rel in files or _in_folders(rel, folders):
                continue
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            if st.st_mtime >= cutoff:
                continue
            if not dry_run and not _removed(os.unlink, full):
                continue
            gone.add(full)
            emptied.add(path)
            removed.add(rel, st.st_size)
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        if path == top or f"{rel}/" in folders:
            continue
        try:
            left = [e for e in os.listdir(path) if os.path.join(path, e) not in gone]
            old = os.lstat(path).st_mtime < cutoff
        except FileNotFoundError:
            continue
        # A folder made a moment ago may be about to receive a file: only old ones, or ones this run emptied.
        if left or not (old or path in emptied):
            continue
        if not dry_run:
            try:
                os.rmdir(path)
            except OSError:
                continue  # something arrived meanwhile
        gone.add(path)
        emptied.add(os.path.dirname(path))
        removed_folders.add(rel, 0)


def remove_orphans_when_idle(**kwargs):
    """Receiver of scripts.signals.worker_idle_hourly: every worker cleans up about once an hour."""
    remove_orphans()
