"""Grapheme-to-phoneme conversion with gruut (English, Dutch).

Pronunciations come from gruut's lexicon where it knows the word (with its
alternatives, in gruut's order), otherwise from gruut's text processor, whose
guesser handles unknown words and spells out numbers. English comes out in
ARPAbet, the aligner's phone set; Dutch in gruut's IPA without stress marks.
"""

import importlib
import sqlite3
from functools import lru_cache
from pathlib import Path

from clamservices.arpabet import ipa_to_arpabet

LANGUAGES = {"en-us": ("English (US)", "gruut_lang_en"), "nl": ("Dutch", "gruut_lang_nl")}
_STRESS = "ˈˌ"


class G2PError(ValueError):
    pass


@lru_cache(maxsize=None)
def _lexicon(lang):
    package = importlib.import_module(LANGUAGES[lang][1])
    path = Path(package.get_lang_dir()) / "lexicon.db"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _lexicon_pronunciations(word, lang):
    rows = _lexicon(lang).execute(
        "SELECT phonemes FROM word_phonemes WHERE word = ? ORDER BY pron_order", (word,)
    )
    return [row[0].split() for row in rows]


def _guessed_pronunciation(word, lang):
    from gruut import sentences

    phonemes = []
    for sentence in sentences(word, lang=lang):
        for token in sentence:
            if token.phonemes:
                phonemes.extend(token.phonemes)
    return phonemes


def _convert(phonemes, lang):
    if lang == "en-us":
        return ipa_to_arpabet(phonemes)
    return [p.strip(_STRESS) for p in phonemes if p.strip(_STRESS)]


def pronounce(word, lang="en-us", variants=1):
    """Up to `variants` distinct pronunciations (lists of phones) of `word`."""
    if lang not in LANGUAGES:
        raise G2PError(f"unsupported language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    key = word.strip().lower()
    if not key:
        raise G2PError("empty word")
    candidates = _lexicon_pronunciations(key, lang) or [_guessed_pronunciation(key, lang)]
    result = []
    for phonemes in candidates:
        phones = _convert(phonemes, lang)
        if phones and phones not in result:
            result.append(phones)
        if len(result) >= variants:
            break
    if not result:
        raise G2PError(f"no pronunciation found for {word!r}")
    return result
