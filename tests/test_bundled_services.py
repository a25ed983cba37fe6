"""The bundled CLAM services, run for real on 127.0.0.1 and driven with the `clam` client."""

import json
import shutil
import subprocess

import clam.common.data
import numpy as np
import pytest
import soundfile
import soxr
from praatio import textgrid

from clamservices.arpabet import ARPABET_PHONES
from clamservices.transcripts import words_of
from tests.clamservers import run_job
from tests.helpers import DATA

SAMPLES = ["austen-0870", "austen-0880", "austen-0890", "cards-001", "cards-002", "cards-003"]


def pair(stem, folder=DATA):
    return [(folder / f"{stem}.wav", "audio"), (folder / f"{stem}.txt", "transcript")]


def read_grid(tmp_path, result, name):
    path = tmp_path / name
    path.write_bytes(result.outputs[name])
    return textgrid.openTextgrid(str(path), includeEmptyIntervals=True)


def duration_of(path):
    info = soundfile.info(str(path))
    return info.frames / info.samplerate


def assert_well_formed(grid, transcript_words, duration, phones=True):
    words = grid.getTier("words").entries
    assert [w.label.lower() for w in words if w.label] == [w.lower() for w in transcript_words]
    assert words[0].start == 0
    assert words[-1].end == pytest.approx(duration, abs=1e-3)
    for before, after in zip(words, words[1:]):
        assert before.end == after.start, "word intervals must be contiguous"
        assert before.start < before.end
    if not phones:
        assert list(grid.tierNames) == ["words"]
        return
    phone_entries = grid.getTier("phones").entries
    assert phone_entries[0].start == 0 and phone_entries[-1].end == pytest.approx(duration, abs=1e-3)
    spoken = [w for w in words if w.label]
    for phone in (p for p in phone_entries if p.label):
        assert phone.label in ARPABET_PHONES
        assert any(w.start <= phone.start and phone.end <= w.end for w in spoken), phone
    for word in spoken:
        assert any(p.label and word.start <= p.start and p.end <= word.end for p in phone_entries), word
    # Each word's and phone's confidence (issue 17) on the same intervals, a number 0-1 where there is a label.
    assert list(grid.tierNames) == ["words", "phones", "words confidence", "phones confidence"]
    for name, entries in (("words confidence", words), ("phones confidence", phone_entries)):
        values = grid.getTier(name).entries
        assert [(v.start, v.end) for v in values] == [(e.start, e.end) for e in entries]
        assert all(0 <= float(v.label) <= 1 for v, e in zip(values, entries) if e.label)
        assert not any(v.label for v, e in zip(values, entries) if not e.label)


def test_fa_aligns_every_sample_into_words_and_phones(fa_service, tmp_path):
    files = [f for stem in SAMPLES for f in pair(stem)]
    result = run_job(fa_service, files)
    assert not result.failed, result.outputs.get("error.log")
    assert "oov.txt" not in result.outputs
    for stem in SAMPLES:
        grid = read_grid(tmp_path, result, f"{stem}.TextGrid")
        transcript = [w.shown for w in words_of((DATA / f"{stem}.txt").read_text())]
        assert_well_formed(grid, transcript, duration_of(DATA / f"{stem}.wav"))
    assert "Aligned 6 of 6 recordings" in result.text("alignment.log")
    # CLAM's own debug print of each job's input files is not in the service's log (`make run` shows it).
    assert "InputTemplate object at" not in fa_service.log_path.read_text()


def test_oov_word_goes_through_g2p_and_then_aligns(fa_service, g2p_service, tmp_path):
    first = run_job(fa_service, pair("oov-equestria"))
    assert not first.failed
    assert first.text("oov.txt") == "equestria\n"
    assert "oov-equestria.TextGrid" not in first.outputs
    assert "1 has words without a pronunciation" in first.data.statusmessage

    wordlist = tmp_path / "oov.txt"
    wordlist.write_bytes(first.outputs["oov.txt"])
    g2p = run_job(g2p_service, [(wordlist, "wordlist")])
    assert not g2p.failed
    line = g2p.text("g2p.dict").strip()
    word, *phones = line.split()
    assert word == "equestria" and phones and set(phones) <= ARPABET_PHONES

    dictionary = tmp_path / "extra.dict"
    dictionary.write_bytes(g2p.outputs["g2p.dict"])
    second = run_job(fa_service, pair("oov-equestria") + [(dictionary, "dictionary")])
    assert not second.failed, second.outputs.get("error.log")
    grid = read_grid(tmp_path, second, "oov-equestria.TextGrid")
    assert_well_formed(grid, (DATA / "oov-equestria.txt").read_text().split(), duration_of(DATA / "oov-equestria.wav"))


