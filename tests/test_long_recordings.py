"""Long recordings (issue 16): cut into anchored pieces, aligned by a pool of processes, with progress.

Real aligner and real processes throughout; the recordings are espeak-ng speech of
different sentences (tests/long_speech.py), pieces are made small (`piece_seconds`)
so that a recording of a few minutes is cut several times.
"""

import json
import os
import re
import signal
import time

import numpy as np
import psutil
import pytest
from praatio import textgrid

from clamservices.aligner import Aligner, AlignmentError
from clamservices.transcripts import words_of
from tests.clamservers import run_job, start_job
from tests.helpers import DATA, ROOT
from tests.long_speech import RATE, recording
from tests.messy_corpus import tools_missing

pytestmark = pytest.mark.skipif(bool(tools_missing()), reason="needs espeak-ng and sox (bin/ensure-system-packages)")

PIECE = 15.0
SAMPLES = ["austen-0870", "austen-0880", "austen-0890", "cards-001", "cards-002", "cards-003"]


@pytest.fixture(scope="module")
def speech():
    """A minute of different sentences: (samples, [sentence], [(start s, end s)])."""
    return recording(60, seed=3)


@pytest.fixture(scope="module")
def aligner():
    return Aligner()


def test_a_long_recording_is_cut_into_anchored_pieces_that_align_like_one_piece(speech, aligner):
    samples, sentences, _ = speech
    words = words_of(" ".join(sentences))
    plan = aligner.plan(samples, words, PIECE)
    assert len(plan.pieces) >= 5 and all(p.anchored for p in plan.pieces)
    assert all(p.end - p.start <= PIECE * RATE for p in plan.pieces)
    assert [(p.start, p.first) for p in plan.pieces[1:]] == [(p.end, p.last) for p in plan.pieces[:-1]]

    pieces = aligner.align(samples, words, phones=False, piece_seconds=PIECE)
    whole = aligner.align(samples, words, phones=False, piece_seconds=1e9)
    assert [w.label for w in pieces.words] == [w.shown for w in words] == [w.label for w in whole.words]
    assert pieces.warnings == [] and pieces.not_found == []
    differences = [abs(a.start - b.start) for a, b in zip(pieces.words, whole.words)] + \
                  [abs(a.end - b.end) for a, b in zip(pieces.words, whole.words)]
    assert np.median(differences) <= 0.01
    assert np.mean(np.array(differences) <= 0.03) >= 0.9


