"""Reading recordings for the aligner a block at a time (clamservices.audio), and the raw file's life in a job."""

import json
import pickle
import tracemalloc

import numpy as np
import pytest
import soundfile
import soxr

from clamservices.aligner import AlignmentError, level_warnings, normalised, peak_of, with_noise_floor
from clamservices.audio import SAMPLE_RATE, AudioError, Recording, convert, length, load_audio
from tests.fajob import make_job, run_job
from tests.helpers import DATA

SPEECH, SPEECH_RATE = soundfile.read(DATA / "cards-001.wav", dtype="float32")


def whole_file_reading(path):
    """The samples as load_audio computed them before it streamed: the whole file in memory at once."""
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return (np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16), len(data) / rate


def write(path, rate, channels=1, subtype="PCM_16", seconds=None):
    speech = soxr.resample(SPEECH, SPEECH_RATE, rate)
    if seconds:
        speech = np.resize(speech, int(seconds * rate))
    data = np.stack([speech, -0.5 * speech], axis=1) if channels == 2 else speech
    soundfile.write(path, data, rate, subtype=subtype)
    return path


ODD_INPUTS = {
    "8 kHz.wav": dict(rate=8000),
    "44.1 kHz stereo.wav": dict(rate=44100, channels=2),
    "24-bit.wav": dict(rate=16000, subtype="PCM_24"),
    "22.05 kHz.flac": dict(rate=22050),
    "48 kHz float.wav": dict(rate=48000, subtype="FLOAT"),
}


