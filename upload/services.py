"""Changing a project's files: adding them (`Upload`), deleting one (`delete_file`), deleting the
project (`delete_project`), each under the project's lock (`lock_project`).

The upload view makes one `Upload` per request, calls its `add` for each file
(a .zip adds its members) and then `commit`; `Upload.outcomes` holds one outcome
per file, so one bad file never stops the others of the same upload. What a file must
be to be added is checked by `upload.checks`; whether the files are ready to align, by
`upload.readiness`.
"""

import logging
import re
import shutil
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum

from scripts.models import converter_kind
from scripts.runner import cancel
from upload.archives import ArchiveRefused, extract_zip
from upload.checks import (
    FileRefused, NotUTF8, check_content, check_converted, check_text_size, chosen_converters, converted_files,
    input_templates, kind_of, listed_names, only_one, over_project_limit, template_extension, template_for, too_large,
)
from upload.models import ACTIVE_PROCESSES, DELETION_NOTES, Project, ProjectFile
from upload import tempfiles
from upload.names import BadName, clean_name, extension_of, why_changed
from upload.storage import MovableFile

log = logging.getLogger(__name__)


class ProjectGone(Exception):
    """The project was deleted while a request that changes it was on its way."""

    def __init__(self):
        super().__init__("This project no longer exists: it was deleted.")


class ProjectBusy(Exception):
    """The project's files cannot change now; the message says why (`Project.busy_reason`)."""


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


