"""The names a process's files travel under on a CLAM service, and the way back to the users' names.

CLAM refuses file names with / & | < > ; " ' ` { } and a name also travels in URLs, so a user's name
cannot be sent as it is. Each input is sent under a "clam_name" made of ASCII letters, digits and
_ - . only (kept in `Process.inputs`, so a retried start sends the same names), and every name that
comes back (output files, report entries, status and log lines) is mapped to the user's name.

The name is made per *stem*: a recording and its transcript (`don't.wav`, `don't.txt`) keep one stem
(`don_t`), since services pair files by stem. Stems are unique within the process without regard to
letter case, so that two users' names that differ in case or in characters that map to the same safe
name never become one file on the service. Processes from before this mapping have no "clam_name":
their inputs were sent under their own names, which then map to themselves.

A name ends in its input template's extension whole, multi-part ones too ("mon livre.folia.xml" is sent as
"mon_livre.folia.xml", not "mon_livre_folia.xml", to which CLAM would add ".folia.xml" again). A file the service
converts on upload (a chosen converter: "x.pdf" into a ".txt" template) is sent under the template's extension
("x.txt"), as the text it becomes, so that it keeps its stem on the service.
"""

import re
import unicodedata

from scripts.filenames import split_name  # (stem, extension) as the upload pairs recordings and transcripts

# Long enough to recognise a name in the service's log; short enough for any service's file system.
MAX_STEM = 60
# Stems a service's own outputs commonly have (CLAM writes error.log); a made-up stem must not take
# one, or the service's file would be mapped to (and shown as) a user's file.
RESERVED_STEMS = {"error", "log", "report", "index", "output", "input"}
_SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def is_safe_stem(stem):
    return len(stem) <= MAX_STEM and bool(_SAFE_STEM.fullmatch(stem)) and not stem.endswith(".")


def _made_up_stem(stem):
    # é → e, ß → ss where Unicode knows a compatibility form; what has no ASCII form becomes "_".
    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    if len(ascii_text) < len(stem) / 2:
        ascii_text = re.sub(r"[^\x00-\x7f]", "_", unicodedata.normalize("NFKC", stem))
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_text).strip("_-")
    return safe[:MAX_STEM - 8].rstrip("_-") or "file"


def _safe_extension(extension):
    return re.sub(r"[^A-Za-z0-9]+", "", extension).lower()[:16]


def _safe_template_extension(extension):
    """A template's extension as CLAM matches it (it compares without regard to case), each part kept."""
    parts = [re.sub(r"[^A-Za-z0-9]+", "", part) for part in extension.split(".")]
    return ".".join(part for part in parts if part)[:32]


def _split(item, extensions):
    """(stem, extension to send) of an input: its template's extension whole when the name ends in it, the
    template's for a file the service converts, else the part after the last dot."""
    name = str(item["name"])
    extension = (extensions or {}).get(item.get("template"), "").strip(".")
    if extension:
        if name.lower().endswith("." + extension.lower()):
            return name[:-len(extension) - 1], _safe_template_extension(extension)
        if item.get("converter"):
            return split_name(name)[0], _safe_template_extension(extension)
    stem, extension = split_name(name)
    return stem, _safe_extension(extension)


