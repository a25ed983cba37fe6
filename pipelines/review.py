"""Checking the pronunciations a researcher reviewed, before the run aligns again with them.

Every problem is reported at once, each with its line, so that a long review
needs one correction round, not one per mistake. Nothing is dropped silently:
an unknown word of the run left without a pronunciation is refused unless the
researcher explicitly chooses to leave its recordings out.
"""

import re
from dataclasses import dataclass, field

# CMUdict writes the second and later pronunciations of a word as word(2), word(3), …
_VARIANT = re.compile(r"^(?P<word>.+?)\(\d+\)$")
# A stress digit after an ARPAbet vowel, as CMUdict has them: AO1, ER0.
_STRESSED = re.compile(r"^(?P<phone>[A-Za-z]+)[0-2]$")
_IPA_STRESS = "ˈˌ"
# Lines the aligner's dictionary reader skips too.
_COMMENTS = (";;;", "#")


class DictionaryRefused(ValueError):
    """The reviewed dictionary cannot be used; `problems` are messages for the researcher."""

    def __init__(self, problems, missing=()):
        self.problems = list(problems)
        self.missing = list(missing)  # unknown words of the run without a pronunciation
        super().__init__("\n".join(self.problems))


@dataclass
class Checked:
    text: str  # the cleaned dictionary: one "word PH PH …" per line (may be empty)
    words: set = field(default_factory=set)  # lower-case words it gives pronunciations for
    problems: list = field(default_factory=list)  # messages, one per bad line
    mentioned: set = field(default_factory=set)  # lower-case words of every line, good or bad


def base_word(word):
    """The word a dictionary entry is for: `word(2)` is a variant of `word`."""
    match = _VARIANT.match(word)
    return match.group("word") if match else word


def word_problem(word):
    """Why the decoder cannot take `word` as a dictionary word, or None."""
    base = base_word(word)
    if base.startswith(("<", "[")) and base.endswith((">", "]")):
        return "words in <…> or […] are the aligner's own markers (silence, noise), not words of a transcript"
    if not any(ch.isalnum() for ch in base):
        return "a word needs at least one letter or digit"
    if any(ch in base for ch in "()[]<>"):
        return "brackets are only allowed as a variant number at the end, as in word(2)"
    return None


def _phone(phone, allowed):
    """The phone as the aligner knows it (stress digit dropped, upper case), or None if unknown."""
    if allowed is None or phone in allowed:
        return phone
    match = _STRESSED.match(phone)
    bare = (match.group("phone") if match else phone).upper()
    if bare in allowed:
        return bare
    # IPA with stress marks, as gruut and dictionaries write it (ˈa): the aligner does not use stress either.
    unstressed = phone.replace(_IPA_STRESS[0], "").replace(_IPA_STRESS[1], "")
    return unstressed if unstressed and unstressed in allowed else None


def _quoted(items):
    return ", ".join(f"“{item}”" for item in items)


def check_dictionary(text, phone_set="", unknown_words=()):
    """The cleaned dictionary and the problems of every bad line (see `check_review`).

    Where the pipeline names its phones, stress-marked (AO1) and lower-case (ao)
    phones are stored as the aligner knows them (AO); without a phone set
    phones are kept as typed, since nothing says what the aligner expects.
    """
    allowed = set(phone_set.split()) if phone_set else None
    from_transcripts = {w.lower() for w in unknown_words}
    lines, words, problems, mentioned = [], set(), [], set()
    bad_phones = False
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith(_COMMENTS):
            continue
        if len(parts) < 2:
            problems.append(f"Line {number}: “{line.strip()}” needs at least one phone after the word.")
            continue
        word, phones = parts[0], [_phone(p, allowed) for p in parts[1:]]
        mentioned.add(base_word(word).lower())
        reason = word_problem(word)
        if reason:
            hint = ""
            if base_word(word).lower() in from_transcripts:
                hint = " It comes from a transcript: correct the transcript, or delete this line to leave its recordings out."
            problems.append(f"Line {number}: “{word}” is not a word the aligner can take: {reason}.{hint}")
        unknown = [typed for typed, phone in zip(parts[1:], phones) if phone is None]
        if unknown:
            bad_phones = True
            verb = "is not a phone" if len(unknown) == 1 else "are not phones"
            problems.append(f"Line {number}: {_quoted(unknown)} {verb} of this aligner (in the pronunciation of “{word}”).")
        if not reason and not unknown:
            lines.append(" ".join([word, *phones]))
            words.add(base_word(word).lower())
    if bad_phones:
        problems.append(f"The phones this aligner knows: {' '.join(sorted(allowed))}.")
    return Checked("\n".join(lines) + "\n" if lines else "", words, problems, mentioned)