@pytest.mark.parametrize("name", ODD_INPUTS)
def test_conversion_gives_the_samples_of_reading_the_whole_file(tmp_path, name):
    path = write(tmp_path / name, **ODD_INPUTS[name])
    expected, duration = whole_file_reading(path)
    with convert(path, tmp_path / "tmp") as recording:
        assert len(recording) == len(expected)
        assert recording.duration == duration
        # The streamed resampler gives the whole-file one's samples (tolerance: one step of rounding).
        assert np.abs(recording[:].astype(int) - expected).max() <= 1
        assert recording.peak == peak_of(expected)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_wav_with_a_truncated_data_chunk_gives_what_it_holds(tmp_path):
    whole = write(tmp_path / "whole.wav", 44100, channels=2).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2 + 1])  # the header still claims all of it; half a frame at the end
    expected, duration = whole_file_reading(cut)
    samples, seconds = load_audio(cut)
    assert 0 < len(samples) == len(expected) and seconds == duration
    assert np.abs(samples.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("content, message", [
    (b"", "cannot read it as audio (Format not recognised.)"),
    (b"<html><body>Not found</body></html>", "cannot read it as audio (Format not recognised.)"),
    ("zero samples", "it contains no audio (0 samples)"),
    ("header only", "it contains no audio (0 samples)"),
])
def test_files_without_audio_are_refused_with_a_reason_and_leave_nothing(tmp_path, content, message):
    path = tmp_path / "x.wav"
    if content == "zero samples":
        soundfile.write(path, np.zeros(0), 16000)
    elif content == "header only":
        path.write_bytes(write(tmp_path / "full.wav", 16000).read_bytes()[:44])
    else:
        path.write_bytes(content)
    with pytest.raises(AudioError) as refused:
        convert(path, tmp_path / "tmp")
    assert str(refused.value) == message  # libsndfile's reason, without the server's path of the file
    assert list((tmp_path / "tmp").iterdir()) == [] if (tmp_path / "tmp").exists() else True


def test_a_file_that_fails_halfway_leaves_no_raw_audio(tmp_path):
    whole = write(tmp_path / "whole.flac", 22050, seconds=60).read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole[: len(whole) // 2])  # libsndfile reads the first blocks, then loses sync
    with pytest.raises(AudioError, match=r"^cannot read it as audio \(Error : flac decoder lost sync\.\)$"):
        convert(cut, tmp_path / "tmp")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_too_long_recordings_are_refused_with_the_limit(tmp_path):
    path = write(tmp_path / "long.wav", 8000, seconds=90)
    with pytest.raises(AudioError, match=r"^it is 1 min 30 s long, 30 s more than the 1 minute this service aligns "
                                         r"per file$"):
        convert(path, tmp_path / "tmp", max_seconds=60)
    # Just over the limit does not read as being at it ("1 min long, 0 s more than the 1 minute").
    path = write(tmp_path / "long.wav", 8000, seconds=60.5)
    with pytest.raises(AudioError, match=r"^it is 1 min 1 s long, 1 s more than"):
        convert(path, tmp_path / "tmp", max_seconds=60)
    assert [length(s) for s in (0, 6, 60, 3600, 3600.5, 3603, 3725)] == [
        "0 s", "6 s", "1 min", "60 min", "60 min 1 s", "60 min 3 s", "62 min 5 s"]


def test_the_aligner_says_how_long_a_recording_just_over_its_limit_is_and_by_how_much(tmp_path):
    import json

    from tests.fajob import make_job, run_job

    recording = write(tmp_path / "hour.wav", 8000, seconds=62.4)  # "a minute" that is 2.4 s over, as 60:02.4 is
    (tmp_path / "hour.txt").write_text("ten of clubs\n")
    job = make_job(tmp_path / "job", [recording, tmp_path / "hour.txt"], max_minutes=1)
    assert run_job(job).returncode == 0
    [entry] = json.loads((job / "output" / "report.json").read_text(encoding="utf-8"))["recordings"]
    assert (entry["code"], entry["reason"]) == ("too_long", (
        "it is 1 min 3 s long, 3 s more than the limit of 1 minute (Longest recording): cut it into shorter "
        "recordings, or run it with a higher limit"))


def test_a_recording_reads_any_slice_like_an_array(tmp_path):
    path = write(tmp_path / "a.wav", 16000)
    expected, _ = whole_file_reading(path)
    n = len(expected)
    with convert(path, tmp_path / "tmp") as recording:
        for a, b in [(0, 0), (0, 1), (0, n), (n - 1, n), (n, n), (n - 5, n + 100), (1000, 999), (-10, None),
                     (None, 5), (5, -5), (None, None)]:
            piece = recording[a:b]
            assert piece.dtype == np.int16 and np.array_equal(piece, expected[a:b]), (a, b)
        piece[:1] = 7  # a slice is the caller's own array
        assert recording[0:1][0] == expected[0]
        with pytest.raises(TypeError, match="step-less slices"):
            recording[::2]
        with pytest.raises(TypeError):
            recording[3]
        # Another process gets the path and the statistics, not an open file or the samples.
        copy = pickle.loads(pickle.dumps(recording))
        assert len(pickle.dumps(recording)) < 1000
        assert (len(copy), copy.duration, copy.peak, copy.clipped) == (n, recording.duration, recording.peak,
                                                                       recording.clipped)
        assert np.array_equal(copy[n - 3 :], expected[n - 3 :])
        copy.close()
    assert not (tmp_path / "tmp").exists() or list((tmp_path / "tmp").iterdir()) == []


def test_conversion_holds_a_block_not_the_recording(tmp_path):
    path = write(tmp_path / "a.wav", 44100, channels=2, seconds=60)  # 21 MB as float32, read whole
    tracemalloc.start()
    try:
        with convert(path, tmp_path / "tmp") as recording:
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(recording) == 60 * SAMPLE_RATE
    assert peak < 4_000_000


def test_level_checks_and_preparation_agree_for_a_recording_and_its_samples(tmp_path):
    loud = np.clip(np.resize(SPEECH, 5 * SAMPLE_RATE) * 40, -1, 1)
    quiet = np.resize(SPEECH, 5 * SAMPLE_RATE) * 0.01
    for samples, warned in ((loud, True), (quiet, False)):
        soundfile.write(tmp_path / "a.wav", samples, SAMPLE_RATE, subtype="PCM_16")
        array, _ = load_audio(tmp_path / "a.wav")
        with convert(tmp_path / "a.wav", tmp_path / "tmp") as recording:
            assert level_warnings(recording) == level_warnings(array)
            assert bool(level_warnings(recording)) is warned
            assert np.array_equal(normalised(recording), normalised(array))
            assert np.array_equal(with_noise_floor(normalised(recording)), with_noise_floor(normalised(array)))
            # A piece prepared with the whole recording's peak gets the whole recording's gain.
            piece = normalised(recording[SAMPLE_RATE : 2 * SAMPLE_RATE], peak=peak_of(recording))
            assert np.array_equal(piece, normalised(array)[SAMPLE_RATE : 2 * SAMPLE_RATE])
    soundfile.write(tmp_path / "silent.wav", np.zeros(SAMPLE_RATE), SAMPLE_RATE)
    with convert(tmp_path / "silent.wav", tmp_path / "tmp") as recording, pytest.raises(AlignmentError, match="silent"):
        level_warnings(recording)


def test_a_job_leaves_no_raw_audio_behind_after_success_or_failure(tmp_path):
    """The bundled job in its own process, as the service runs it: one recording aligns, one is silent."""
    soundfile.write(tmp_path / "silent.wav", np.zeros(2 * 44100), 44100)
    (tmp_path / "silent.txt").write_text("ten of clubs")
    job = make_job(tmp_path / "project", [DATA / "cards-001.wav", DATA / "cards-001.txt",
                                          tmp_path / "silent.wav", tmp_path / "silent.txt"])
    finished = run_job(job)
    assert finished.returncode == 0, finished.stderr
    report = json.loads((job / "output" / "report.json").read_text())
    assert {e["audio"]: (e["status"], e["code"]) for e in report["recordings"]} == {
        "cards-001.wav": ("aligned", ""), "silent.wav": ("not_aligned", "silent")}
    assert list((job / "tmp").iterdir()) == []


def test_recording_removal_is_idempotent(tmp_path):
    with convert(write(tmp_path / "a.wav", 16000), tmp_path / "tmp") as recording:
        recording[0:10]
        recording.remove()
    recording.remove()
    assert isinstance(recording, Recording) and list((tmp_path / "tmp").iterdir()) == []


def test_the_job_dictionary_holds_the_words_the_transcripts_need_and_no_others():
    from clamservices.aligner import Aligner
    from clamservices.dictionaries import Entry
    from clamservices.fa_job import _words
    from clamservices.transcripts import words_of

    aligner = Aligner()
    assert aligner.decoder.config["lm"] is None  # alignment uses no language model
    # A user's pronunciation given before the transcripts are read is still an alternate of the dictionary's.
    assert aligner.add_entries([Entry("read", ("R", "AY", "D"))]) == []
    readings = {}
    split, unknown = _words(aligner, words_of("I read the gold-framed 1990 Zywicki report, xqzt."), readings)
    assert unknown == ["xqzt"] and readings == {"1990": "nineteen ninety"}
    expected = {
        "i": "AY", "read": "R EH D", "read(2)": "R IY D", "read(3)": "R AY D", "the": "DH AH", "the(2)": "DH IY",
        "gold": "G OW L D", "framed": "F R EY M D", "nineteen": "N AY N T IY N", "ninety": "N AY N T IY",
        "1990": "N AY N T IY N N AY N T IY", "zywicki": "Z IH W IH K IY", "report": "R IY P AO R T",
        "report(2)": "R IH P AO R T",
    }
    for name, phones in expected.items():
        assert aligner.decoder.lookup_word(name) == phones, name
    assert aligner.phones_of("read") == ["R", "EH", "D"] and aligner.is_known("zywicki")
    assert aligner.decoder.lookup_word("xqzt") is None and not aligner.is_known("xqzt")
    assert aligner.decoder.lookup_word("clubs") is None  # never asked for: not loaded
    # A decoder made later (the wide one, or a fresh one after a failed pass) gets the same words.
    assert aligner._wide_decoder().lookup_word("read(3)") == "R AY D"
    aligner.reset()
    assert aligner.decoder.lookup_word("1990") == expected["1990"]
    assert aligner.decoder.lookup_word("gold-framed") is None  # split into its known parts instead


def test_a_forked_process_does_not_keep_the_parents_raw_audio_open(tmp_path):
    # The job's worker processes are forked while it reads a recording: with the parent's descriptor,
    # a worker kept the removed raw file (115 MB an hour) on disk until it ended.
    import os

    path = write(tmp_path / "a.wav", 16000)
    recording = convert(path, tmp_path / "tmp")
    recording[0:10]
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it still holds the parent's descriptor, then leave at once
        os.write(write_end, b"open" if recording._fd is not None else b"closed")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"closed"
    assert recording._fd is not None  # the parent's own stays open
    recording.remove()
