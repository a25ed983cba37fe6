"""Adding files to projects: which input template a file is for, content checks, limits, saving.

Views call `add_files`; it returns one outcome per file, so one bad file
never stops the others of the same upload.
"""

import logging
import shutil
from dataclasses import dataclass

import soundfile
from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Sum

from upload.archives import ArchiveRefused, extract_zip
from upload.models import ProjectFile
from upload.names import BadName, clean_name, extension_of

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {"wav", "flac", "ogg", "mp3", "aiff", "aif"}
LIBSNDFILE_EXTENSIONS = {"wav", "flac", "ogg", "aiff", "aif"}
TEXT_KINDS = {ProjectFile.Kind.TRANSCRIPT, ProjectFile.Kind.DICTIONARY}
SNIFF_BYTES = 64 * 1024


class FileRefused(ValueError):
    """The file is not added; the message says why, for the user."""


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

    def accepted_extensions(self):
        return ", ".join(f".{e}" for e in sorted(self.by_extension) if e)

    def add(self, uploaded):
        """Add one uploaded file (Django UploadedFile); a .zip is unpacked unless a template takes zips.

        An unexpected error is logged and reported for this file only, so the other files of the upload are kept.
        """
        try:
            self._add(uploaded)
        except Exception:
            log.exception("Adding %r to project %s failed", uploaded.name, self.project.pk)
            self.outcomes.append(Outcome(uploaded.name, False, f"{uploaded.name}: this file could not be added because of "
                                         "an error on the server (it is logged for the administrators); try it again later"))

    def _add(self, uploaded):
        try:
            name = clean_name(uploaded.name)
        except BadName as exc:
            self.outcomes.append(Outcome(uploaded.name, False, f"{uploaded.name!r}: {exc}"))
            return
        if extension_of(name) == "zip" and "zip" not in self.by_extension:
            self._add_archive(uploaded, name)
            return
        path = _path_of(uploaded)
        self._add_one(name, path, uploaded.size)

    def _add_archive(self, uploaded, archive_name):
        try:
            folder, entries = extract_zip(_path_of(uploaded))
        except ArchiveRefused as exc:
            self.outcomes.append(Outcome(archive_name, False, f"{archive_name}: archive refused: {exc}; nothing of it was added"))
            return
        try:
            if not entries:
                self.outcomes.append(Outcome(archive_name, False, f"{archive_name}: the archive holds no files"))
            for name, path in entries:
                self._add_one(name, path, path.stat().st_size, origin=f"{archive_name}: ")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _add_one(self, name, path, size, origin=""):
        try:
            meta, template = self._check(name, path, size)
            self._save(name, path, size, template, meta)
        except FileRefused as exc:
            self.outcomes.append(Outcome(name, False, origin + str(exc)))
            return
        self.used += size
        self.outcomes.append(Outcome(name, True, f"{origin}{name} added"))

    def _check(self, name, path, size):
        extension = extension_of(name)
        template = self.by_extension.get(extension)
        if template is None:
            raise FileRefused(
                f"{name}: .{extension or '(no extension)'} files are not used by the {self.project.pipeline.name} "
                f"pipeline; it takes {self.accepted_extensions()}"
            )
        if size > settings.UPLOAD_MAX_FILE_BYTES:
            raise FileRefused(f"{name}: the file is larger than the limit of {_human(settings.UPLOAD_MAX_FILE_BYTES)}")
        _check_text_size(name, size, kind_of(template))
        existing = self.project.files.filter(name=name).first()
        freed = existing.size if existing and self.replace else 0
        if self.used - freed + size > settings.UPLOAD_MAX_PROJECT_BYTES:
            raise FileRefused(
                f"{name}: the project would exceed its limit of {_human(settings.UPLOAD_MAX_PROJECT_BYTES)}; delete files first"
            )
        if existing and not self.replace:
            raise FileRefused(f"{name}: a file with this name is already in the project; tick “replace” to overwrite it")
        if template.unique:
            other = self.project.files.filter(template_id=template.template_id).exclude(name=name).first()
            if other and not self.replace:
                raise FileRefused(
                    f"{name}: the pipeline takes only one “{template.label}” file and the project has {other.name}; "
                    "delete it or tick “replace”"
                )
        meta = check_content(path, name, kind_of(template))
        return meta, template

    def _save(self, name, path, size, template, meta):
        replaced = list(self.project.files.filter(name=name)) if self.replace else []
        if self.replace and template.unique:
            replaced += list(self.project.files.filter(template_id=template.template_id).exclude(name=name))
        record = ProjectFile(
            project=self.project, name=name, template_id=template.template_id, kind=kind_of(template), size=size, **meta
        )
        with open(path, "rb") as f:
            record.file.save(name, File(f), save=False)
        try:
            with transaction.atomic():
                for old in replaced:
                    old.delete()
                record.save()
        except IntegrityError:
            remove_stored(record)
            raise FileRefused(f"{name}: another upload of a file with this name finished first; nothing was overwritten") from None
        except BaseException:
            remove_stored(record)
            raise
        for old in replaced:
            remove_stored(old)
            self.used -= old.size


def _check_text_size(name, size, kind):
    if kind == ProjectFile.Kind.TRANSCRIPT and size > settings.UPLOAD_MAX_TRANSCRIPT_BYTES:
        raise FileRefused(
            f"{name}: the transcript is larger than the limit of {_human(settings.UPLOAD_MAX_TRANSCRIPT_BYTES)} "
            "(a two-hour recording has about 100 KB of text); is this the right file? Cut long recordings and "
            "their transcripts into parts"
        )
    if kind == ProjectFile.Kind.DICTIONARY and size > settings.UPLOAD_MAX_DICTIONARY_BYTES:
        raise FileRefused(
            f"{name}: the dictionary is larger than the limit of {_human(settings.UPLOAD_MAX_DICTIONARY_BYTES)}; "
            "keep only the words your transcripts need"
        )


def _path_of(uploaded):
    """A filesystem path with the uploaded content (temporary files already have one)."""
    from pathlib import Path

    if hasattr(uploaded, "temporary_file_path"):
        return Path(uploaded.temporary_file_path())
    # Small files stay in memory; write them out so every check reads a path.
    import tempfile

    handle = tempfile.NamedTemporaryFile(prefix="equestria-upload-", dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False)
    with handle:
        for chunk in uploaded.chunks():
            handle.write(chunk)
    uploaded._equestria_temp = handle.name  # removed by cleanup()
    return Path(handle.name)


def cleanup(uploaded_files):
    import os

    for uploaded in uploaded_files:
        temp = getattr(uploaded, "_equestria_temp", None)
        if temp:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass


def _human(size):
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


def delete_project(project):
    """Delete a project, its rows and every stored file of it."""
    import shutil

    from django.core.files.storage import default_storage

    files = list(project.files.all())
    folder = project.folder  # delete() clears the primary key
    project.delete()
    for f in files:
        f.file.delete(save=False)
    try:
        shutil.rmtree(default_storage.path(folder), ignore_errors=True)
    except NotImplementedError:
        pass
    return len(files)