def assign(inputs, reserved=(), extensions=None):
    """`inputs` ([{name, template, …}]) with a "clam_name" on each: safe, unique per stem, same stem for one stem.

    Stems that are safe already keep their names (the service's log then reads like the user's
    files); the others get a made-up stem, numbered when taken. `reserved`: more stems the service's
    own outputs have (e.g. of output templates with a fixed file name). `extensions`: {template id: its
    extension}, so that a multi-part extension stays whole; each input also keeps its "stem" and "clam_stem".
    """
    taken = {s.lower() for s in RESERVED_STEMS} | {s.lower() for s in reserved}
    stems = {}
    splits = [_split(item, extensions) for item in inputs]
    # An input marked "alone" (of a one-service pipeline, which pairs nothing) shares its stem with no other: the
    # service's outputs of "book.folia.xml" and "book.xml" would otherwise both be "book.tokens.txt".
    keys = [(stem, index if item.get("alone") else None) for index, (item, (stem, _)) in enumerate(zip(inputs, splits))]
    user_stems = list(dict.fromkeys(keys))
    for key in user_stems:
        if is_safe_stem(key[0]) and key[0].lower() not in {s.lower() for s in stems.values()}:
            stems[key] = key[0]
    taken |= {s.lower() for s in stems.values()}

    def made_up(stem):
        base = _made_up_stem(stem)
        candidate, number = base, 2
        while candidate.lower() in taken:
            candidate, number = f"{base}-{number}", number + 1
        taken.add(candidate.lower())
        return candidate

    for key in user_stems:
        if key not in stems:
            stems[key] = made_up(key[0])
    result, sent = [], set()
    for item, (stem, extension), key in zip(inputs, splits, keys):
        clam_stem = stems[key]
        name = clam_stem + (f".{extension}" if extension else "")
        if name.lower() in sent:
            # Two files that become one name on the service ("report.pdf" converted, and "report.txt").
            clam_stem = made_up(stem)
            name = clam_stem + (f".{extension}" if extension else "")
        sent.add(name.lower())
        result.append({**item, "clam_name": name, "stem": stem, "clam_stem": clam_stem})
    return result


def kept_service_names(inputs, outputs):
    """[("memo-2", "memo.txt")]: the service's stem of each input some of whose `outputs` kept the service's name
    (scripts.runner.step_download keeps it where the user's name would clash with another output: a converted
    "memo.rot" and a plain "memo.txt" both have the stem "memo"), with the input's name, so the pages can say whose
    they are."""
    return [(item["clam_stem"], str(item.get("name", ""))) for item in inputs
            if item.get("clam_stem") and item["clam_stem"] != item.get("stem")
            and any(output.startswith(item["clam_stem"] + ".") for output in outputs)]


def kept_service_names_text(kept):
    """`kept` (kept_service_names) as a sentence: "memo-2.* are the outputs of memo.txt", or ""."""
    return "; ".join(f"{stem}.* are the outputs of {name}" for stem, name in kept)


def input_of(kept, output):
    """The name of the input whose output `output` is, when it kept the service's name (`kept`: kept_service_names);
    else ""."""
    return next((name for stem, name in kept if output.startswith(stem + ".")), "")


def clam_name(item):
    """The name an input item was (or is to be) sent under."""
    return str(item.get("clam_name") or item.get("name", ""))


class NameMap:
    """Maps names (and text naming files) from the service's side back to the user's names."""

    def __init__(self, inputs):
        self.users = {str(item.get("name", "")) for item in inputs}
        self.names = {}  # clam name (lower case) → user name
        self.stems = {}  # clam stem → user stem, only where they differ
        for item in inputs:
            user, sent = str(item.get("name", "")), clam_name(item)
            if not item.get("converter"):
                # A converted file on the service is the text it became, not the user's file: it maps by its stem.
                self.names[sent.lower()] = user
            self.names.setdefault(user.lower(), user)
            if sent != user:
                self.stems[item.get("clam_stem", split_name(sent)[0])] = item.get("stem", split_name(user)[0])
        # Longest first, so that "a_1" is not taken for the start of "a_1-2".
        self._stems = sorted(self.stems, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<![A-Za-z0-9_.-])(" + "|".join(map(re.escape, self._stems)) + r")(?=\.[A-Za-z0-9])")
            if self._stems else None
        )

    def name(self, name):
        """The user's name for a file name from the service: an input's own name, or <stem>.<anything>."""
        # A user's name is never another input's clam name (assign sees to that), so it maps to itself:
        # mapping twice is harmless (with Take1.wav sent as such, take1.wav is not taken for it).
        if not name or name in self.users:
            return name
        if name.lower() in self.names:
            return self.names[name.lower()]
        for stem in self._stems:
            if name.startswith(stem + "."):
                return self.stems[stem] + name[len(stem):]
        return name

    def value(self, value):
        """A string of a structured output (JSON): an input's name is mapped as a name, any other as text."""
        if value in self.users or value.lower() in self.names:
            return self.name(value)
        return self.text(value)

    def text(self, text):
        """A status or log line with every file name of the service's side replaced by the user's."""
        if not text or self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.stems[m.group(1)], text)