def test_a_long_recording_gets_phones_and_progress_that_never_goes_back(aligner):
    # The samples of tests/data, whose phone pass is known to succeed, twice over with pauses: 42 s.
    import soundfile

    pause = np.zeros(RATE // 2, dtype=np.int16)
    audio = [a for _ in range(2) for stem in SAMPLES for a in (soundfile.read(DATA / f"{stem}.wav", dtype="int16")[0], pause)]
    text = " ".join((DATA / f"{stem}.txt").read_text() for _ in range(2) for stem in SAMPLES)
    seen = []
    alignment = aligner.align(np.concatenate(audio), words_of(text), piece_seconds=15.0, progress=seen.append)
    assert [w.label for w in alignment.words] == [w.shown for w in words_of(text)]
    for word in alignment.words:
        assert any(word.start <= p.start and p.end <= word.end for p in alignment.phones), word
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_words_missing_from_the_audio_are_reported_with_where_they_belong(speech, aligner):
    samples, sentences, spans = speech
    extra = "the elephant quietly translated seventeen ancient poems into perfect swedish yesterday"
    middle = len(sentences) // 2
    words = words_of(" ".join(sentences[:middle] + [extra] + sentences[middle:]))
    alignment = aligner.align(samples, words, phones=False, piece_seconds=PIECE)
    spoken = words_of(" ".join(sentences))
    assert len(alignment.words) >= 0.97 * len(spoken)
    first = len(words_of(" ".join(sentences[:middle])))
    warnings = [m for m in map(PLACED.fullmatch, alignment.warnings) if m]
    assert len(warnings) == 1, alignment.warnings
    start, end = (int(n) - 1 for n in warnings[0].group(1, 2))
    assert start <= first + 10 and end >= first  # it names (some of) the extra words …
    seconds = [60 * int(m) + int(s) for m, s in (warnings[0].group(3, 4), warnings[0].group(5, 6))]
    # … and where they would be: around the pause before the next sentence, which took some of them
    assert seconds[0] <= spans[middle][1] + 1 and seconds[1] >= spans[middle - 1][1] - 1
    assert seconds[1] - seconds[0] <= 15
    assert len(set(extra.split()) & set(alignment.not_found)) >= 5


# "at 1:38" where the stretch's two times read the same (groups 3–6 are then None).
PLACED = re.compile(r"words (\d+)–(\d+) \(“\w+” … “\w+”\) could not be placed (?:between (\d+):(\d\d) and "
                    r"(\d+):(\d\d)|at \d+:\d\d); check the transcript there")


def test_a_passage_missing_from_the_transcript_costs_only_that_passage(speech, aligner):
    samples, sentences, spans = speech
    middle = len(sentences) // 2
    kept = sentences[: middle - 2] + sentences[middle + 2 :]
    words = words_of(" ".join(kept))
    alignment = aligner.align(samples, words, phones=False, piece_seconds=PIECE)
    assert len(alignment.words) >= 0.9 * len(words)
    # From the second sentence after the gap on, every word is inside its sentence's audio.
    after = middle + 3
    first = len(words_of(" ".join(sentences[: middle - 2] + sentences[middle + 2 : after])))
    tail = alignment.words[first - len(words):]
    assert [w.label for w in tail] == [w.shown for w in words[first:]]
    ends = np.cumsum([len(words_of(s)) for s in sentences[after:]])
    for number, word in enumerate(tail):
        start, end = spans[after + int(np.searchsorted(ends, number, side="right"))]
        assert start - 0.3 <= word.start < word.end <= end + 0.3, (word, start, end)


@pytest.fixture
def long_pair(tmp_path, speech):
    import soundfile

    samples, sentences, _ = speech
    soundfile.write(tmp_path / "interview.wav", samples, RATE)
    (tmp_path / "interview.txt").write_text(" ".join(sentences))
    return [(tmp_path / "interview.wav", "audio"), (tmp_path / "interview.txt", "transcript")]


def _grid_words(result, name, tmp_path):
    path = tmp_path / f"out-{name}"
    path.write_bytes(result.outputs[name])
    return [(e.start, e.end, e.label) for e in textgrid.openTextgrid(str(path), False).getTier("words").entries]


def test_the_job_stops_with_its_processes_on_sigterm(fa_service, long_pair, tmp_path):
    client = fa_service.client()
    project = f"sigterm{os.getpid()}"
    try:
        start_job(client, project, long_pair)
        deadline = time.monotonic() + 60
        job = _job_process(fa_service, project, deadline)
        children = []
        while time.monotonic() < deadline and not children:
            children = job.children(recursive=True)
            time.sleep(0.2)
        assert children, "the job did not start its processes"
        job.send_signal(signal.SIGTERM)  # as the dispatcher does when a job is deleted or runs too long
        gone, alive = psutil.wait_procs([job, *children], timeout=20)
        assert alive == []
    finally:
        client.delete(project)


def test_a_long_recording_through_the_service_reports_its_progress_and_aligns_every_word(fa_service, long_pair,
                                                                                          tmp_path):
    result = run_job(fa_service, long_pair, timeout=300)
    assert not result.failed, result.outputs.get("error.log")
    words = _grid_words(result, "interview.TextGrid", tmp_path)
    assert [label for _, _, label in words if label] == [w.shown for w in words_of(long_pair[1][0].read_text())]
    log = result.text("alignment.log").splitlines()
    shares = [int(m.group(1)) for m in map(PROGRESS.fullmatch, log) if m]
    assert shares[0] == 0 and shares == sorted(shares) and len(set(shares)) >= 3, log
    assert log[-1] == "Aligned 1 of 1 recordings"


PROGRESS = re.compile(r"Aligning interview\.wav: (\d+) % \(\d+ of 61 s\); 0 of 1 files done")


def _two_recordings(tmp_path):
    """Two recordings cut from 16 s of speech between two sentences: [[(wav, "audio"), (txt, "transcript")]] × 2."""
    import soundfile

    samples, sentences, spans = recording(16, seed=5)
    middle = len(sentences) // 2
    cut = int((spans[middle - 1][1] + spans[middle][0]) / 2 * RATE)
    files = []
    for stem, audio, text in (("first", samples[:cut], sentences[:middle]), ("second", samples[cut:], sentences[middle:])):
        soundfile.write(tmp_path / f"{stem}.wav", audio, RATE)
        (tmp_path / f"{stem}.txt").write_text(" ".join(text))
        files.append([(tmp_path / f"{stem}.wav", "audio"), (tmp_path / f"{stem}.txt", "transcript")])
    return files


def test_two_recordings_aligned_in_parallel_get_the_textgrids_they_get_one_by_one(fa_service, tmp_path):
    files = _two_recordings(tmp_path)
    both = run_job(fa_service, files[0] + files[1])
    alone = [run_job(fa_service, pair) for pair in files]
    for name, one in zip(("first.TextGrid", "second.TextGrid"), alone):
        assert both.outputs[name] == one.outputs[name]


def _job_process(service, project, deadline):
    """The job's own process (not the shell or the dispatcher; a child of the service's job server, or of the
    dispatcher when that is off), from the project's `.pid`, waited for until `deadline`."""
    from tests.clamservers import USER

    pid_file = service.log_path.parent / "clam" / "forced_alignment" / "projects" / USER / project / ".pid"
    while time.monotonic() < deadline:
        try:
            process = psutil.Process(int(pid_file.read_text()))
            if not any("dispatcher.py" in part for part in process.cmdline()):
                return process
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
            pass
        time.sleep(0.1)
    raise AssertionError("the job did not start")


def test_a_killed_aligning_process_costs_only_its_recording(fa_service, tmp_path):
    import json

    import soundfile

    samples, sentences, _ = recording(150, seed=7)
    soundfile.write(tmp_path / "a-long.wav", samples, RATE)
    (tmp_path / "a-long.txt").write_text(" ".join(sentences))
    client = fa_service.client()
    project = f"killed{os.getpid()}"
    try:
        start_job(client, project, [(tmp_path / "a-long.wav", "audio"), (tmp_path / "a-long.txt", "transcript"),
                                    (DATA / "cards-001.wav", "audio"), (DATA / "cards-001.txt", "transcript")])
        deadline = time.monotonic() + 90
        job = _job_process(fa_service, project, deadline)
        # The long recording's first two pieces (of three, 50 s each) go to the two processes first: the
        # first process that is seen aligning (not just starting) aligns one of them.
        victim = None
        while victim is None and time.monotonic() < deadline:
            workers = job.children()  # the pool's processes (forked)
            victim = next((p for p in workers if p.cpu_times().user > 1.5), None)
            time.sleep(0.05)
        assert victim, "no process started aligning"
        victim.kill()
        while client.get(project).status != 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        report = json.loads(_output(fa_service, project))
    finally:
        client.delete(project)
    outcomes = {r["audio"]: (r["status"], r.get("code"), r.get("reason")) for r in report["recordings"]}
    assert outcomes["a-long.wav"] == ("not_aligned", "internal",
                                      "an unexpected error stopped the alignment of this recording; "
                                      "an administrator can find the details in the service's error log")
    assert outcomes["cards-001.wav"][0] in ("aligned", "warnings")


def _output(service, project):
    import requests

    from tests.clamservers import PASSWORD, USER

    return requests.get(f"{service.url}{project}/output/report.json", auth=(USER, PASSWORD), timeout=30).text


class CountingAligner(Aligner):
    """The aligner, counting its window decodes and noting their loudness: what a plan costs, not timed."""

    def __init__(self):
        super().__init__()
        self.windows = []  # [(seconds, share of 10 ms frames quieter than -50 dBFS)]

    def window_pass(self, samples, keys, estimate):
        frames = samples[: len(samples) // 160 * 160].astype(np.float64).reshape(-1, 160)
        quiet = np.mean(np.sqrt((frames ** 2).mean(axis=1)) < 32767 * 10 ** (-50 / 20))
        self.windows.append((len(samples) / RATE, float(quiet)))
        return super().window_pass(samples, keys, estimate)


def test_long_silences_cost_no_window_decodes_and_every_word_is_aligned():
    # The trial's 12-minute recording with 2 minutes of digital silence planned for 4.5 minutes: one
    # window decoded 6 s of silence against 196 words for 189 s of CPU, and the silence went into a
    # blind piece of 131 s. Here: silence at the start, in the middle, and quiet noise at the end.
    samples, sentences, spans = recording(60, seed=6)
    middle = int((spans[len(spans) // 2 - 1][1] + spans[len(spans) // 2][0]) / 2 * RATE)
    hiss = (np.random.default_rng(2).standard_normal(30 * RATE) * 10).astype(np.int16)  # about -70 dBFS
    audio = np.concatenate([np.zeros(30 * RATE, np.int16), samples[:middle], np.zeros(50 * RATE, np.int16),
                            samples[middle:], hiss])
    words = words_of(" ".join(sentences))
    aligner = CountingAligner()
    plan = aligner.plan(audio, words, PIECE)
    silences = [(0, 30 * RATE), (30 * RATE + middle, 80 * RATE + middle), (len(audio) - 30 * RATE, len(audio))]
    wordless = [(p.start, p.end) for p in plan.pieces if p.first == p.last]
    assert len(wordless) == 3
    for (start, end), (silence_start, silence_end) in zip(wordless, silences):
        assert start <= silence_start + RATE and end >= silence_end - RATE  # but for the pause's edges
    assert all(p.anchored and p.end - p.start <= PIECE * RATE for p in plan.pieces if p.first < p.last)
    assert aligner.windows and all(quiet < 0.5 for _, quiet in aligner.windows)
    assert len(aligner.windows) <= len(plan.pieces) + 2
    alignment = aligner.align(audio, words, phones=False, piece_seconds=PIECE)
    # Every word in place but for a short word or two that a piece's word pass may drop (two "the" here).
    assert len(alignment.not_found) <= 0.02 * len(words) and not any(PLACED.fullmatch(w) for w in alignment.warnings)
    assert len(alignment.words) == len(words) - len(alignment.not_found)


def test_pieces_and_progress_come_as_the_cuts_are_found(speech):
    # Before, the plan was a list made at the end, and progress moved only when a piece was decided,
    # after the windows of every range above it: a long recording's pieces waited for all of its cuts.
    samples, sentences, _ = speech
    aligner, events = CountingAligner(), []
    plan = aligner.plan(samples, words_of(" ".join(sentences)), PIECE,
                        progress=lambda fraction: events.append(("progress", len(aligner.windows), fraction)),
                        each=lambda number, piece, gain: events.append(("piece", len(aligner.windows), number)))
    pieces = [e for e in events if e[0] == "piece"]
    assert [number for _, _, number in pieces] == list(range(len(plan.pieces))) and len(pieces) >= 5
    assert pieces[0][1] <= 2 < len(aligner.windows)  # the first after a window or two, long before the last
    shares = [share for kind, _, share in events if kind == "progress"]
    assert shares == sorted(shares) and len(shares) == len(pieces) and shares[-1] == 1.0
    assert all(after[1] - before[1] <= 2 for before, after in zip(pieces, pieces[1:]))  # steady


def test_a_wholly_wrong_transcript_fails_after_a_few_windows():
    # Before, every range tried about 16 windows before it was given up, and the file failed only
    # after its pieces were aligned.
    samples, _, _ = recording(120, seed=8)
    austen = " ".join((DATA / f"{stem}.txt").read_text() for stem in SAMPLES[:3]).split()
    words = words_of(" ".join(austen * 8)[: 2000])
    aligner = CountingAligner()
    with pytest.raises(AlignmentError) as error:
        aligner.plan(samples, words, PIECE)
    assert str(error.value) == (
        "the transcript does not match the recording: its words cannot be found in the audio; "
        "is it the right transcript, and does the recording contain this speech?")
    assert len(aligner.windows) <= 8  # six near the start, then two elsewhere to be sure


def test_a_few_words_on_a_long_stretch_make_pieces_of_bounded_length(aligner):
    # A transcript of one sentence for a recording that goes on long after it (silence, music, a
    # transcript that stops early): one piece of the whole length made the phone pass's memory and
    # time grow with the square of it. Pieces now stay at most BLIND_FACTOR pieces long.
    from clamservices.longaudio import BLIND_FACTOR

    samples, sentences, _ = recording(10, seed=4)
    noise = (np.random.default_rng(1).standard_normal(RATE * 100) * 30).astype(np.int16)
    plan = aligner.plan(np.concatenate([samples, noise]), words_of(sentences[0]), PIECE)
    assert len(plan.pieces) > 1
    # A stretch without speech may be one piece without words: aligning it costs nothing.
    assert all(p.end - p.start <= BLIND_FACTOR * PIECE * RATE for p in plan.pieces if p.last > p.first)
    assert plan.pieces[0].start == 0 and all(p.start % (RATE // 100) == 0 for p in plan.pieces)  # whole frames


def test_the_pool_stops_its_idle_processes_at_once_and_they_end_with_a_killed_job(tmp_path):
    import subprocess
    import sys

    from clamservices import pool

    # Closing: idle processes are told to stop (before, each was waited for 5 s and then killed).
    workers = pool.Pool(2)
    for tag in ("a", "b"):
        workers.submit(tag, Aligner(), "is_known", "hello")
    done = []
    while len(done) < 2:
        done += workers.results(30)
        workers.dispatch()
    processes = [w.process for w in workers.idle]
    workers.close()
    assert [p.exitcode for p in processes] == [0, 0]

    # A job killed outright (SIGKILL, out of memory): its processes do not live on.
    script = (
        "import sys, time\n"
        "from clamservices import pool\n"
        "from clamservices.aligner import Aligner\n"
        "workers = pool.Pool(2)\n"
        "for tag in 'ab':\n"
        "    workers.submit(tag, Aligner(), 'is_known', 'hello')\n"
        "done = []\n"
        "while len(done) < 2:\n"
        "    done += workers.results(30)\n"
        "    workers.dispatch()\n"
        "print(' '.join(str(pid) for pid in workers.pids()), flush=True)\n"
        "time.sleep(60)\n"
    )
    job = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        pids = [int(pid) for pid in job.stdout.readline().split()]
        assert len(pids) == 2
        job.kill()
        job.wait(10)
        gone, alive = psutil.wait_procs([psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)], timeout=10)
        assert alive == []
    finally:
        job.kill()


class _StatusJob:
    """A stand-in for the CLAM job (only its report method is used): the real one writes CLAM's status file."""

    completion = 0

    def __init__(self):
        self.lines = []

    def report(self, message, completion=None):
        self.lines.append(message)


def _progress(job, minutes_by_name):
    from clamservices.fa_job import _Progress

    progress = _Progress(job, [])
    progress.seconds = {name: 60.0 * m for name, m in minutes_by_name.items()}
    progress.total, progress.share = sum(progress.seconds.values()), dict.fromkeys(progress.seconds, 0.0)
    progress.count = len(minutes_by_name)
    return progress


def test_the_progress_line_names_the_files_aligned_at_once_and_counts_a_file_done_when_it_is():
    job = _StatusJob()
    progress = _progress(job, {"a.wav": 60, "b.wav": 20, "c.wav": 10, "d.wav": 10})
    progress.update("a.wav", "a.wav", 0.4)
    progress.update("b.wav", "b.wav", 0.1)
    progress.finish("c.wav")
    progress.finish("c.wav")  # the job's bookkeeping says so again after writing its TextGrid
    progress.finish("a.wav")
    progress.update("a.wav", "a.wav", 0.5)  # late news of a file done is no news
    progress.finish("b.wav")
    assert job.lines == ["Aligning a.wav: 40 % (24 of 60 min); 0 of 4 files done",
                         "Aligning 2 files: a.wav 40 %, b.wav 10 % (26 of 80 min); 0 of 4 files done",
                         "Aligning 2 files: a.wav 40 %, b.wav 10 % (26 of 80 min); 1 of 4 files done",
                         "Aligning b.wav: 10 % (2 of 20 min); 2 of 4 files done",
                         "Aligning: 3 of 4 files done"]


def test_the_progress_line_of_a_file_all_aligned_says_all_its_minutes():
    job = _StatusJob()
    progress = _progress(job, {"talk.wav": 2.51})
    progress.update("talk.wav", "talk.wav", 0.99)
    progress.update("talk.wav", "talk.wav", 1.0)
    assert job.lines == ["Aligning talk.wav: 99 % (2 of 3 min); 0 of 1 files done",
                         "Aligning talk.wav: 100 % (3 of 3 min); 0 of 1 files done"]


def test_the_progress_line_stays_short_with_500_files_of_long_names():
    job = _StatusJob()
    names = [f"{'interview-with-a-very-long-name-' * 4}{n:03}.wav" for n in range(500)]
    progress = _progress(job, dict.fromkeys(names, 1))
    for name in names:
        progress.update(name, name, 0.5)
    line = job.lines[-1]
    assert line.startswith("Aligning 500 files: interview-with-…ong-name-000.wav 50 %, interview-with-…ong-name-001.wav 50 %, ")
    assert line.endswith(" and 497 more (250 of 500 min); 0 of 500 files done")
    assert max(map(len, job.lines)) <= 200


def test_a_job_of_two_recordings_names_both_and_says_each_one_done_as_it_is(fa_service, tmp_path):
    files = [f for pair in _two_recordings(tmp_path) for f in pair]
    result = run_job(fa_service, files)
    assert not result.failed, result.outputs.get("error.log")
    log = result.text("alignment.log").splitlines()
    assert re.fullmatch(r"Aligning 2 files: first\.wav 0 %, second\.wav 0 % \(0 of \d+ s\); 0 of 2 files done",
                        log[2]), log
    done = [line for line in log if line.endswith("1 of 2 files done")]
    assert done and re.fullmatch(r"Aligning (first|second)\.wav: 0 % \(0 of \d+ s\); 1 of 2 files done", done[0]), log
    assert log.index("Aligning: 2 of 2 files done") < log.index("Aligned 2 of 2 recordings"), log


def test_a_note_of_what_is_being_done_is_written_at_most_every_few_seconds_but_a_new_share_at_once(monkeypatch):
    # Each report appends a line to CLAM's status file: a search that notes every window must not write
    # a line for each; a new share or count is news at once, and carries the latest note.
    from clamservices import fa_job

    job = _StatusJob()
    progress = _progress(job, {"a.wav": 60})
    monkeypatch.setattr(fa_job, "NOTE_SECONDS", 3600.0)
    progress.update("a.wav", "a.wav", 0.1)
    progress.note("a.wav", "a.wav", "searching 12:30–15:00 (window 1 of 4)")
    progress.note("a.wav", "a.wav", "searching 12:30–15:00 (window 2 of 4)")
    progress.update("a.wav", "a.wav", 0.2)
    monkeypatch.setattr(fa_job, "NOTE_SECONDS", 0.0)
    progress.note("a.wav", "a.wav", "searching 12:30–15:00 (window 3 of 4)")
    progress.note("a.wav", "a.wav", "searching 12:30–15:00 (window 3 of 4)")  # the same line: not again
    progress.note("a.wav", "a.wav", None)
    progress.finish("a.wav")
    assert job.lines == ["Aligning a.wav: 10 % (6 of 60 min); 0 of 1 files done",
                         "Aligning a.wav: 20 % (12 of 60 min), searching 12:30–15:00 (window 2 of 4); 0 of 1 files done",
                         "Aligning a.wav: 20 % (12 of 60 min), searching 12:30–15:00 (window 3 of 4); 0 of 1 files done",
                         "Aligning a.wav: 20 % (12 of 60 min); 0 of 1 files done",
                         "Aligning: 1 of 1 files done"]


def test_the_progress_line_rounds_its_share_and_its_minutes_alike():
    # A stand-in for the CLAM job (only its report method is used): the real one writes CLAM's status file.
    from clamservices.fa_job import _Progress

    class Job:
        completion = 0
        lines = []

        def report(self, message, completion=None):
            self.lines.append(message)

    job = Job()
    progress = _Progress(job, [])
    progress.seconds, progress.total, progress.share, progress.count = {"a": 3600.0}, 3600.0, {"a": 0.0}, 1
    for share in (0.009, 0.125):
        progress.update("a", "a.wav", share)
    assert job.lines == ["Aligning a.wav: 0 % (0 of 60 min); 0 of 1 files done",
                         "Aligning a.wav: 12 % (7 of 60 min); 0 of 1 files done"]


def test_a_long_recording_whose_transcript_adds_a_passage_shows_its_search_going_on_and_never_going_back(fa_service,
                                                                                                      tmp_path):
    # A passage added to the transcript: the pieces cannot place it, and the repair searches for it (budgets
    # of decodes, about 15 s here); before, the status stood on "Aligning: 1 of 1 files done" at 99 % all along,
    # which on an hour's recording lasted minutes and was taken for a hang.
    import soundfile
    from clam.common.status import DONE

    from tests.long_speech import sentences

    samples, texts, _ = recording(150, seed=7)
    at = len(texts) // 2
    soundfile.write(tmp_path / "interview.wav", samples, RATE)
    (tmp_path / "interview.txt").write_text(" ".join(texts[:at] + sentences(60, seed=1234)[-8:] + texts[at:]))
    seen = []

    def watch(data):
        seen.append((data.status, data.statusmessage, int(data.completion)))

    result = run_job(fa_service, [(tmp_path / "interview.wav", "audio"), (tmp_path / "interview.txt", "transcript")],
                     timeout=600, watch=watch)
    assert not result.failed, result.outputs.get("error.log")
    report = json.loads(result.text("report.json"))["recordings"][0]
    assert report["status"] == "warnings" and any("could not be placed" in w for w in report["warnings"]), report
    completions = [completion for _, _, completion in seen]
    assert completions == sorted(completions), seen
    assert all(completion < 100 for status, _, completion in seen if status != DONE), seen
    assert seen[-1][2] == 100
    # What the repair is doing, as it goes: several different lines, each naming the words and where.
    repairing = {message for _, message, _ in seen if "placing words" in message}
    assert len(repairing) >= 2, seen
    assert all(re.fullmatch(r"Aligning interview\.wav: \d+ % \(\d+ of 3 min\), placing words \d+–\d+ again between "
                            r"\d:\d\d and \d:\d\d, where they did not fit \(stretch \d+ of \d+, search \d+\); "
                            r"0 of 1 files done", message) for message in repairing), repairing
    # The share moves on while it does: the repair has a share of the progress of its own.
    assert len({completion for _, message, completion in seen if "placing words" in message or
                "words placed again" in message}) >= 2, seen