class Upload:
    """One upload request into one project."""

    def __init__(self, project, replace=False, converters=(), api=False):
        """`converters`: the conversions the researcher chose (the form's and the API's `converter` values, see
        upload.checks.chosen_converters); raises FileRefused when the pipeline offers no such conversion. `api`: the
        messages say how to choose a conversion in the API (its `converter` field), not on the page."""
        self.project = project
        self.replace = replace
        self.api = api
        self.templates = input_templates(project.pipeline)[0]
        self.paired = not project.pipeline.single  # see upload.checks.template_for
        self.converters = chosen_converters(self.templates, converters) if project.pipeline.single else {}
        if any(v.strip() for v in converters) and not project.pipeline.single:
            raise FileRefused("Nothing was added: only pipelines that run one service convert files; this one takes "
                              f"{listed_names(self.templates)} as they are")
        self.used = project.files.aggregate(total=Sum("size"))["total"] or 0
        self.outcomes = []
        self.notes = []  # for the user, about files that were added or skipped: names changed, junk skipped
        self.pending = []  # (record, template, origin): content stored, row not yet saved; see commit()

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
        if extension_of(name) == "zip" and not _takes_zips(template_for(self.templates, name, paired=self.paired)):
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
            meta, template, converter = self._check(name, path, size)
            self._store(name, size, template, meta, path, origin, converter)
        except FileRefused as exc:
            self.outcomes.append(Outcome(name, False, origin + str(exc) + (f" (uploaded as {changed})" if changed else "")))
            return
        self.pending[-1][0].typed_name = typed if changed else ""
        self.pending[-1][0].unconverted = self._unconverted(name, template, converter)
        self.used += size

    def _converted(self, name):
        """(template, converter id) of a file the service is to convert, by the researcher's choice; else (the
        template its name is for, or None; "")."""
        template = template_for(self.templates, name, paired=self.paired)
        if template is not None:
            converter = self.converters.get(template.template_id, "")
            return template, converter if converter and template.converter_takes(converter, name) else ""
        for other in self.templates:
            converter = self.converters.get(other.template_id)
            if converter and other.converter_takes(converter, name):
                return other, converter
        return None, ""

    def _unconverted(self, name, template, converter):
        """A note when the conversion chosen for the template of `name` does not take it, so it is sent as it is (a
        researcher who chose it for every file of the upload would otherwise think it was converted)."""
        chosen = self.converters.get(template.template_id)
        if not chosen or converter:
            return ""
        return (f"{name}: sent as it is; “{template.converter_label(chosen)}” takes "
                f"{converted_files(template, chosen).removesuffix('; the service judges them')}")

    def _choose(self, template, converter_ids):
        """How a researcher chooses one of these conversions of a template: on the page, or in the API."""
        if self.api:
            return " or ".join(f"send it with `converter={cid}`" for cid in converter_ids)
        labels = " or ".join(f"“{template.converter_label(cid)}”" for cid in converter_ids)
        return f"choose {labels} under “{template.label}” files are"

    def _encoding_hint(self, template, encoding):
        """", or choose “Convert from Latin-1” under “Text” files are": a text that is not UTF-8 (in `encoding`,
        "UTF-16", or unknown: "") which the template's character-encoding converters could convert; else ""."""
        if not self.project.pipeline.single:
            return ""
        offered = [cid for cid, label in template.converters if converter_kind(cid, label) == "encoding"]
        wide = [cid for cid in offered
                if any(bits in f"{cid} {template.converter_label(cid)}" for bits in ("16", "32"))]
        fitting = [cid for cid in wide if encoding[-2:] in f"{cid} {template.converter_label(cid)}"] if encoding \
            else [cid for cid in offered if cid not in wide]
        return f", or {self._choose(template, fitting)}" if fitting else ""

    def _conversions(self, name):
        """What the service would convert `name` with, for the refusal of a file of an extension no template takes:
        "; for a PDF choose “Extract text from PDF” under “Text” files are", else the extensions it converts."""
        if not self.project.pipeline.single:
            return ""
        taking = [(t, cid) for t in self.templates for cid, _ in t.converters
                  if (t.converted_extensions(cid) or []) != [template_extension(t)] and t.converter_takes(cid, name)
                  and t.converted_extensions(cid) is not None]
        if taking:
            template = taking[0][0]
            kind = {"pdf": "a PDF", "doc": "a Word document"}.get(extension_of(name), f"a .{extension_of(name)} file")
            return f"; for {kind} " + self._choose(template, [cid for t, cid in taking if t is template])
        others = sorted({f".{e}" for t in self.templates for cid, _ in t.converters
                         for e in t.converted_extensions(cid) or [] if e != template_extension(t)})
        if not others:
            return ""
        how = "with the `converter` field" if self.api else "under “… files are”"
        return f"; converted by the service when chosen {how}: {', '.join(others)}"

    def _check(self, name, path, size):
        extension = extension_of(name)
        template, converter = self._converted(name)
        only = next((t.extension for t in self.templates if t.extension and "." in t.extension
                     and name.lower() == "." + t.extension.lower()), None)
        if only:  # whatever template takes it: ".folia.xml" is also a file ".folia" of another's .xml
            # ".folia.xml" would otherwise read as a file called ".folia" of the extension .xml.
            raise FileRefused(f"{name}: the name is only the extension .{only}; name the file (e.g. "
                              f"text.{only}) and upload it again")
        if template is None and not extension:
            # ".wav" is a name that starts with a dot, with no extension, as on Unix.
            raise FileRefused(
                f"{name}: the name has no extension, so the file's type is unknown"
                + (" (a dot at the start of a name begins no extension)" if name.startswith(".") else "")
                + f"; the {self.project.pipeline.name} pipeline takes {listed_names(self.templates)}"
            )
        if template is None:
            raise FileRefused(
                f"{name}: .{extension or '(no extension)'} files are not used by the {self.project.pipeline.name} "
                f"pipeline; it takes {listed_names(self.templates)}{self._conversions(name)}"
            )
        if size > settings.UPLOAD_MAX_FILE_BYTES:
            raise FileRefused(too_large(name))
        # A one-service pipeline's texts are whatever its service takes, not transcripts or dictionaries for an
        # aligner: only the limit for any file applies.
        single = self.project.pipeline.single
        if not single:
            check_text_size(name, size, kind_of(template))
        existing = self.project.files.filter(name=name).first()
        freed = existing.size if existing and self.replace else 0
        if self.used - freed + size > settings.UPLOAD_MAX_PROJECT_BYTES:
            raise over_project_limit(name)
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
                raise only_one(name, template, other)
        try:
            if converter:
                meta = check_converted(path, name, template, converter)
            else:
                meta = check_content(path, name, kind_of(template), aligner=not single)
        except NotUTF8 as exc:
            raise FileRefused(str(exc) + self._encoding_hint(template, exc.encoding)) from None
        return meta, template, converter

    def _waiting(self, name=None, template_id=None, exclude=None):
        """A file of this upload, stored and waiting for `commit`, with this name or for this template."""
        for record, _, _ in self.pending:
            if (name is None or record.name == name) and record.name != exclude \
                    and (template_id is None or record.template_id == template_id):
                return record
        return None

    def _store(self, name, size, template, meta, path, origin, converter=""):
        """Store the content; the row waits for `commit`. A waiting file this one replaces is dropped."""
        for record in [r for r, _, _ in self.pending if r.name == name or (template.unique and r.template_id == template.template_id)]:
            self.pending = [p for p in self.pending if p[0] is not record]
            remove_stored(record)
            self.used -= record.size
        record = ProjectFile(
            project=self.project, name=name, template_id=template.template_id, kind=kind_of(template), size=size,
            converter=converter, converter_label=template.converter_label(converter) if converter else "", **meta
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
                                  f"({why_changed(record.typed_name, record.name)})")
            if getattr(record, "unconverted", ""):
                self.notes.append(origin + record.unconverted)
        self.outcomes += [Outcome(record.name, True, f"{origin}{record.name} added" if not getattr(record, "typed_name", "")
                                  else f"{origin}“{record.typed_name}” added as “{record.name}”") for record, origin in done]

    def _save(self, project, record, template):
        """Save one row (under the lock of `commit`); returns the files it replaced."""
        name = record.name
        replaced = list(project.files.filter(name=name)) if self.replace else []
        if template.unique:
            others = list(project.files.filter(template_id=template.template_id).exclude(name=name))
            if others and not self.replace:
                raise only_one(name, template, others[0])  # another upload added one since this one's check
            replaced += others
        # Checked again here: two uploads at once (two tabs) each passed the check against the project before.
        stored = project.files.aggregate(total=Sum("size"))["total"] or 0
        if stored - sum(old.size for old in replaced) + record.size > settings.UPLOAD_MAX_PROJECT_BYTES:
            raise over_project_limit(name)
        try:
            with transaction.atomic():
                for old in replaced:
                    old.delete()
                record.save()
        except IntegrityError:
            raise FileRefused(f"{name}: another upload of a file with this name finished first; nothing was overwritten") from None
        return replaced


def _takes_zips(template):
    """Whether `template` (the one a .zip's name is for, or None) takes the archive itself; otherwise a .zip
    is unpacked and its members are added one by one. A template with a fixed name takes any name, but a .zip
    only when its fixed name is one ("corpus.zip")."""
    return template is not None and template_extension(template) == "zip"


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


def delete_file(project_file):
    """Delete one file of a project, its row and its stored content; raises ProjectBusy or ProjectGone.

    Under the project's lock, like a start or an upload: an alignment starting at this moment either
    has the file or not, and a file is never deleted while a run of its project may be sending it.
    """
    with transaction.atomic():
        project = lock_project(project_file.project_id)
        if reason := project.busy_reason():
            raise ProjectBusy(reason)
        project_file.delete()
    remove_stored(project_file)
    project.touch()


def deletion_notes(project, name):
    """What deleting the file `name` means for the project's runs (DELETION_NOTES), each a sentence or more."""
    return [note for find in DELETION_NOTES if (note := find(project, name))]


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
