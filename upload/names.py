"""Cleaning file names that come from browsers and archives."""

import re
import unicodedata

MAX_NAME_LENGTH = 120
# CLAM refuses file names with any of / & | < > ' ` " { } ;, and #, ? and % would change the
# meaning of the URL the name travels in; such names are refused here, before anything is stored.
UNSAFE_CHARACTERS = "&|<>'`\"{};#?%"


class BadName(ValueError):
    pass


def clean_name(raw):
    """A safe file name: no folders, control or direction characters, at most MAX_NAME_LENGTH.

    Raises BadName when nothing usable is left.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]  # no path parts, Unix or Windows
    # Cc: control characters; Cf: format characters, among them the
    # right-to-left override that makes "evil\u202egnp.exe" look like a PNG.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if not name or name in (".", ".."):
        raise BadName("the file name is empty once cleaned")
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME_LENGTH]
    return name


def unsafe_characters_message(name):
    """Why `name` cannot travel to a CLAM service, or None when it can."""
    unsafe = sorted({ch for ch in name if ch in UNSAFE_CHARACTERS})
    if not unsafe:
        return None
    return (
        "the alignment services cannot take file names with " + " ".join(unsafe)
        + "; rename the file (and its partner) without them and upload it again"
    )


def extension_of(name):
    """Lower-case extension without the dot ('' if none)."""
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""
