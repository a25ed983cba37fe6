"""Every word search of the bundled aligner is bounded in work: no input makes a job run without end.

A new user's trial sat at 72 % for ever: a transcript with an added paragraph of 16 near-identical
sentences that are not spoken ("The astronaut juggled oranges beside a purple volcano. The astronaut
juggled pencils …") made PocketSphinx build the word lattice of the tolerant search (any word may be
skipped) for hours. Real aligner, real job process (tests/fajob.py) on espeak-ng speech
(tests/long_speech.py); the job runs under a time limit, so that a regression fails instead of hanging.
"""

import json
import re

import psutil
import pytest
import soundfile

from clamservices import aligner as aligning
from clamservices.aligner import Aligner
from clamservices.dictionaries import Entry
from clamservices.transcripts import words_of
from tests.fajob import make_job, run_job
from tests.helpers import DATA
from tests.long_speech import recording
from tests.messy_corpus import tools_missing

OBJECTS = ["oranges", "pencils", "candles", "marbles", "lemons", "bottles", "teacups", "feathers", "spoons",
           "buttons", "pebbles", "ribbons", "balloons", "whistles", "mittens", "pillows"]
PARAGRAPH = [f"The astronaut juggled {thing} beside a purple volcano." for thing in OBJECTS]
PLACED = re.compile(r"words (\d+)–(\d+) \(“\w+” … “\w+”\) could not be placed (?:between \d+:\d\d and \d+:\d\d|at \d+:\d\d); "
                    r"check the transcript there")


@pytest.mark.skipif(bool(tools_missing()), reason="needs espeak-ng and sox (bin/ensure-system-packages)")
def test_near_identical_sentences_added_to_a_transcript_end_as_words_not_placed_not_as_a_job_without_end(tmp_path):
    # Two minutes, the shortest recording tried that stalled: the planning finds no cut next to the added
    # sentences and aligns it as one piece of 121 s and 460 words.
    samples, texts, _ = recording(120, seed=3)
    at = len(texts) // 2
    soundfile.write(tmp_path / "talk.wav", samples, 16000)
    (tmp_path / "talk.txt").write_text(" ".join(texts[:at] + PARAGRAPH + texts[at:]), encoding="utf-8")
    (tmp_path / "review.dict").write_text("teacups T IY K AH P S\n", encoding="utf-8")
    job = make_job(tmp_path / "project", [tmp_path / "talk.wav", tmp_path / "talk.txt", tmp_path / "review.dict"])

    # Before the bound the job never ended (its worker stuck in the lattice's best-path search).
    finished = run_job(job, timeout=600)

    assert finished.returncode == 0, finished.stderr[-2000:]
    # The word lattices were found in child processes: none is left. (Whether one reaches its limit here
    # depends on the planning's pieces; the stand-in tests below check the limits themselves.)
    left = [p for p in psutil.process_iter(["cmdline"]) if str(job / "clam.xml") in (p.info["cmdline"] or [])]
    assert left == []
    entry = json.loads((job / "output" / "report.json").read_text())["recordings"][0]
    assert entry["status"] == "warnings" and (job / "output" / "talk.TextGrid").exists(), entry
    spoken = len(words_of(" ".join(texts)))
    first = len(words_of(" ".join(texts[:at])))
    last = first + len(words_of(" ".join(PARAGRAPH))) - 1
    # The other words are aligned (measured: 320 of 332 in one process; the pieces' searches found too
    # few words before the repair placed them, which failed the whole recording) …
    assert spoken * 0.8 <= entry["words_aligned"] <= spoken + 8, entry
    # … and the words that could not be placed start with the added sentences and take them all in.
    runs = [tuple(int(n) - 1 for n in m.group(1, 2)) for m in map(PLACED.fullmatch, entry["warnings"]) if m]
    assert runs and all(first - 8 <= start <= last for start, _ in runs), entry["warnings"]
    assert sum(min(end, last) - start + 1 for start, end in runs) >= 0.9 * (last - first + 1), entry["warnings"]


def _cards():
    from clamservices.audio import load_audio

    samples, _ = load_audio(DATA / "cards-001.wav")
    return samples, words_of("ten of clubs")


