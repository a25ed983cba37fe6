"""Grapheme-to-phoneme conversion with gruut (English and the mapped languages of clamservices.languages).

Pronunciations come from gruut's lexicon where it knows the word (with its
alternatives, in gruut's order), otherwise from gruut's text processor, whose
guesser handles unknown words and spells out numbers. English comes out in
ARPAbet, the aligner's phone set; the other languages in gruut's IPA without
stress marks, the phones the aligner's "language" parameter takes for them.
"""

import importlib
import sqlite3
from functools import lru_cache
from pathlib import Path

from clamservices import languages
from clamservices.arpabet import ipa_to_arpabet
from clamservices.transcripts import without_accents

LANGUAGES = {code: (language.label, language.package) for code, language in languages.LANGUAGES.items()}


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
    if lang == "en-us":
        return [row[0].split() for row in rows]
    return [list(p) for p in languages.ipa_pronunciations(rows)]


def _guessed_pronunciation(word, lang):
    from gruut import sentences

    phonemes = []
    for sentence in sentences(word, lang=lang):
        for token in sentence:
            if token.phonemes:
                phonemes.extend(token.phonemes)
    return phonemes


# Languages without long (geminate) consonants, whose guesser still doubles the doubled letters' phones
# ("fuß" f ʊ s s, "Fußball" f ʊ s s b a l l): a guessed pronunciation has each repeated phone once. (Italian
# is left as it is: "fatto" has a long t.)
_SINGLE_CONSONANTS = {"nl", "de", "fr", "es"}


def _convert(phonemes, lang):
    if lang == "en-us":
        return ipa_to_arpabet(phonemes)
    phones = [p for p in map(languages.phonemap.bare, phonemes) if p and p not in languages.phonemap.NOT_PHONES]
    unknown = [p for p in phones if p not in languages.phonemap.TABLES[lang]]
    if unknown:  # the aligner would refuse it: say so here, where the word is named
        raise G2PError(f"gruut gave the phone {unknown[0]!r}, which the aligner does not know for {lang}")
    return phones


def pronounce(word, lang="en-us", variants=1):
    """Up to `variants` distinct pronunciations (lists of phones) of `word`."""
    if lang not in LANGUAGES:
        raise G2PError(f"unsupported language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    key = word.strip().lower()
    if not key:
        raise G2PError("empty word")
    known = _lexicon_pronunciations(key, lang)
    if lang == "en-us" and not known:
        # English's guesser drops letters it has no rule for (café → K AH F): the word without its accents
        # is looked up, and guessed from, instead (the aligner's lexicon does the same).
        key = without_accents(key)
        known = _lexicon_pronunciations(key, lang)
    candidates = known or [_guessed_pronunciation(key, lang)]
    result = []
    for phonemes in candidates:
        phones = _convert(phonemes, lang)
        if not known and lang in _SINGLE_CONSONANTS:
            phones = [p for n, p in enumerate(phones) if n == 0 or p != phones[n - 1]]
        if phones and phones not in result:
            result.append(phones)
        if len(result) >= variants:
            break
    if not result:
        raise G2PError(f"no pronunciation found for {word!r}")
    return result
