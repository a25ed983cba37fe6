"""The repair pass of long recordings (clamservices/repair.py): a passage added to or missing from the
transcript costs only that passage, not the correctly transcribed words around it.

Real aligner on espeak-ng speech of different sentences (tests/long_speech.py); pieces of 15 s, so
that a recording of two minutes is cut several times and the mismatch makes pieces cut blindly.
"""

import difflib
import re

import pytest

from clamservices.aligner import Aligner, AlignmentError
from clamservices.dictionaries import Entry
from clamservices.transcripts import words_of
from tests.long_speech import recording, sentences
from tests.messy_corpus import tools_missing

pytestmark = pytest.mark.skipif(bool(tools_missing()), reason="needs espeak-ng and sox (bin/ensure-system-packages)")

PIECE = 15.0
# "at 1:38" where the stretch's two times read the same (groups 3–6 are then None).
PLACED = re.compile(r"words (\d+)–(\d+) \(“\w+” … “\w+”\) could not be placed (?:between (\d+):(\d\d) and "
                    r"(\d+):(\d\d)|at \d+:\d\d); check the transcript there")


@pytest.fixture(scope="module")
def speech():
    return recording(180, seed=7)


def _placed_in_their_sentences(alignment, parts, spans):
    """Share of the spoken words of `parts` ([(sentence, its index in the recording or None)]) placed,
    in order, inside their sentence's audio."""
    words = [(w.shown, index) for text, index in parts for w in words_of(text)]
    labels = [w.label for w in alignment.words]
    matcher = difflib.SequenceMatcher(None, [shown for shown, _ in words], labels, autojunk=False)
    good = 0
    for block in matcher.get_matching_blocks():
        for n in range(block.size):
            index, word = words[block.a + n][1], alignment.words[block.b + n]
            if index is not None:
                start, end = spans[index]
                good += start - 0.3 <= (word.start + word.end) / 2 <= end + 0.3
    return good / sum(1 for _, index in words if index is not None)


def test_a_passage_added_to_a_long_transcript_costs_only_its_own_words(speech):
    samples, texts, spans = speech
    at = len(texts) // 2
    extra = sentences(60, seed=1234)[-8:]
    parts = [(t, n) for n, t in enumerate(texts[:at])] + [(t, None) for t in extra] + \
            [(t, at + n) for n, t in enumerate(texts[at:])]
    words = words_of(" ".join(t for t, _ in parts))
    shares, notes = [], []
    alignment = Aligner().align(samples, words, phones=False, piece_seconds=PIECE, progress=shares.append,
                                note=notes.append)
    assert _placed_in_their_sentences(alignment, parts, spans) >= 0.98
    # What it does while it searches is said as it goes (a job's status line: clamservices/fa_job.py), the
    # share never goes back and is all done only at the end.
    assert shares == sorted(shares) and shares[-1] == pytest.approx(1.0) and max(shares[:-1]) < 1.0
    placing = [n for n in notes if n and n.startswith("placing words")]
    assert len(set(placing)) >= 2 and all(re.fullmatch(
        r"placing words \d+–\d+ again between \d:\d\d and \d:\d\d, where they did not fit \(stretch \d+ of \d+, "
        r"search \d+\)", n) for n in placing), notes
    assert notes.index(placing[0]) > max(i for i, n in enumerate(notes) if n and n.startswith("aligning 0:"))
    assert any(n and re.fullmatch(r"aligning \d:\d\d–\d:\d\d \(piece \d+ of \d+\)", n) for n in notes), notes
    assert notes[-1] is None
    first = len(words_of(" ".join(texts[:at])))
    last = first + len(words_of(" ".join(extra))) - 1
    placed = [m for m in map(PLACED.fullmatch, alignment.warnings) if m]
    assert len(placed) == 1, alignment.warnings
    start, end = (int(n) - 1 for n in placed[0].group(1, 2))
    # It names the added words (give or take a few at its ends: they occur in the recording's sentences too) …
    assert abs(start - first) <= 8 and abs(end - last) <= 8
    # … and where they would be: around the pause between the sentences they came between.
    seconds = [60 * int(m) + int(s) for m, s in (placed[0].group(3, 4), placed[0].group(5, 6))]
    assert spans[at - 1][1] - 2 <= seconds[0] <= seconds[1] <= spans[at][0] + 5


