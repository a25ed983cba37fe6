"""Adding files to projects: which input template a file is for, content checks, limits, saving.

The upload view makes one `Upload` per request, calls its `add` for each file
(a .zip adds its members) and then `commit`; `Upload.outcomes` holds one outcome
per file, so one bad file never stops the others of the same upload.
"""

import logging
import re
import shutil
import unicodedata
from dataclasses import dataclass

import soundfile
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum

from scripts.runner import cancel
from upload.archives import ArchiveRefused, extract_zip
from upload.models import ACTIVE_PROCESSES, Project, ProjectFile
from upload import tempfiles
from upload.names import MAX_NAME_BYTES, MAX_NAME_LENGTH, BadName, clean_name, extension_of
from upload.storage import MovableFile

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {"wav", "flac", "ogg", "mp3", "aiff", "aif"}
LIBSNDFILE_EXTENSIONS = {"wav", "flac", "ogg", "aiff", "aif"}
TEXT_KINDS = {ProjectFile.Kind.TRANSCRIPT, ProjectFile.Kind.DICTIONARY}
SNIFF_BYTES = 64 * 1024


class FileRefused(ValueError):
    """The file is not added; the message says why, for the user."""


class ProjectGone(Exception):
    """The project was deleted while a request that changes it was on its way."""

    def __init__(self):
        super().__init__("This project no longer exists: it was deleted.")


def lock_project(project_id):
    """The project's row, locked until the end of the current transaction; raises ProjectGone.

    Starting an alignment, adding files and deleting the project each take this lock, and check
    what they need only after taking it, so that two of them sent at the same moment happen one
    after the other. On PostgreSQL this is a row lock (SELECT ... FOR UPDATE); SQLite has none, but
    there every transaction begins IMMEDIATE (see settings), which takes the database's write lock.
    """
    # No select_related: PostgreSQL would lock the joined rows too (the pipeline, shared by many projects).
    project = Project.objects.select_for_update().filter(pk=project_id).first()
    if project is None:
        raise ProjectGone()
    return project


@dataclass
class Outcome:
    name: str
    saved: bool
    message: str


def input_templates(pipeline):
    """The FA script's input templates, all profiles, by lower-case extension (first wins)."""
    by_extension = {}
    templates = []
    for profile in pipeline.fa_script.profiles.prefetch_related("input_templates"):
        for template in profile.input_templates.all():
            templates.append(template)
            by_extension.setdefault(template.extension.lower(), template)
    return templates, by_extension


def kind_of(template):
    extension = template.extension.lower()
    if extension in AUDIO_EXTENSIONS or template.mimetype.startswith("audio/"):
        return ProjectFile.Kind.AUDIO
    if extension == "dict" or "dictionary" in template.label.lower() or "lexicon" in template.label.lower():
        return ProjectFile.Kind.DICTIONARY
    if extension == "txt" or template.mimetype.startswith("text/"):
        return ProjectFile.Kind.TRANSCRIPT
    return ProjectFile.Kind.OTHER


def _check_text(path, name):
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if b"\x00" in head:
        raise FileRefused(f"{name}: this is not a text file (it contains NUL bytes)")
    # Decode the whole file incrementally, so a large file never sits in memory.
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise FileRefused(
            f"{name}: the text is not UTF-8 (byte {exc.start} of a block cannot be decoded); "
            "save it as UTF-8 in your editor and upload it again"
        ) from None
    if not head.decode("utf-8-sig", errors="ignore").strip():
        raise FileRefused(f"{name}: the file contains no text")


def _check_audio(path, name):
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        raise FileRefused(f"{name}: this is not audio that can be read (damaged, or not really a {extension_of(name).upper()} file)") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise FileRefused(f"{name}: the recording contains no audio")
    return {"duration": info.frames / info.samplerate, "sample_rate": info.samplerate, "channels": info.channels}


