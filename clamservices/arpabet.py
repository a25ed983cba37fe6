"""The aligner's phone set (ARPAbet, as in the CMU dictionary) and an IPA → ARPAbet table for gruut."""

# The 39 phones of the CMU pronouncing dictionary, without stress digits, as
# the PocketSphinx English acoustic model uses them (tests check both).
ARPABET_PHONES = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
)

# gruut's en-us phonemes (without stress marks) and a few common IPA symbols
# it may produce through its guesser; each maps to one or more ARPAbet phones.
IPA_TO_ARPABET = {
    "ɑ": "AA", "ɒ": "AA", "a": "AA", "æ": "AE", "ʌ": "AH", "ə": "AH", "ɐ": "AH", "ɔ": "AO",
    "aʊ": "AW", "aɪ": "AY", "ɛ": "EH", "e": "EY", "ɚ": "ER", "ɝ": "ER", "ɜ": "ER", "eɪ": "EY",
    "ɪ": "IH", "i": "IY", "oʊ": "OW", "o": "OW", "ɔɪ": "OY", "ʊ": "UH", "u": "UW",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "ɡ": "G", "g": "G", "t͡ʃ": "CH", "tʃ": "CH",
    "d͡ʒ": "JH", "dʒ": "JH", "f": "F", "v": "V", "θ": "TH", "ð": "DH", "s": "S", "z": "Z",
    "ʃ": "SH", "ʒ": "ZH", "h": "HH", "l": "L", "m": "M", "n": "N", "ŋ": "NG", "ɹ": "R", "r": "R",
    "ɾ": "T", "ʔ": "T", "w": "W", "j": "Y", "l̩": "AH L", "n̩": "AH N", "m̩": "AH M",
}

_MARKS = "ˈˌːˑ"


class PhoneMappingError(ValueError):
    pass


def ipa_to_arpabet(phonemes):
    """ARPAbet phones for a list of IPA phonemes as gruut gives them ('ˈɛ', 't͡ʃ', ...)."""
    phones = []
    for phoneme in phonemes:
        bare = phoneme.strip(_MARKS)
        for mark in _MARKS:
            bare = bare.replace(mark, "")
        if not bare:
            continue
        mapped = IPA_TO_ARPABET.get(bare)
        if mapped is None:
            raise PhoneMappingError(f"no ARPAbet phone for the IPA symbol {bare!r}")
        phones.extend(mapped.split())
    return phones