def check_review(text, phone_set, unknown_words, skip_missing=False):
    """(Checked dictionary, words to skip) for a review; raises DictionaryRefused.

    Entries for words that are not unknown are fine: they add variants.
    """
    checked = check_dictionary(text, phone_set, unknown_words)
    # A word on a bad line is not "missing": its line's problem already says what to fix.
    missing = [w for w in unknown_words if w.lower() not in checked.mentioned]
    problems = list(checked.problems)
    if missing and not skip_missing:
        problems.append(missing_message(missing))
    if not problems and not checked.text and not missing:
        problems.append("The dictionary is empty.")
    if problems:
        raise DictionaryRefused(problems, missing if not skip_missing else ())
    return checked, missing


def missing_message(words):
    return (
        f"No pronunciation for {_quoted(words)}: the recordings with "
        f"{'this word' if len(words) == 1 else 'these words'} cannot be aligned without one. "
        f"Add a line for {'it' if len(words) == 1 else 'each'}, or tick “Align without these words” to leave those recordings out."
    )


def proposals(dictionary_text, unknown_words):
    """{word: [pronunciation, …]} of the unknown words, from the proposed dictionary."""
    found = {w: [] for w in unknown_words}
    by_lower = {w.lower(): w for w in unknown_words}
    for line in dictionary_text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        word = by_lower.get(base_word(parts[0]).lower())
        if word is not None:
            found[word].append(" ".join(parts[1:]))
    return found


def recordings_by_word(outcomes, unknown_words):
    """{word: [recording, …]}: which recordings of the first pass contain each unknown word."""
    found = {w: [] for w in unknown_words}
    by_lower = {w.lower(): w for w in unknown_words}
    for outcome in outcomes:
        for word in outcome.unknown_words:
            key = by_lower.get(str(word).lower())
            if key is not None and outcome.recording not in found[key]:
                found[key].append(outcome.recording)
    return found


def phone_note(pipeline):
    """What the review says of the phones to write, or "" when the pipeline names none (any are taken)."""
    if not pipeline.phone_set:
        return ""
    if pipeline.approximate:
        how = ("Write them in IPA, separated by spaces; stress marks (ˈ ˌ) are accepted and dropped. This language is "
               "aligned approximately (its phones mapped to an English acoustic model), and its lexicon is small: "
               "check the proposals, which are often guesses.")
    else:
        how = ("Stress digits as in the CMU dictionary (AO1, ER0) are accepted and dropped, as the aligner does not "
               "use them.")
    return f"Phones this aligner knows: {pipeline.phone_set}. {how}"


@dataclass
class WordRow:
    word: str
    proposed: list  # pronunciations the G2P service proposed (may be empty)
    recordings: list | None  # recordings that contain the word; None when the run has no outcomes to tell
    deleted: dict = field(default_factory=dict)  # {recording: what of it was deleted during the review}, of those

    @property
    def listed(self):
        """[(recording, the names of its files deleted during the review, or "")] for the page."""
        return [(r, self.deleted.get(r, "")) for r in self.recordings or ()]


def review_rows(run, deleted=None):
    """One row per unknown word of the run for the review page. `deleted`: outcomes.deleted_files of the run, the
    recordings whose audio or transcript was deleted during the review (they will not be aligned)."""
    outcomes = [o for o in run.outcomes.all() if o.unknown_words]
    proposed = proposals(run.dictionary, run.oov_words)
    recordings = recordings_by_word(outcomes, run.oov_words) if outcomes else {}
    rows = []
    for w in run.oov_words:
        found = recordings.get(w) if outcomes else None
        gone = {r: " and ".join(n for n in (deleted or {}).get(r, ()) if n) for r in found or () if r in (deleted or {})}
        rows.append(WordRow(w, proposed[w], found, gone))
    return rows
