"""Cleaning file names that come from browsers and archives.

Any character a user can type stays in the name (after the cleaning below): the names files are sent
under to a CLAM service are made safe separately, per run (scripts.clamnames).
"""

import re
import unicodedata

# The rules of a name's parts are the scripts app's (the names sent to CLAM follow them too); here for the upload's.
from scripts.filenames import extension_of, stem_of  # noqa: F401

MAX_NAME_LENGTH = 120
# File systems allow 255 bytes per name; results are stored under the user's name plus the service's
# ending (".wav.TextGrid" …), so a name of 120 four-byte characters would not fit.
MAX_NAME_BYTES = 200


class BadName(ValueError):
    pass


def clean_name(raw):
    """A safe file name: no folders, control or direction characters, at most MAX_NAME_LENGTH characters
    and MAX_NAME_BYTES bytes in UTF-8.

    Raises BadName when nothing usable is left.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]  # no path parts, Unix or Windows
    # Cc: control characters; Cf: format characters, among them the
    # right-to-left override that makes "evil\u202egnp.exe" look like a PNG.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    # Leading dots stay (".same.wav" is not "same.wav"): a name is never a path here, and services get
    # safe names of their own. Spaces at either end are trimmed: invisible, and Windows drops trailing ones.
    name = name.strip()
    if not name or name in (".", ".."):
        raise BadName("the file name is empty once cleaned")
    if len(name) > MAX_NAME_LENGTH or len(name.encode()) > MAX_NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        if not (dot and stem and 0 < len(extension) <= 10):
            stem, extension = name, ""
        tail = "." + extension if extension else ""
        stem = stem[: MAX_NAME_LENGTH - len(tail)]
        while len((stem + tail).encode()) > MAX_NAME_BYTES:
            stem = stem[:-1]
        name = stem.rstrip() + tail
    return name


def why_changed(typed, name):
    """Why `clean_name` made `name` of `typed`, in words."""
    reasons = []
    if typed != typed.strip():
        reasons.append("spaces at the start or end of a name are dropped")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in typed):
        reasons.append("control and text-direction characters are dropped")
    if len(name) < len(typed.strip()) - sum(unicodedata.category(ch) in ("Cc", "Cf") for ch in typed):
        reasons.append(f"names are shortened to {MAX_NAME_LENGTH} characters and {MAX_NAME_BYTES} bytes")
    return "; ".join(reasons) or "the name was cleaned"
