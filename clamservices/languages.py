"""The languages the bundled services align: English with its own acoustic model, the others mapped.

English is native: the CMU dictionary's ARPAbet is the acoustic model's phone set. Every other language
is mapped (clamservices.phonemap): its dictionary is gruut's lexicon of that language (IPA, stress
marks stripped, alternatives as variants), its phones are replaced by English ones for the decoder,
and the TextGrid's phone tier gets the language's own phones back (`ipa_alignment`).
"""

import dataclasses
import functools
import importlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gruut_ipa import ipa_to_sampa

from clamservices import phonemap


@dataclass(frozen=True)
class Language:
    code: str  # gruut's name of it, and the services' "language" parameter
    label: str
    package: str  # gruut's language package
    native: bool  # the acoustic model is of this language (else its phones are mapped to English ones)


LANGUAGES = {
    language.code: language
    for language in (
        Language("en-us", "English (US)", "gruut_lang_en", True),
        Language("nl", "Dutch", "gruut_lang_nl", False),
        Language("de", "German", "gruut_lang_de", False),
        Language("fr", "French", "gruut_lang_fr", False),
        Language("es", "Spanish", "gruut_lang_es", False),
        Language("it", "Italian", "gruut_lang_it", False),
    )
}
MAPPED = [code for code, language in LANGUAGES.items() if not language.native]


def phones(code):
    """The phones of a mapped language (IPA), as its dictionaries and reviews must use them."""
    return frozenset(phonemap.TABLES[code])


def lexicon_path(code):
    package = importlib.import_module(LANGUAGES[code].package)
    return Path(package.get_lang_dir()) / "lexicon.db"


def ipa_pronunciations(rows):
    """Pronunciations (tuples of bare IPA phones) of gruut lexicon rows, in order, without duplicates."""
    result = []
    for (phonemes,) in rows:
        pronunciation = tuple(p for p in (phonemap.bare(p) for p in phonemes.split())
                              if p and p not in phonemap.NOT_PHONES)
        if pronunciation and pronunciation not in result:
            result.append(pronunciation)
    return result


class MappedLexicon:
    """gruut's lexicon of a mapped language, looked up a word at a time, as the aligner's Lexicon
    (clamservices.lexicon) is: `pronunciations` gives the mapped ARPAbet, `ipa` the language's phones.

    The database is opened read-only per process (the aligner's pool forks; a SQLite connection must
    not cross a fork).
    """

    def __init__(self, code):
        self.code = code
        self.path = lexicon_path(code)
        self._connection, self._pid = None, None
        self._found = {}

    def _rows(self, word):
        if self._pid != os.getpid():
            self._connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._pid = os.getpid()
        return self._connection.execute(
            "SELECT phonemes FROM word_phonemes WHERE word = ? ORDER BY pron_order", (word,)
        ).fetchall()

    def ipa(self, word):
        """The word's pronunciations in the language's phones, each a tuple; [] if the lexicon lacks it."""
        if word not in self._found:
            self._found[word] = ipa_pronunciations(self._rows(word)) if word and "\n" not in word else []
        return self._found[word]

    def pronunciations(self, word):
        """The word's pronunciations in ARPAbet ("HH AA Y S"), as clamservices.lexicon.Lexicon gives them."""
        return [" ".join(arpabet(self.code, p)) for p in self.ipa(word)]


def arpabet(code, ipa_phones):
    """The ARPAbet phones of a pronunciation in a mapped language's phones."""
    return [a for _, mapped in phonemap.to_arpabet(code, ipa_phones) for a in mapped]


def ipa_alignment(alignment, variants):
    """`alignment` (clamservices.aligner.Alignment, ARPAbet phones) with its phone tier in the language's
    phones: `variants(word key)` gives the word's pronunciations as [(IPA phone, (ARPAbet phones))].

    Each word's ARPAbet phones are matched with the pronunciation they were aligned as; a phone that
    became two ARPAbet phones is one interval again, from the first one's start to the second one's
    end, with their mean confidence. Phones of a word no pronunciation matches (which the aligner
    does not produce) keep their ARPAbet labels rather than be dropped.
    """
    phones = sorted(alignment.phones, key=lambda p: p.start)
    result, position = [], 0
    for word in sorted(alignment.words, key=lambda w: w.start):
        while position < len(phones) and phones[position].end <= word.start:
            result.append(phones[position])
            position += 1
        inside = []
        while position < len(phones) and phones[position].start < word.end:
            inside.append(phones[position])
            position += 1
        labels = [p.label for p in inside]
        match = next((v for v in variants(word) if [a for _, group in v for a in group] == labels), None)
        if match is None:
            result.extend(inside)
            continue
        index = 0
        for ipa, group in match:
            parts = inside[index : index + len(group)]
            index += len(group)
            known = [p.confidence for p in parts if p.confidence is not None]
            result.append(dataclasses.replace(
                parts[0], end=parts[-1].end, label=ipa,
                confidence=sum(known) / len(known) if known else None,
            ))
    result.extend(phones[position:])
    return dataclasses.replace(alignment, phones=result)


@functools.cache
def xsampa(phone):
    """X-SAMPA of an IPA phone (gruut_ipa's conversion, which writes a nasal vowel as "A~, _~": the nasal
    mark once is enough)."""
    return ipa_to_sampa(phone).replace(", _~", "")
