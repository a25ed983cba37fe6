"""Pronunciations from the CMU dictionary that the pocketsphinx wheel ships, looked up one word at a time.

Loading the whole dictionary (135 000 words) into a decoder is most of what
made starting a job slow (docs/performance.md, "CLAM layer around the
aligner"); a job needs the few hundred words of its transcripts. The file is
sorted by word (alternates "word(2)" right after "word"), so a word is found
by bisecting the file's bytes: no index to build or keep in step with the wheel.

A word the dictionary lacks is still known when it is a known word written with accents ("café") or with
"'s" ("keeper's"): the transcript keeps the word as written, and such words are not sent to review.
"""

import os

from pocketsphinx import get_model_path

from clamservices.transcripts import possessive, without_accents

CMUDICT = os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict")


def _key(line):
    return line.split(b" ", 1)[0].split(b"(", 1)[0]


class Lexicon:
    def __init__(self, path=CMUDICT):
        self.path = path
        self._data = None
        self._found = {}

    def pronunciations(self, word):
        """The pronunciations of `word` (each a phone string, "HH AH L OW"), in the dictionary's order; [] if none."""
        if word not in self._found:
            self._found[word] = self._lookup(word) or self._derived(word)
        return self._found[word]

    def _derived(self, word):
        plain = without_accents(word)
        if plain != word:
            return self.pronunciations(plain)
        return possessive(word, self.pronunciations)

    def _lookup(self, word):
        if self._data is None:
            with open(self.path, "rb") as f:
                self._data = f.read()
        data, wanted = self._data, word.encode("utf-8")
        if not wanted or b" " in wanted or b"\n" in wanted:
            return []
        # Bisect on byte positions: `lo` ends at the start of the first line whose word is >= `wanted`.
        lo, hi = 0, len(data)
        while lo < hi:
            mid = (lo + hi) // 2
            start = data.rfind(b"\n", 0, mid) + 1
            end = data.find(b"\n", mid)
            end = len(data) if end < 0 else end
            if _key(data[start:end]) < wanted:
                lo = end + 1
            else:
                hi = start
        found = []
        while lo < len(data):
            end = data.find(b"\n", lo)
            end = len(data) if end < 0 else end
            line = data[lo:end]
            if _key(line) != wanted:
                break
            found.append(line.split(b" ", 1)[1].strip().decode("ascii"))
            lo = end + 1
        return found