def test_accented_loanwords_and_possessives_align_as_written_without_going_to_review(fa_service, tmp_path):
    # Neither "café" nor "keeper's" is in the CMU dictionary; "cafe" and "keeper" are.
    sentence = "The keeper's café opened early, and the Naïve Rôle was played at the Keeper’s Café."
    speech = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", sentence], check=True, capture_output=True)
    # -D: no dither (sox's is random): the same audio every run.
    subprocess.run(["sox", "-D", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16", str(tmp_path / "cafe.wav")],
                   input=speech.stdout, check=True, capture_output=True)
    (tmp_path / "cafe.txt").write_text(sentence + "\n", encoding="utf-8")
    result = run_job(fa_service, pair("cafe", tmp_path))
    assert not result.failed, result.outputs.get("error.log")
    assert "oov.txt" not in result.outputs
    report = json.loads(result.outputs["report.json"])
    assert report["recordings"][0]["status"] in ("aligned", "warnings"), report
    assert report["recordings"][0].get("unknown_words", []) == []
    grid = read_grid(tmp_path, result, "cafe.TextGrid")
    written = [w.shown for w in words_of(sentence)]
    assert "keeper's" in written and "Keeper’s" in written and "café" in written and "Café" in written
    assert_well_formed(grid, written, duration_of(tmp_path / "cafe.wav"))
    assert [w.label for w in grid.getTier("words").entries if w.label] == written


def test_transcript_case_punctuation_bom_and_crlf_do_not_matter(fa_service, tmp_path):
    shutil.copy(DATA / "cards-001.wav", tmp_path / "cards.wav")
    (tmp_path / "cards.txt").write_bytes("\ufeff  “Ten, of   CLUBS!”\r\n".encode("utf-8"))
    result = run_job(fa_service, pair("cards", tmp_path))
    assert not result.failed, result.outputs.get("error.log")
    grid = read_grid(tmp_path, result, "cards.TextGrid")
    assert [w.label for w in grid.getTier("words").entries if w.label] == ["Ten", "of", "CLUBS"]


def test_flac_stereo_at_44_1_khz_is_resampled_and_aligned(fa_service, tmp_path):
    samples, rate = soundfile.read(DATA / "cards-002.wav")
    stereo = np.stack([soxr.resample(samples, rate, 44100)] * 2, axis=1)
    soundfile.write(tmp_path / "cards.flac", stereo, 44100)
    shutil.copy(DATA / "cards-002.txt", tmp_path / "cards.txt")
    result = run_job(fa_service, [(tmp_path / "cards.flac", "audio_flac"), (tmp_path / "cards.txt", "transcript")])
    assert not result.failed, result.outputs.get("error.log")
    grid = read_grid(tmp_path, result, "cards.TextGrid")
    assert_well_formed(grid, ["four", "queen", "of", "clubs"], duration_of(tmp_path / "cards.flac"))


def test_parameters_change_the_output(fa_service, tmp_path):
    result = run_job(
        fa_service,
        pair("cards-001"),
        {"phone_tier": False, "textgrid_format": "short", "silence_label": "sil"},
    )
    assert not result.failed, result.outputs.get("error.log")
    text = result.text("cards-001.TextGrid")
    assert "intervals [1]:" not in text  # the short format has no labels
    grid = read_grid(tmp_path, result, "cards-001.TextGrid")
    assert list(grid.tierNames) == ["words"]
    labels = [w.label for w in grid.getTier("words").entries]
    assert "sil" in labels and "" not in labels


def _wav_with_no_samples(path):
    soundfile.write(path, np.zeros(0, dtype=np.int16), 16000)


@pytest.mark.parametrize(
    "case, code, expected",
    [
        ("audio_without_transcript", "no_transcript", "there is no transcript for this recording (add cards-003.txt, "
         "cards-003.TextGrid or cards-003.eaf)"),
        ("transcript_without_audio", "no_audio", "there is no recording for this transcript (add cards-003.wav)"),
        ("html_as_wav", "unreadable_audio", "it cannot be read as audio"),
        ("empty_audio", "too_short", "it contains no audio (0 samples)"),
        ("empty_transcript", "empty_transcript", "the transcript has no words"),
        ("latin1_transcript", "unreadable_transcript", "it is not UTF-8 text"),
    ],
)
def test_a_bad_pair_gets_its_own_outcome_and_the_good_pair_its_textgrid(fa_service, tmp_path, case, code, expected):
    # Every bad case travels with a good pair (cards-001) in one job: the job succeeds,
    # the good pair is aligned, the bad one has its reason in report.json.
    for name in ("cards-003.wav", "cards-003.txt"):
        shutil.copy(DATA / name, tmp_path / name)
    bad = pair("cards-003", tmp_path)
    if case == "audio_without_transcript":
        bad = [bad[0]]
    elif case == "transcript_without_audio":
        bad = [bad[1]]
    elif case == "html_as_wav":
        (tmp_path / "cards-003.wav").write_text("<html><body>Not found</body></html>")
    elif case == "empty_audio":
        _wav_with_no_samples(tmp_path / "cards-003.wav")
    elif case == "empty_transcript":
        (tmp_path / "cards-003.txt").write_text(" ... !\n")
    elif case == "latin1_transcript":
        (tmp_path / "cards-003.txt").write_bytes("seven of clubs café".encode("latin-1"))

    result = run_job(fa_service, pair("cards-001") + bad)
    assert not result.failed, result.outputs.get("error.log")
    report = json.loads(result.outputs["report.json"])
    entries = {e["audio"] or e["transcript"]: e for e in report["recordings"]}
    good = entries.pop("cards-001.wav")
    assert (good["status"], good["textgrid"]) == ("aligned", "cards-001.TextGrid")
    assert "cards-001.TextGrid" in result.outputs
    [entry] = entries.values()
    assert (entry["status"], entry["code"], entry["textgrid"]) == ("not_aligned", code, None)
    assert expected in entry["reason"]
    assert "cards-003.TextGrid" not in result.outputs
    assert "Aligned 1 of 2 recordings; 1 could not be aligned" in result.data.statusmessage


def test_a_dictionary_line_in_the_wrong_phone_set_is_skipped_with_a_warning(fa_service, tmp_path):
    (tmp_path / "extra.dict").write_text("ten T ɛ N\nclubs K L AH B Z\n")
    result = run_job(fa_service, pair("cards-001") + [(tmp_path / "extra.dict", "dictionary")])
    assert not result.failed, result.outputs.get("error.log")
    report = json.loads(result.outputs["report.json"])
    assert any("line 1: unknown phone 'ɛ'" in w for w in report["warnings"])
    assert report["recordings"][0]["status"] == "aligned"


def test_wrong_password_is_refused(fa_service, g2p_service):
    for service in (fa_service, g2p_service):
        with pytest.raises(clam.common.data.AuthRequired):
            service.client(password="wrong").index()
        with pytest.raises(clam.common.data.AuthRequired):
            service.client(user="intruder").create("nope")


def test_g2p_gives_variants_and_dutch(g2p_service, tmp_path):
    wordlist = tmp_path / "words.txt"
    wordlist.write_text("read\n\nTomato\nread\n")
    result = run_job(g2p_service, [(wordlist, "wordlist")], {"variants": 2})
    assert not result.failed
    assert result.text("g2p.dict").splitlines() == [
        "read R IY D",
        "read(2) R EH D",
        "tomato T AH M EY T OW",
        "tomato(2) T AH M AA T OW",
    ]
    wordlist.write_text("fiets\n")
    result = run_job(g2p_service, [(wordlist, "wordlist")], {"language": "nl"})
    assert result.text("g2p.dict") == "fiets f i t s\n"


def test_g2p_refuses_an_empty_word_list(g2p_service, tmp_path):
    wordlist = tmp_path / "words.txt"
    wordlist.write_text("\n  \n")
    result = run_job(g2p_service, [(wordlist, "wordlist")])
    assert result.failed
    assert "the word list is empty" in result.text("error.log")


def test_every_recording_with_a_number_says_how_it_was_read(fa_service, tmp_path):
    for stem in ("first", "second"):
        shutil.copy(DATA / "cards-003.wav", tmp_path / f"{stem}.wav")
        (tmp_path / f"{stem}.txt").write_text("7 of clubs")
    result = run_job(fa_service, pair("first", tmp_path) + pair("second", tmp_path))
    assert not result.failed, result.outputs.get("error.log")
    for entry in json.loads(result.outputs["report.json"])["recordings"]:
        assert entry["status"] == "warnings" and "“7” was read as “seven”" in entry["warnings"], entry
