"""Phones of other languages mapped to the phones of the bundled English acoustic model (ARPAbet).

The bundled aligner has only PocketSphinx's English acoustic model. For a language without a model of
its own, every word is transcribed in its own language (gruut's IPA, stress marks stripped) and each
of its phones is replaced by the closest English phone, as BAS WebMAUS's language-independent mode
does; the aligner aligns the English phones and the TextGrid shows the language's own phones again
(clamservices.languages). One table per language, with every phone gruut's lexicon and guesser can
produce for it (tests/test_languages.py reads them from the language package).

How the closest phone is chosen, by broad phonetic features:

- Consonants keep manner and voicing first, then place: a fricative stays a fricative of the same
  voicing (a spectrum of noise is what the model must find), so the velar and uvular fricatives
  x, χ, ɣ (Dutch "ch", "g") become HH, and the palatal ç (German "ich") SH, whose noise is high like
  its own. So is the uvular ʁ of French and German a fricative (HH), not the English approximant R:
  measured on French (tests/benchmarks/languages.py), word boundaries within 50 ms went from 78 %
  with R to 88 % with HH (German: 91 % either way). Nasals stay nasals at the nearest place (ɱ → M).
  The other rhotics (Dutch ɹ, Spanish and Italian r) are R, the English rhotic, except the Spanish
  tap ɾ, a single brief closure, which is D (as the American flap in "ladder" is). The glottal stop
  is T, whose model begins with a closure (HH, tried for German, made no difference). Affricates English lacks
  become their two parts (p͡f → P F, t͡s → T S), and palatal nasals and laterals a consonant and Y
  (ɲ → N Y, as in "canyon"; ʎ → L Y). ɥ (French "huit") is Y, the palatal approximant.
- Vowels keep height and backness first, then rounding, since English has no front rounded vowels:
  y, ʏ, ø, œ become the unrounded front vowel of the same height (IY, IH, EY, EH). Close-mid front and
  back vowels (e, o; Dutch "ee", "oo" are themselves slightly diphthongal) are EY and OW, open-mid
  ones EH and AO, open a and ɑ are AA, the central ə and ɐ AH. Length is not a phone in English: a
  long vowel maps as its short one. Nasal vowels keep their oral vowel (ɑ̃ → AO, ɔ̃ → OW, ɛ̃ and œ̃ →
  AE, all open in French); a following N would force a closure that is not there.
- Diphthongs are one English diphthong where one has the same start and end (Dutch ɛi → EY, ɑu →
  AW, German aɪ̯ → AY, ɔʏ̯ → OY), otherwise two phones (Spanish eu → EH UW); Spanish gruut writes
  rising diphthongs as one phone (wa, we): they are W and the vowel.

A phone mapped to two English phones is one interval again in the TextGrid, spanning both.
"""

ARPABET = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
)

# Consonants common to the languages below, where they mean the same thing.
_CONSONANTS = {
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "ɡ": "G", "g": "G", "ʔ": "T",
    "f": "F", "v": "V", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH", "h": "HH", "θ": "TH",
    "x": "HH", "χ": "HH", "ɣ": "HH", "ʁ": "HH", "ç": "SH",
    "t͡ʃ": "CH", "d͡ʒ": "JH", "t͡s": "T S", "d͡z": "D Z", "p͡f": "P F",
    "m": "M", "n": "N", "ŋ": "NG", "ɱ": "M", "ɲ": "N Y",
    "l": "L", "ʎ": "L Y", "j": "Y", "w": "W", "ʝ": "Y", "ɥ": "Y",
    "r": "R", "ɹ": "R", "ɾ": "D",
}

_VOWELS = {
    "i": "IY", "iː": "IY", "ɪ": "IH", "e": "EY", "eː": "EY", "ɛ": "EH", "ɛː": "EH",
    "a": "AA", "aː": "AA", "ɑ": "AA", "ɑː": "AA", "ə": "AH", "ɐ": "AH",
    "u": "UW", "uː": "UW", "ʊ": "UH", "o": "OW", "oː": "OW", "ɔ": "AO", "ɔː": "AO",
    "y": "IY", "yː": "IY", "ʏ": "IH", "ʏː": "IH", "ø": "EY", "øː": "EY", "œ": "EH", "œː": "EH",
}


def _table(phones):
    """{phone: ARPAbet phones as a tuple} of `phones`, each taken from the shared tables or given as "IPA=ARPA"."""
    shared = {**_CONSONANTS, **_VOWELS}
    table = {}
    for phone in phones.split():
        ipa, _, arpabet = phone.partition("=")
        table[ipa] = tuple((arpabet.replace("_", " ") if arpabet else shared[ipa]).split())
    return table


# Per language: its phones, with the language's own choice written "IPA=ARPA" (two phones joined by "_").
TABLES = {
    "nl": _table(
        "ə n t ɹ s a l d k e ɛ ɑ i ɔ x m ɪ v o p ɣ b h j f w z ŋ u y ʏ c=CH ø œː ʃ ɡ ɱ ɔː ʔ ɛː aː eː "
        "ʒ iː uː oː yː ʏː ɑː ɛi=EY ɑu=AW œy=OY"
    ),
    "de": _table(
        "t n ə ʁ s ɛ a l ɪ m d f ʔ eː g k ɐ iː b oː ʊ ʃ p z v ɔ ŋ ç ɛː h uː ʏ x aː yː œ j øː χ ʒ "
        "t͡ʃ p͡f t͡s d͡ʒ ɔʏ̯=OY aɪ̯=AY aʊ̯=AW ãː=AO ɛ̃ː=AE õː=OW"
    ),
    "fr": _table(
        "ʁ a i e t s l ɛ k d ɔ m p n j b v y ə f u z ʒ ɡ o ʃ w œ ɥ ø ɲ ŋ "
        "ɑ̃=AO ɔ̃=OW ɛ̃=AE œ̃=AE"
    ),
    "es": _table(
        "a e s ɾ o n i d t m l k b p θ u ʝ r g f x ʎ t͡ʃ ɲ "
        "ei=EY ai=AY au=AW oi=OY ou=OW eu=EH_UW wa=W_AA we=W_EY wi=W_IY wo=W_OW"
    ),
    "it": _table(
        "a e o i r t n l s k m d p j u b f ɛ v z t͡ʃ ɡ ɔ t͡s d͡ʒ w ʃ ɲ ʎ d͡z ŋ ɱ"
    ),
}

# gruut's lexicons hold a few entries that are no words (French "!sil" is "SIL"): such phones are left out.
NOT_PHONES = frozenset({"SIL"})
STRESS = "ˈˌ"


class UnmappedPhone(ValueError):
    """A phone the language's table does not have."""


def bare(phone):
    """`phone` without gruut's stress marks."""
    for mark in STRESS:
        phone = phone.replace(mark, "")
    return phone


def to_arpabet(lang, phones):
    """[(IPA phone, (ARPAbet phones))] of a pronunciation in `lang`'s phones; raises UnmappedPhone."""
    table = TABLES[lang]
    result = []
    for phone in phones:
        if phone not in table:
            raise UnmappedPhone(phone)
        result.append((phone, table[phone]))
    return result
