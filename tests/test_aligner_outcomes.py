"""The aligner on real recordings made messy in code: every failure is an outcome with a reason, never a crash."""

import re

import numpy as np
import pytest

from clamservices.aligner import Aligner, AlignmentError
from clamservices.audio import load_audio
from clamservices.dictionaries import Entry
from clamservices.report import Report
from clamservices.spoken import spoken_form
from clamservices.transcripts import words_of
from tests.helpers import DATA



@pytest.fixture(scope="module")
def aligner():
    return Aligner()


def recording(stem):
    samples, _ = load_audio(DATA / f"{stem}.wav")
    return samples, words_of((DATA / f"{stem}.txt").read_text())


def test_digital_silence_between_words_does_not_break_the_decoder(aligner):
    # Exact zeros between and around two recordings, as in edited or synthesised stimuli.
    first, first_words = recording("cards-001")
    second, second_words = recording("cards-003")
    zeros = np.zeros(8000, dtype=np.int16)
    samples = np.concatenate([zeros, first, zeros, zeros, second, zeros])
    alignment = aligner.align(samples, first_words + second_words)
    assert [w.label for w in alignment.words] == ["ten", "of", "clubs", "seven", "of", "clubs"]
    assert alignment.phones and not alignment.not_found


def test_speech_a_transcript_leaves_out_at_its_end_is_a_warning_with_its_times(aligner):
    samples, words = recording("austen-0870")
    assert not [w for w in aligner.align(samples, words).warnings if "sounds like speech" in w]
    half = aligner.align(samples, words[: len(words) // 2])
    assert ("2.5 s of what sounds like speech after the transcript's last word (0:04–0:08) has no words: "
            "if it is speech, the transcript leaves it out; add it and align again") in half.warnings


def test_words_the_transcript_adds_are_reported_not_found_and_the_spoken_ones_aligned(aligner):
    samples, words = recording("austen-0870")
    extra = words[:5] + words_of("elephant purple monday") + words[5:]
    alignment = aligner.align(samples, extra)
    assert [w.label for w in alignment.words] == [w.shown for w in words]
    assert alignment.not_found == ["elephant", "purple", "monday"]
    # Each named with where it belongs: its number and the end of the spoken word before it.
    warning = next(w for w in alignment.warnings if "not found" in w)
    shown = re.fullmatch(r"3 of 25 words were not found in the audio and are not in the TextGrid: “elephant” "
                         r"\(word 6, at (\d+\.\d) s\), “purple” \(word 7, at \1 s\), “monday” \(word 8, at \1 s\)",
                         warning)
    assert shown, warning
    assert abs(float(shown[1]) - alignment.words[4].end) <= 0.1


def test_another_recordings_transcript_is_no_match_with_where_it_went_wrong(aligner):
    samples, _ = recording("austen-0870")
    _, other = recording("austen-0880")
    with pytest.raises(AlignmentError) as caught:
        aligner.align(samples, other)
    assert caught.value.code == "no_match"
    assert "the transcript does not match the recording" in str(caught.value)


def test_noise_only_is_no_match_and_silence_only_is_silent(aligner):
    samples, words = recording("cards-001")
    noise = np.random.default_rng(3).normal(0, 3000, len(samples)).astype(np.int16)
    with pytest.raises(AlignmentError) as caught:
        aligner.align(noise, words)
    assert caught.value.code == "no_match"
    assert "its words cannot be found in the audio" in str(caught.value)
    with pytest.raises(AlignmentError) as caught:
        aligner.align(np.zeros(len(samples), dtype=np.int16), words)
    assert caught.value.code == "silent"


def test_a_clip_too_short_for_its_words_says_so(aligner):
    samples, words = recording("austen-0870")
    with pytest.raises(AlignmentError) as caught:
        aligner.align(samples[:3200], words)
    assert caught.value.code == "too_short"
    assert "0.20 s for 22 words" in str(caught.value)


def test_quiet_and_clipped_recordings_align_and_clipping_is_a_warning(aligner):
    samples, words = recording("austen-0870")
    quiet = (samples / 100).astype(np.int16)  # -40 dB
    assert len(aligner.align(quiet, words).words) == len(words)
    clipped = np.clip(samples.astype(np.int32) * 10, -32767, 32767).astype(np.int16)
    alignment = aligner.align(clipped, words)
    assert len(alignment.words) == len(words)
    assert any("clipped" in w for w in alignment.warnings)


def test_a_user_pronunciation_that_does_not_fit_is_named():
    # The word is spoken, so a TextGrid without it (or with it forced in) gives its audio to its
    # neighbours: the recording is not aligned, and the reason names the word to correct.
    aligner = Aligner()
    aligner.add_entries([Entry("zorblat", ("Z", "AO", "R", "B", "L", "AE", "T", "S", "IY", "Z"))])
    samples, words = recording("cards-001")
    with pytest.raises(AlignmentError) as caught:
        aligner.align(samples, words_of("ten of zorblat"))  # "ten of clubs" was said
    assert caught.value.code == "pronunciation"
    assert str(caught.value) == "the pronunciation given for “zorblat” does not fit the audio; correct it and align again"
    samples, words = recording("austen-0870")
    with pytest.raises(AlignmentError) as caught:  # forced in by the strict pass, but fitting poorly
        aligner.align(samples, words_of(" ".join(w.shown for w in words).replace("john", "zorblat")))
    assert caught.value.code == "pronunciation"
    # A user pronunciation that fits is used.
    aligner.add_entries([Entry("jon", ("JH", "AA", "N"))])
    alignment = aligner.align(samples, words_of(" ".join(w.shown for w in words).replace("john", "jon")))
    assert "jon" in [w.label for w in alignment.words]


def test_another_recordings_transcript_of_the_same_length_is_no_match(aligner):
    # The strict pass fits any transcript somehow; the words' acoustic fit says it is the wrong one.
    samples, _ = recording("austen-0880")
    _, other = recording("austen-0890")
    with pytest.raises(AlignmentError) as caught:
        aligner.align(samples, other)
    assert caught.value.code == "no_match"


def test_a_transcript_with_missing_words_still_aligns_the_spoken_ones(aligner):
    samples, words = recording("austen-0870")
    alignment = aligner.align(samples, words[:4] + words[8:])
    assert [w.label for w in alignment.words] == [w.shown for w in words[:4] + words[8:]]


def test_a_failed_phone_pass_keeps_the_word_alignment_with_a_warning(aligner, monkeypatch):
    # PocketSphinx's phone-pass failures cannot be produced on demand from these samples,
    # so the failure itself is simulated; what follows it is the code under test.
    samples, words = recording("cards-001")
    monkeypatch.setattr(aligner, "_phone_pass", lambda *args: None)
    alignment = aligner.align(samples, words)
    assert [w.label for w in alignment.words] == ["ten", "of", "clubs"]
    assert alignment.phones == []
    assert any("no phone alignment for 0.0–" in w and "the word alignment is kept" in w for w in alignment.warnings)


def test_words_the_decoder_cannot_take_are_refused_not_fatal():
    aligner = Aligner()
    refused = aligner.add_entries([Entry("pony", ("P", "OW", "N", "IY")), Entry("zorblat", ("XX",))])
    assert refused == [Entry("zorblat", ("XX",))]
    assert aligner.is_known("pony(2)") and not aligner.is_known("zorblat")


@pytest.mark.parametrize(
    "token, reading",
    [
        ("1990", ["nineteen", "ninety"]),
        ("5%", ["five", "percent"]),
        ("3rd", ["third"]),
        ("&", ["and"]),
        ("$5", ["five", "dollars"]),
        ("1,000", ["one", "thousand"]),
        ("3.5", ["three", "point", "five"]),
        ("hello", None),
        ("1990s", None),
    ],
)
def test_numbers_and_symbols_are_read_as_words(token, reading):
    assert spoken_form(token) == reading


def test_transcripts_keep_spoken_symbols_and_split_at_dashes():
    words = words_of("In 1990 — “Dr. Smith” paid 5% & more…yes/no")
    assert [w.key for w in words] == ["in", "1990", "dr", "smith", "paid", "5%", "&", "more", "yes", "no"]


def test_the_report_says_what_happened_to_each_recording(tmp_path):
    report = Report(tmp_path / "report.json")
    report.aligned("b.wav", "b.txt", textgrid="b.TextGrid", warnings=["“1990” was read as “nineteen ninety”"])
    report.aligned("a.wav", "a.txt", textgrid="a.TextGrid")
    report.not_aligned("c.wav", "c.txt", "unknown_words", "…", unknown_words=["pony"])
    report.not_aligned("d.wav", None, "no_transcript", "there is no transcript for this recording (add d.txt)")
    report.save()
    import json

    data = json.loads((tmp_path / "report.json").read_text())
    assert [e["audio"] for e in data["recordings"]] == ["a.wav", "b.wav", "c.wav", "d.wav"]
    assert [e["status"] for e in data["recordings"]] == ["aligned", "warnings", "not_aligned", "not_aligned"]
    assert data["summary"] == (
        "Aligned 2 of 4 recordings; 1 has words without a pronunciation; 1 could not be aligned"
    )


class _FailsOnce:
    """A decoder whose first process_raw raises, as a native failure or MemoryError would (simulated)."""

    def __init__(self, decoder):
        self._decoder, self.failed = decoder, False

    def __getattr__(self, name):
        return getattr(self._decoder, name)

    def process_raw(self, *args, **kwargs):
        if not self.failed:
            self.failed = True
            raise MemoryError("simulated")
        return self._decoder.process_raw(*args, **kwargs)


def test_an_error_in_the_middle_of_a_decode_does_not_spoil_the_next_recording():
    aligner = Aligner()
    aligner.decoder = _FailsOnce(aligner.decoder)
    samples, words = recording("cards-001")
    with pytest.raises(MemoryError):
        aligner.align(samples, words)
    assert [w.label for w in aligner.align(samples, words).words] == ["ten", "of", "clubs"]