def check_content(path, name, kind):
    """Metadata of a file that passes the content check for its kind; raises FileRefused."""
    if path.stat().st_size == 0:
        raise FileRefused(f"{name}: the file is empty")
    if kind == ProjectFile.Kind.AUDIO:
        if extension_of(name) not in LIBSNDFILE_EXTENSIONS:
            return {}
        return _check_audio(path, name)
    if kind in TEXT_KINDS:
        _check_text(path, name)
    return {}


class Upload:
    """One upload request into one project."""

    def __init__(self, project, replace=False):
        self.project = project
        self.replace = replace
        self.templates, self.by_extension = input_templates(project.pipeline)
        self.used = project.files.aggregate(total=Sum("size"))["total"] or 0
        self.outcomes = []
        self.notes = []  # for the user, about files that were added or skipped: names changed, junk skipped
        self.pending = []  # (record, template, origin): content stored, row not yet saved; see commit()

    def accepted_extensions(self):
        return ", ".join(f".{e}" for e in sorted(self.by_extension) if e)

    def add(self, uploaded, commit=True):
        """Add one uploaded file (Django UploadedFile); a .zip is unpacked unless a template takes zips.

        With commit=False the file waits for `commit`, which adds every waiting file at once. An
        unexpected error is logged and reported for this file only, so the other files of the upload are kept.
        """
        pending, outcomes = len(self.pending), len(self.outcomes)
        try:
            self._stage(uploaded)
        except Exception:
            log.exception("Adding %r to project %s failed", uploaded.name, self.project.pk)
            # Nothing of this file (or archive: the members before the error) is kept.
            for record, _, _ in self.pending[pending:]:
                remove_stored(record)
                self.used -= record.size
            del self.pending[pending:], self.outcomes[outcomes:]
            self.outcomes.append(Outcome(uploaded.name, False, f"{uploaded.name}: this file could not be added because of "
                                         "an error on the server (it is logged for the administrators); nothing of it "
                                         "was added; try it again later"))
        if commit:
            self.commit()

    def _stage(self, uploaded):
        try:
            name = clean_name(uploaded.name)
        except BadName as exc:
            self.outcomes.append(Outcome(uploaded.name, False, f"{uploaded.name!r}: {exc}"))
            return
        if extension_of(name) == "zip" and "zip" not in self.by_extension:
            self._add_archive(uploaded, name)
            return
        path = _path_of(uploaded)
        self._add_one(name, path, uploaded.size, typed=uploaded.name)

    def _add_archive(self, uploaded, archive_name):
        try:
            folder, entries, skipped = extract_zip(_path_of(uploaded))
        except ArchiveRefused as exc:
            self.outcomes.append(Outcome(archive_name, False, f"{archive_name}: archive refused: {exc}; nothing of it was added"))
            return
        try:
            if not entries:
                self.outcomes.append(Outcome(archive_name, False, f"{archive_name}: the archive holds no files"))
            if skipped:
                count = f"{len(skipped)} file{'s' if len(skipped) > 1 else ''}"
                self.notes.append(f"{archive_name}: skipped {count} that macOS or Windows add to archives, not "
                                  "recordings or texts (__MACOSX/, ._*, .DS_Store, Thumbs.db, desktop.ini)")
            for name, path, typed in entries:
                self._add_one(name, path, path.stat().st_size, origin=f"{archive_name}: ", typed=typed)
        finally:
            tempfiles.remove(folder)

    def _add_one(self, name, path, size, origin="", typed=None):
        # A name cleaning changed (spaces at its ends, control characters, shortened) is said to be changed.
        typed = unicodedata.normalize("NFC", re.split(r"[/\\]", typed or name)[-1])  # folders are no part of it
        changed = f"“{typed}”" if typed != name else ""
        try:
            meta, template = self._check(name, path, size)
            self._store(name, size, template, meta, path, origin)
        except FileRefused as exc:
            self.outcomes.append(Outcome(name, False, origin + str(exc) + (f" (uploaded as {changed})" if changed else "")))
            return
        self.pending[-1][0].typed_name = typed if changed else ""
        self.used += size

    def _check(self, name, path, size):
        extension = extension_of(name)
        template = self.by_extension.get(extension)
        if template is None and not extension:
            # ".wav" is a name that starts with a dot, with no extension, as on Unix.
            raise FileRefused(
                f"{name}: the name has no extension, so the file's type is unknown"
                + (" (a dot at the start of a name begins no extension)" if name.startswith(".") else "")
                + f"; the {self.project.pipeline.name} pipeline takes {self.accepted_extensions()}"
            )
        if template is None:
            raise FileRefused(
                f"{name}: .{extension or '(no extension)'} files are not used by the {self.project.pipeline.name} "
                f"pipeline; it takes {self.accepted_extensions()}"
            )
        if size > settings.UPLOAD_MAX_FILE_BYTES:
            raise FileRefused(f"{name}: the file is larger than the limit of {human_size(settings.UPLOAD_MAX_FILE_BYTES)}")
        _check_text_size(name, size, kind_of(template))
        existing = self.project.files.filter(name=name).first()
        freed = existing.size if existing and self.replace else 0
        if self.used - freed + size > settings.UPLOAD_MAX_PROJECT_BYTES:
            raise _over_project_limit(name)
        if self._waiting(name=name):
            # "Replace" is about the project's files; of two files of one upload, neither is the newer.
            raise FileRefused(f"{name}: two files of this upload have this name; only the first is added (rename one "
                              "and upload it again)")
        if existing and not self.replace:
            raise FileRefused(f"{name}: a file with this name is already in the project; tick “replace” to overwrite it")
        if template.unique:
            other = self.project.files.filter(template_id=template.template_id).exclude(name=name).first() \
                or self._waiting(template_id=template.template_id, exclude=name)
            if other and not self.replace:
                raise _only_one(name, template, other)
        meta = check_content(path, name, kind_of(template))
        return meta, template

    def _waiting(self, name=None, template_id=None, exclude=None):
        """A file of this upload, stored and waiting for `commit`, with this name or for this template."""
        for record, _, _ in self.pending:
            if (name is None or record.name == name) and record.name != exclude \
                    and (template_id is None or record.template_id == template_id):
                return record
        return None

    def _store(self, name, size, template, meta, path, origin):
        """Store the content; the row waits for `commit`. A waiting file this one replaces is dropped."""
        for record in [r for r, _, _ in self.pending if r.name == name or (template.unique and r.template_id == template.template_id)]:
            self.pending = [p for p in self.pending if p[0] is not record]
            remove_stored(record)
            self.used -= record.size
        record = ProjectFile(
            project=self.project, name=name, template_id=template.template_id, kind=kind_of(template), size=size, **meta
        )
        try:
            with open(path, "rb") as f:
                # `path` is this request's temporary copy (the upload's, or an archive member) and is
                # not read again: moved into media, not copied a second time.
                record.file.save(name, MovableFile(f), save=False)
        except OSError as exc:
            # E.g. the project's folder removed under it, by a delete of the project at this moment.
            if record.file.name:
                remove_stored(record)
            raise FileRefused(f"{name}: the file could not be stored on the server ({exc.strerror or exc}); "
                              "nothing of it was kept") from None
        self.pending.append((record, template, origin))

    def commit(self):
        """Add every waiting file to the project in one transaction, under the project's lock.

        So an alignment started at the same moment sees all of them or none; a project deleted, or
        an alignment started, while they were checked and stored gets none, and their content is removed.
        """
        pending, self.pending = self.pending, []
        if not pending:
            return
        done, replaced = [], []
        try:
            with transaction.atomic():
                project = lock_project(self.project.pk)
                if reason := project.busy_reason():
                    raise FileRefused(f"Nothing was added. {reason}")
                for record, template, origin in pending:
                    try:
                        old = self._save(project, record, template)
                    except FileRefused as exc:
                        remove_stored(record)
                        self.used -= record.size
                        self.outcomes.append(Outcome(record.name, False, origin + str(exc)))
                        continue
                    replaced += old
                    done.append((record, origin))
        except (ProjectGone, FileRefused) as exc:
            for record, _, _ in pending:
                remove_stored(record)
            if isinstance(exc, ProjectGone):
                _remove_empty_folders(project_folder=self.project.folder)
            self.used -= sum(record.size for record, _, _ in pending)
            self.outcomes.append(Outcome("", False, str(exc)))
            return
        except BaseException:
            for record, _, _ in pending:
                remove_stored(record)
            raise
        for old in replaced:
            remove_stored(old)
            self.used -= old.size
        for record, origin in done:
            if getattr(record, "typed_name", ""):
                self.notes.append(f"{origin}“{record.typed_name}” added as “{record.name}” "
                                  f"({_why_changed(record.typed_name, record.name)})")
        self.outcomes += [Outcome(record.name, True, f"{origin}{record.name} added" if not getattr(record, "typed_name", "")
                                  else f"{origin}“{record.typed_name}” added as “{record.name}”") for record, origin in done]

    def _save(self, project, record, template):
        """Save one row (under the lock of `commit`); returns the files it replaced."""
        name = record.name
        replaced = list(project.files.filter(name=name)) if self.replace else []
        if template.unique:
            others = list(project.files.filter(template_id=template.template_id).exclude(name=name))
            if others and not self.replace:
                raise _only_one(name, template, others[0])  # another upload added one since this one's check
            replaced += others
        # Checked again here: two uploads at once (two tabs) each passed the check against the project before.
        stored = project.files.aggregate(total=Sum("size"))["total"] or 0
        if stored - sum(old.size for old in replaced) + record.size > settings.UPLOAD_MAX_PROJECT_BYTES:
            raise _over_project_limit(name)
        try:
            with transaction.atomic():
                for old in replaced:
                    old.delete()
                record.save()
        except IntegrityError:
            raise FileRefused(f"{name}: another upload of a file with this name finished first; nothing was overwritten") from None
        return replaced