def test_a_passage_missing_from_a_long_transcript_costs_no_other_words(speech):
    samples, texts, spans = speech
    at = len(texts) // 2
    parts = [(t, n) for n, t in enumerate(texts) if not at <= n < at + 8]
    words = words_of(" ".join(t for t, _ in parts))
    alignment = Aligner().align(samples, words, phones=False, piece_seconds=PIECE)
    assert _placed_in_their_sentences(alignment, parts, spans) >= 0.98


def test_a_word_of_the_users_dictionary_missing_from_a_long_recording_is_a_warning_not_an_error():
    # A sentence that is not spoken, with a word whose pronunciation the user gave: before, the word
    # not found made the whole recording fail ("the pronunciation given for … does not fit the audio").
    samples, texts, spans = recording(50, seed=3)
    aligner = Aligner()
    assert aligner.add_entries([Entry("zorblat", ("Z", "AO", "R", "B", "L", "AE", "T"))]) == []
    at = len(texts) // 2
    words = words_of(" ".join(texts[:at] + ["the farmer painted a zorblat near the river"] + texts[at:]))
    try:
        alignment = aligner.align(samples, words, phones=False, piece_seconds=PIECE)
    except AlignmentError as exc:
        pytest.fail(f"the recording was not aligned: {exc}")
    fit = [w for w in alignment.warnings if "zorblat" in w and "pronunciation" in w]
    assert len(fit) == 1 and re.fullmatch(
        r"the pronunciation given for “zorblat” may not fit the audio \(near \d+:\d\d\); "
        r"correct it if so, or check the transcript there", fit[0]), alignment.warnings


def test_long_recording_warnings_give_clock_times_and_put_unplaced_words_first():
    # Pieces' results made up (a run of missing words, a word that fits poorly); the repair pass
    # decodes the run's stretch of quiet noise and places nothing there.
    import numpy as np

    from clamservices.aligner import Interval, Plan
    from clamservices.longaudio import PieceResult, Segment

    words = words_of("the farmer painted a green boat near the river and the baker found seven letters in "
                     "the village after the storm")
    found, intervals = [], []
    for i, word in enumerate(words):
        if 5 <= i < 12:
            continue
        start = 7000 + 40 * i  # frames: past a minute, so that "70.0 s" and "1:10" differ
        segment = Segment(word.key, start, start + 30, 1e-200 if i == 14 else 1.0)
        found.append((i, segment))
        intervals.append(Interval(start / 100, (start + 31) / 100, word.shown))
    samples = (np.random.default_rng(0).standard_normal(100 * 160 * 100) * 3).astype(np.int16)
    alignment = Aligner().assemble(words, Plan([], 1.0, []), [PieceResult(found=found, words=intervals)], samples,
                                   phones=False)
    assert alignment.warnings[:2] == [
        # the run goes on to the poorly fitting word: fewer than 3 words fit well in a row before it
        "words 6–12 (“boat” … “baker”) could not be placed between 1:11 and 1:16; check the transcript there",
        "1 word fits the audio poorly (check the transcript and the recording there): “letters” at 1:15",
    ]


