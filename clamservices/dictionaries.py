"""Pronunciation dictionaries in the CMU format: `word PH1 PH2 ...`, alternates as `word(2)`."""

import re
from dataclasses import dataclass

_VARIANT = re.compile(r"^(?P<word>.+?)\(\d+\)$")


class DictionaryError(ValueError):
    """The dictionary file cannot be used; the message names the line."""


@dataclass(frozen=True)
class Entry:
    word: str
    phones: tuple


def parse_dictionary(text, *, phone_set=None, source="dictionary", problems=None):
    """Entries of a CMU-style dictionary; comment lines (`;;;`, `#`) and blank lines are skipped.

    With `phone_set`, every phone must belong to it, so that a dictionary in
    the wrong phone set is refused with the line that shows it. With a
    `problems` list, a bad line is described there and skipped instead, so
    that one bad line does not cost the recordings the other lines serve.
    """
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            entry = _parse_line(line, number, phone_set, source)
        except DictionaryError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
            continue
        if entry is not None:
            entries.append(entry)
    return entries


def _parse_line(line, number, phone_set, source):
    line = line.strip()
    if not line or line.startswith((";;;", "#")):
        return None
    parts = line.split()
    if len(parts) < 2:
        raise DictionaryError(f"{source}, line {number}: a word needs at least one phone: {line[:80]!r}")
    word = parts[0].lower()
    match = _VARIANT.match(word)
    if match:
        word = match.group("word")
    if not any(ch.isalnum() for ch in word) or any(ch in "()<>[]" for ch in word):
        raise DictionaryError(f"{source}, line {number}: {parts[0][:40]!r} cannot be a word of the aligner's dictionary")
    phones = tuple(parts[1:])
    if phone_set is not None:
        unknown = [p for p in phones if p not in phone_set]
        if unknown:
            raise DictionaryError(
                f"{source}, line {number}: unknown phone {unknown[0]!r} for {word!r}; "
                f"this aligner's phones are {' '.join(sorted(phone_set))}"
            )
    return Entry(word, phones)


def format_dictionary(pronunciations):
    """CMU-style text for {word: [phones, ...]}: variants numbered from (2), words sorted."""
    lines = []
    for word in sorted(pronunciations):
        for index, phones in enumerate(pronunciations[word], start=1):
            name = word if index == 1 else f"{word}({index})"
            lines.append(f"{name} {' '.join(phones)}")
    return "\n".join(lines) + ("\n" if lines else "")
