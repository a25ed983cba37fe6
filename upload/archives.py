"""Unpacking uploaded zip archives safely.

An archive that breaks a rule is refused whole and nothing of it is kept:
entries with absolute paths or `..`, symbolic links, nested archives, too
many entries, too many bytes (counted while extracting: headers can lie), or
a compression ratio only a zip bomb has. So is an archive that cannot be
read: a damaged directory or member (bad compressed data, wrong checksum, cut
short), a member protected by a password or compressed with a method Python
cannot unpack. Files that operating systems add and no user made (`__MACOSX/`,
macOS's `._name` companions, `.DS_Store`, `Thumbs.db`) are skipped; the caller says how many.
"""

import logging
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings

from upload import tempfiles
from upload.names import BadName, clean_name

log = logging.getLogger(__name__)

# Methods zipfile can unpack; anything else (deflate64 from Windows, PPMd, …) is refused up front by name.
SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
JUNK_FOLDERS = {"__MACOSX"}


class ArchiveRefused(ValueError):
    """The archive breaks a rule; the message says which, for the user."""


def _is_junk(parts):
    return any(p in JUNK_FOLDERS for p in parts) or parts[-1] in JUNK_NAMES or parts[-1].startswith("._")


def _check_entry(info):
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRefused(f"it contains an absolute path ({info.filename!r})")
    if ".." in path.parts:
        raise ArchiveRefused(f"it contains a path that leaves the archive ({info.filename!r})")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveRefused(f"it contains a symbolic link ({info.filename!r})")
    return path.parts


def extract_zip(source):
    """Unpack `source` (a path or file object) into a new temporary folder.

    Returns (folder, [(cleaned name, path, name in the archive)], [skipped entries]); the caller removes
    the folder. Raises ArchiveRefused, leaving nothing behind.
    """
    folder = Path(tempfile.mkdtemp(prefix="equestria-zip-", dir=tempfiles.temp_dir()))
    tempfiles.track(folder)
    try:
        skipped = []
        return folder, _extract(source, folder, skipped), skipped
    except BaseException:
        tempfiles.remove(folder)
        raise


def _extract(source, folder, skipped):
    try:
        archive = zipfile.ZipFile(source)
    except Exception:
        # zipfile raises many kinds of exception for a damaged directory; all mean the same to the user.
        log.info("Unreadable zip archive", exc_info=True)
        raise ArchiveRefused("it is not a valid zip archive (or it is damaged)") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > settings.UPLOAD_MAX_ARCHIVE_ENTRIES:
            raise ArchiveRefused(
                f"it has {len(infos)} entries; at most {settings.UPLOAD_MAX_ARCHIVE_ENTRIES} are allowed"
            )
        wanted = []
        for info in infos:
            parts = _check_entry(info)
            if info.is_dir() or not parts:
                continue
            if _is_junk(parts):
                skipped.append(info.filename)
                continue
            if parts[-1].lower().endswith(".zip"):
                raise ArchiveRefused(f"it contains another archive ({info.filename!r}); upload that one by itself")
            if info.compress_size and info.file_size / info.compress_size > settings.UPLOAD_MAX_COMPRESSION_RATIO:
                raise ArchiveRefused(f"{info.filename!r} expands more than any real recording or text does (zip bomb?)")
            _check_readable(info)
            wanted.append(info)
        declared = sum(i.file_size for i in wanted)
        if declared > settings.UPLOAD_MAX_ARCHIVE_BYTES:
            raise ArchiveRefused(f"it unpacks to {declared} bytes; at most {settings.UPLOAD_MAX_ARCHIVE_BYTES} are allowed")

        entries, names, total = [], set(), 0
        for number, info in enumerate(wanted):
            typed = PurePosixPath(info.filename.replace("\\", "/")).name
            try:
                name = clean_name(typed)
            except BadName:
                raise ArchiveRefused(f"an entry has no usable name ({info.filename!r})") from None
            # Names that differ in letter case only are two files, as in a project (see pipelines.zipnames).
            if name in names:
                raise ArchiveRefused(f"it holds two files named {name!r} (in different folders)")
            names.add(name)
            target = folder / f"{number:05d}"
            written = 0
            try:
                with archive.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1024 * 1024):
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size or total > settings.UPLOAD_MAX_ARCHIVE_BYTES:
                            raise ArchiveRefused(f"{info.filename!r} unpacks to more than its header says (zip bomb?)")
                        dst.write(chunk)
            except ArchiveRefused:
                raise
            except Exception:
                # Damaged data surfaces as zlib.error, OSError (bzip2), LZMAError, EOFError,
                # BadZipFile (checksum) and more; the library's text means nothing to a researcher.
                log.info("Damaged member %r in a zip archive", info.filename, exc_info=True)
                raise ArchiveRefused(
                    f"{info.filename!r} is damaged and cannot be unpacked (its compressed data or checksum is wrong); "
                    "make the archive again and upload it"
                ) from None
            entries.append((name, target, typed))
        return entries


def _check_readable(info):
    """Refuse, before unpacking anything, a member zipfile cannot read: encrypted or an unknown method."""
    if info.flag_bits & 0x1:
        raise ArchiveRefused(f"{info.filename!r} is protected by a password; make the archive again without one")
    if info.compress_type not in SUPPORTED_METHODS:
        method = zipfile.compressor_names.get(info.compress_type, f"method {info.compress_type}")
        raise ArchiveRefused(
            f"{info.filename!r} is compressed with a method this site cannot unpack ({method}); "
            "make the archive again with the usual “deflate” compression"
        )