def _why_changed(typed, name):
    """Why cleaning (upload.names.clean_name) made `name` of `typed`, in words."""
    reasons = []
    if typed != typed.strip():
        reasons.append("spaces at the start or end of a name are dropped")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in typed):
        reasons.append("control and text-direction characters are dropped")
    if len(name) < len(typed.strip()) - sum(unicodedata.category(ch) in ("Cc", "Cf") for ch in typed):
        reasons.append(f"names are shortened to {MAX_NAME_LENGTH} characters and {MAX_NAME_BYTES} bytes")
    return "; ".join(reasons) or "the name was cleaned"


def _only_one(name, template, other):
    return FileRefused(
        f"{name}: the pipeline takes only one “{template.label}” file and the project has {other.name}; "
        "delete it or tick “replace”"
    )


def _over_project_limit(name):
    return FileRefused(
        f"{name}: the project would exceed its limit of {human_size(settings.UPLOAD_MAX_PROJECT_BYTES)}; delete files first"
    )


def _check_text_size(name, size, kind):
    if kind == ProjectFile.Kind.TRANSCRIPT and size > settings.UPLOAD_MAX_TRANSCRIPT_BYTES:
        raise FileRefused(
            f"{name}: the transcript is larger than the limit of {human_size(settings.UPLOAD_MAX_TRANSCRIPT_BYTES)} "
            "(a two-hour recording has about 100 KB of text); is this the right file? Cut long recordings and "
            "their transcripts into parts"
        )
    if kind == ProjectFile.Kind.DICTIONARY and size > settings.UPLOAD_MAX_DICTIONARY_BYTES:
        raise FileRefused(
            f"{name}: the dictionary is larger than the limit of {human_size(settings.UPLOAD_MAX_DICTIONARY_BYTES)}; "
            "keep only the words your transcripts need"
        )