def test_a_search_bigger_than_its_bound_is_not_run_and_its_words_are_not_found(monkeypatch):
    samples, words = _cards()
    keys = [w.key for w in words]
    aligner = Aligner()
    prepared = aligning.with_noise_floor(aligning.normalised(samples))
    assert [aligning._base_word(s.word) for s in aligner._strict_pass(aligner.decoder, prepared, keys)] == keys
    frames = len(prepared) // aligning.SAMPLES_PER_FRAME
    monkeypatch.setattr(aligning, "MAX_SEARCH_WORK", frames * len(keys) - 1)
    assert aligner._strict_pass(aligner.decoder, prepared, keys) is None
    assert aligner._tolerant_pass(aligner.decoder, prepared, keys) == []
    with pytest.raises(aligning.AlignmentError) as caught:
        aligner.align(samples, words)
    assert caught.value.code == "no_match"


def test_a_tolerant_search_reports_the_words_it_finds_and_not_the_ones_it_skips():
    # The grammar searches take the Viterbi backtrace, which lists the skips ("(NULL)") too.
    samples, _ = _cards()
    aligner = Aligner()
    aligner.add_entries([Entry("teacups", ("T", "IY", "K", "AH", "P", "S"))])
    prepared = aligning.with_noise_floor(aligning.normalised(samples))
    keys = ["ten", "teacups", "of", "clubs", "volcano"]
    found = aligner._tolerant_pass(aligner.decoder, prepared, keys)
    assert [keys[i] for i, _ in found] == ["ten", "of", "clubs"]
    assert all(aligning.confidence(s) >= aligning.LOW_CONFIDENCE for _, s in found)


class _StandInDecoder:
    """Stands in for a PocketSphinx decoder whose lattice misbehaves (hogs CPU, memory or blocks) — no real
    transcript makes one do so reliably and quickly, which is what these tests need."""

    def __init__(self, behaviour):
        self.behaviour = behaviour

    def seg(self):
        if self.behaviour == "cpu":
            while True:
                pass
        if self.behaviour == "memory":
            hoard = []
            while True:
                hoard.append(bytearray(16 << 20))
        if self.behaviour == "block":
            import time
            time.sleep(3600)
        return None


@pytest.mark.parametrize("behaviour", ["cpu", "memory", "block"])
def test_a_word_lattice_past_its_cpu_memory_or_waiting_limit_finds_no_words_and_leaves_no_process(
        behaviour, monkeypatch, tmp_path, caplog):
    monkeypatch.chdir(tmp_path)  # where a core dump would land
    monkeypatch.setattr(aligning, "LATTICE_MEMORY_BYTES", 64 << 20)
    monkeypatch.setattr(aligning, "LATTICE_WAIT_SECONDS", 1.0)
    before = {p.pid for p in psutil.Process().children()}
    with pytest.raises(aligning._TooCostly):
        aligning._best_path(_StandInDecoder(behaviour), cpu_seconds=1)
    assert {p.pid for p in psutil.Process().children()} == before
    assert list(tmp_path.iterdir()) == []  # no core file
    expected = {"cpu": "ended by SIGKILL", "memory": "exited with 1", "block": "did not end within 5 s"}[behaviour]
    assert expected in caplog.text


def test_a_long_lattice_wait_says_so_every_few_seconds_until_the_answer_comes(monkeypatch):
    # The word pass's lattice is searched in a child for up to a minute; meanwhile its note is repeated with
    # the seconds taken (the job's status line). Here the answer comes on the second call, with no wait at all.
    import os

    monkeypatch.setattr(aligning, "WAITING_NOTE_SECONDS", 0.0)
    read_end, write_end = os.pipe()
    calls = []

    def waiting(seconds):
        calls.append(seconds)
        if len(calls) == 2:
            os.write(write_end, b"answer")
            os.close(write_end)

    with os.fdopen(read_end, "rb") as pipe:
        assert aligning._read_until(pipe, float("inf"), waiting) == b"answer"
    assert len(calls) == 2 and calls == sorted(calls)