def test_a_long_recording_that_does_not_match_says_where_the_trouble_starts_as_a_clock_time():
    # Pieces' results made up: only the first 3 of 20 words found, the last of them ending at 75 s.
    import numpy as np

    from clamservices.aligner import Interval, Plan
    from clamservices.longaudio import PieceResult, Segment

    words = words_of("the farmer painted a green boat near the river and the baker found seven letters in "
                     "the village after the storm")
    found = [(i, Segment(words[i].key, 7200 + 100 * i, 7290 + 100 * i, 1.0)) for i in range(3)]
    intervals = [Interval(s.start_frame / 100, s.end_frame / 100, words[i].shown) for i, s in found]
    samples = np.zeros(100 * 160 * 100, dtype=np.int16)
    with pytest.raises(AlignmentError) as raised:
        Aligner().assemble(words, Plan([], 1.0, []), [PieceResult(found=found, words=intervals)], samples,
                           phones=False)
    assert "the trouble starts near 1:14, at “a”" in str(raised.value)


@pytest.fixture(scope="module")
def four_minutes():
    return recording(240, seed=21)


def test_a_transcript_that_stops_early_costs_no_word_it_has(four_minutes):
    # The transcript covers the first 2 minutes of a 4-minute recording's speech. The planner cut the
    # rest where the share of speech said, each piece with words spoken minutes earlier: 225 of 298
    # words were placed. Pieces of the service's length (60 s).
    samples, texts, spans = four_minutes
    parts = [(t, n) for n, t in enumerate(texts) if spans[n][1] <= spans[-1][1] - 130]
    words = words_of(" ".join(t for t, _ in parts))
    alignment = Aligner().align(samples, words, phones=False)
    assert _placed_in_their_sentences(alignment, parts, spans) >= 0.98
    assert [w for w in alignment.warnings if re.fullmatch(
        r"\d+ s of what sounds like speech after the transcript's last word \(1:4\d–4:0\d\) has no words: .*", w)]


def test_a_recording_that_starts_with_speech_its_transcript_leaves_out_is_aligned():
    # The first 50 s of a 3-minute recording are not in its transcript: the windows near the start found
    # nothing, and the probes elsewhere, against the words near the estimate only, missed the transcript
    # (it was off by all of those 50 s): "its words cannot be found in the audio". A short word of the transcript
    # may land in the untranscribed speech (measured: "my" at 45 s), so the warning's stretch may end before 0:50.
    samples, texts, spans = recording(180, seed=21)
    parts = [(t, n) for n, t in enumerate(texts) if spans[n][0] >= 50]
    words = words_of(" ".join(t for t, _ in parts))
    notes = []
    alignment = Aligner().align(samples, words, phones=False, piece_seconds=PIECE, note=notes.append)
    assert _placed_in_their_sentences(alignment, parts, spans) >= 0.98
    assert [w for w in alignment.warnings if re.fullmatch(
        r"\d+ s of what sounds like speech before the transcript's first word \(0:00–0:[45]\d\) has no words: .*", w)]
    # The minutes of windows decoded before the first cut are said window by window (a job's status line).
    assert "checking further on whether the transcript is this recording's (window 2 of 2)" in notes, notes
    searching = [re.fullmatch(r"searching (\d:\d\d)–(\d:\d\d) for where the transcript and the recording agree "
                              r"again \(window (\d+) of (\d+)\)", n) for n in notes if n and n.startswith("searching")]
    assert searching and all(searching) and len({m.group(3) for m in searching}) >= 3, notes


def test_a_transcript_longer_than_the_recordings_speech_costs_no_word_that_is_spoken():
    # The recording stops 50 s before its transcript does (the planner before gave up on the whole file).
    samples, texts, spans = recording(180, seed=21)
    end = max(n for n in range(len(spans)) if spans[n][1] <= spans[-1][1] - 50)
    samples = samples[: int((spans[end][1] + 0.3) * 16000)]
    parts = [(t, n if n <= end else None) for n, t in enumerate(texts)]
    words = words_of(" ".join(t for t, _ in parts))
    alignment = Aligner().align(samples, words, phones=False, piece_seconds=PIECE)
    assert _placed_in_their_sentences(alignment, parts, spans) >= 0.98
    placed = [m for m in map(PLACED.fullmatch, alignment.warnings) if m]
    assert len(placed) == 1 and int(placed[0].group(2)) == len(words), alignment.warnings