def _path_of(uploaded):
    """A filesystem path with the uploaded content (temporary files already have one)."""
    from pathlib import Path

    if hasattr(uploaded, "temporary_file_path"):
        return Path(uploaded.temporary_file_path())
    # Small files stay in memory; write them out so every check reads a path.
    import tempfile

    handle = tempfile.NamedTemporaryFile(prefix="equestria-upload-", dir=tempfiles.temp_dir(), delete=False)
    tempfiles.track(handle.name)
    uploaded._equestria_temp = handle.name  # removed by cleanup()
    with handle:
        for chunk in uploaded.chunks():
            handle.write(chunk)
    return Path(handle.name)


def cleanup(uploaded_files):
    for uploaded in uploaded_files:
        temp = getattr(uploaded, "_equestria_temp", None)
        if temp:
            tempfiles.remove(temp)


def human_size(size):
    """A size as the pages say it: "1.0 MB" (units of 1024)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


def _label_with_extension(template):
    """ "Transcript (UTF-8 text, .txt)" rather than "Transcript (UTF-8 text) (.txt)"."""
    label, extension = template.label, f".{template.extension}"
    if label.endswith(")"):
        return f"{label[:-1]}, {extension})"
    return f"{label} ({extension})"


@dataclass
class ProfileStatus:
    number: int
    satisfied: bool
    missing: list  # labels of required templates without files
    extra: list  # messages about unique templates with several files


def profile_status(project, files):
    """For each profile of the FA script: is it satisfied by these files, and what is missing."""
    statuses = []
    counts = {}
    for f in files:
        counts[f.template_id] = counts.get(f.template_id, 0) + 1
    for profile in project.pipeline.fa_script.profiles.all():
        missing, extra = [], []
        for template in profile.input_templates.all():
            n = counts.get(template.template_id, 0)
            if n == 0 and not template.optional:
                missing.append(_label_with_extension(template))
            if n > 1 and template.unique:
                extra.append(f"only one {template.label} is allowed")
        statuses.append(ProfileStatus(profile.index + 1, not missing and not extra, missing, extra))
    return statuses


def remove_stored(record):
    """Delete a file's content from the storage, and its (now empty) folder on a local disk."""
    import os

    from django.core.files.storage import default_storage

    name = record.file.name
    record.file.delete(save=False)
    try:
        os.rmdir(os.path.dirname(default_storage.path(name)))
    except (NotImplementedError, OSError):
        pass  # a remote storage has no folders, or the folder is not empty


