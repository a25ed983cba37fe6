"""Reading transcripts and turning them into dictionary words.

Case, punctuation and surrounding whitespace must not make an alignment fail,
but the TextGrid should show the words as the transcript wrote them.
"""

import re
import string
import unicodedata
from dataclasses import dataclass

# Punctuation stripped from both ends of a token; apostrophes and hyphens
# inside a word ("don't", "well-known") stay. Symbols that are read aloud
# ("5%", "$5", "&", "#1") stay too: clamservices.spoken knows how they sound.
_SPOKEN_SYMBOLS = "%$€£&+=@#"
_EDGE_PUNCTUATION = "".join(c for c in string.punctuation if c not in _SPOKEN_SYMBOLS) + "“”‘’«»„‚‹›…—–·¡¿"
# Dashes and ellipses between words separate them ("yes—no", "wait…what").
_SEPARATORS = str.maketrans({"—": " ", "–": " ", "…": " ", "/": " "})
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})
_APOSTROPHE_CHARACTERS = "'’‘ʼ"
_EDGE_PUNCTUATION_BUT_APOSTROPHES = "".join(c for c in _EDGE_PUNCTUATION if c not in _APOSTROPHE_CHARACTERS)


class TranscriptError(ValueError):
    """The transcript cannot be used; the message says why, for the user."""


@dataclass(frozen=True)
class Word:
    shown: str  # as in the transcript, without surrounding punctuation
    key: str  # lower-case form looked up in the pronunciation dictionary
    # The word with its apostrophes at the edges kept ("'s", "'t", "goin'"), when it had any: Dutch
    # and English dictionaries list such elided words, and without the apostrophe "'s" is the letter s.
    elided: "Word | None" = None


def read_transcript(path):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"it is not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    if "\x00" in text:
        raise TranscriptError("it contains NUL bytes; it does not look like a text file")
    return text


def words_of(text):
    """The words of a transcript, in order."""
    words = []
    for token in text.translate(_SEPARATORS).split():
        shown = token.strip(_EDGE_PUNCTUATION)
        if not shown or not any(ch.isalnum() or ch in _SPOKEN_SYMBOLS for ch in shown):
            continue
        elided = token.strip(_EDGE_PUNCTUATION_BUT_APOSTROPHES)
        elided = elided if elided != shown and elided.strip(_APOSTROPHE_CHARACTERS) == shown else None
        words.append(Word(shown=shown, key=_key(shown), elided=elided and Word(shown=elided, key=_key(elided))))
    return words


def _key(shown):
    return shown.translate(_APOSTROPHES).lower()


def dictionary_form(word, is_known):
    """The word as the dictionary lists it: with its edge apostrophes ("'t") when only that form is known
    or both are (a quoted "'hello'" stays hello), split where only a hyphenated word's parts are known."""
    if word.elided and is_known(word.elided.key):
        return [word.elided]
    return split_hyphenated(word, is_known)


def split_hyphenated(word, is_known):
    """Split "well-known" into its parts when only the parts are in the dictionary."""
    if "-" not in word.key or is_known(word.key):
        return [word]
    shown_parts = [p for p in re.split(r"-+", word.shown) if p]
    key_parts = [p for p in re.split(r"-+", word.key) if p]
    if len(shown_parts) == len(key_parts) and all(is_known(p) for p in key_parts):
        return [Word(shown=s, key=k) for s, k in zip(shown_parts, key_parts)]
    return [word]


def without_accents(word):
    """`word` with the accents taken off its letters (café → cafe, naïve → naive, Zoë → zoe): Unicode NFKD,
    combining marks removed. English dictionaries list loanwords without the accents that real transcripts
    keep; the other languages' lexicons list their own accented letters (één, für, été), so only English uses it."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


# The English "-'s" (a possessive, or "is"/"has" after a noun) sounds as a plural does: IH Z after a sibilant,
# S after another voiceless consonant, Z after anything else.
_SIBILANTS = {"S", "Z", "SH", "ZH", "CH", "JH"}
_VOICELESS = {"P", "T", "K", "F", "TH"}


def possessive(word, pronunciations):
    """ARPAbet pronunciations ("K IY P ER Z") of an English word ending in 's ("keeper's") from those of its base
    word, `pronunciations("keeper")`; [] when the word does not end so or its base is unknown."""
    base = word[:-2] if word.endswith("'s") else ""
    if not any(ch.isalnum() for ch in base):
        return []
    result = []
    for phones in pronunciations(base):
        last = re.sub(r"\d", "", phones.split()[-1])
        ending = "IH Z" if last in _SIBILANTS else "S" if last in _VOICELESS else "Z"
        derived = f"{phones} {ending}"
        if derived not in result:
            result.append(derived)
    return result