def _remove_empty_folders(project_folder):
    """Remove the folders an upload made for a project deleted meanwhile, where nothing else is in them."""
    import os

    from django.core.files.storage import default_storage

    for folder in (f"{project_folder}/files", project_folder):
        try:
            os.rmdir(default_storage.path(folder))
        except (NotImplementedError, OSError):
            pass  # a remote storage has no folders, or the folder is not empty (or not there)


@dataclass
class Deleted:
    files: int
    stopped: int  # processes of the project's runs that had not finished


def delete_project(project, reason="the project was deleted"):
    """Delete a project, its runs and every stored file of it (results too), stopping what still runs.

    The rows go first, under the project's lock: a start or an upload sent at the same moment either
    happened before (its run is stopped here, its files removed) or finds the project gone. Then each
    process that had not finished is cancelled, which deletes its CLAM project and marks its row; a
    worker busy with it checks that mark, under the process's row lock, before it renames results into
    place (scripts.runner). Only after the marks the folder is removed, so it takes along a result that
    was renamed into place just before.
    """
    from django.core.files.storage import default_storage

    with transaction.atomic():
        project = lock_project(project.pk)
        files = list(project.files.all())
        processes = [p for find in ACTIVE_PROCESSES for p in find(project)]
        folder = project.folder  # delete() clears the primary key
        project.delete()
    for process in processes:
        cancel(process, reason=reason)
    for f in files:
        f.file.delete(save=False)
    try:
        shutil.rmtree(default_storage.path(folder), ignore_errors=True)
    except NotImplementedError:
        pass
    return Deleted(files=len(files), stopped=len(processes))
