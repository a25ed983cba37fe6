"""Transcripts given as utterance tiers (a TextGrid or an EAF per recording, issue 17 item 3), in the bundled aligner.

The recordings are two espeak-ng voices taking turns at known times (tests/dialogue.py). The job runs
as the service runs it (tests/fajob.py), once with one process (the utterances one after the other in
the job's process) and once with two (utterances in groups in the pool); both must give the same files.
The last tests go through the real bundled CLAM service, as a client uploads.
"""

import json
import re
import shutil

import pytest
from praatio import textgrid

from clamservices.utterances import moment
from tests import dialogue
from tests.fajob import make_job, run_job
from tests.helpers import DATA
from tests.messy_corpus import tools_missing
from tests.utterance_files import textgrid as textgrid_bytes

pytestmark = pytest.mark.skipif(bool(tools_missing()), reason="needs espeak-ng and sox (bin/ensure-system-packages)")

ONSET_TOLERANCE = 0.1  # seconds between an utterance's known speech onset and its first word's start
OTHER_TEXT = "purple elephants dance under the bright moon"  # spoken nowhere in the recording


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """Input files of one job: recordings with tiered transcripts, good and bad, and what is known of them."""
    folder = tmp_path_factory.mktemp("dialogue")
    turns = dialogue.dialogue(folder / "talk.wav")
    duration = dialogue.duration_of(folder / "talk.wav")
    # An empty interval and a transcribed noise on the tiers: silence and an event, not words.
    tiers = dialogue.tiers_of(turns, extra=[("speaker A", 0.0, 0.3, "<noise>"), ("speaker B", 0.0, 0.5, "")])
    files = [folder / "talk.wav", dialogue.write_textgrid(folder / "talk.TextGrid", tiers, duration)]

    shutil.copy(folder / "talk.wav", folder / "elan.wav")
    files += [folder / "elan.wav", dialogue.write_eaf(folder / "elan.eaf", tiers, folder / "elan.wav")]

    # Speaker A's second utterance transcribed with other words, and an utterance after the recording's end.
    troubled = {tier: list(spans) for tier, spans in tiers.items()}
    start, end, _ = troubled["speaker A"][2]
    troubled["speaker A"][2] = (start, end, OTHER_TEXT)
    troubled["speaker B"].append((duration + 1.0, duration + 3.0, "ten of clubs"))
    shutil.copy(folder / "talk.wav", folder / "troubled.wav")
    grid_end = duration + 3.0
    files += [folder / "troubled.wav", dialogue.write_textgrid(folder / "troubled.TextGrid", troubled, grid_end)]

    # Its only utterance is not spoken in it.
    shutil.copy(DATA / "cards-001.wav", folder / "lonely.wav")
    lonely = {"speaker A": [(0.0, dialogue.duration_of(DATA / "cards-001.wav"), OTHER_TEXT)]}
    files += [folder / "lonely.wav",
              dialogue.write_textgrid(folder / "lonely.TextGrid", lonely, dialogue.duration_of(folder / "lonely.wav"))]

    # A word no dictionary knows, on speaker B's tier.
    unknown = {tier: list(spans) for tier, spans in tiers.items()}
    start, end, text = unknown["speaker B"][-1]
    unknown["speaker B"][-1] = (start, end, text.replace("baker", "zorblatt"))
    shutil.copy(folder / "talk.wav", folder / "oov.wav")
    files += [folder / "oov.wav", dialogue.write_textgrid(folder / "oov.TextGrid", unknown, duration)]

    # A TextGrid cut off in the middle of a tier.
    shutil.copy(folder / "talk.wav", folder / "damaged.wav")
    (folder / "damaged.TextGrid").write_bytes((folder / "talk.TextGrid").read_bytes()[:700])
    files += [folder / "damaged.wav", folder / "damaged.TextGrid"]

    # Two transcripts of one recording.
    for name in ("dup.wav", "dup.txt"):
        shutil.copy(DATA / name.replace("dup", "cards-001"), folder / name)
    cards = {"speaker A": [(0.0, dialogue.duration_of(DATA / "cards-001.wav"), "ten of clubs")]}
    files += [folder / "dup.wav", folder / "dup.txt",
              dialogue.write_textgrid(folder / "dup.TextGrid", cards, dialogue.duration_of(DATA / "cards-001.wav"))]

    # A recording without a transcript.
    shutil.copy(folder / "talk.wav", folder / "lone.wav")
    files.append(folder / "lone.wav")

    # Speaker A's utterances on one tier, one of them inside another.
    nested = {"speaker A": [(0.0, 3.0, tiers["speaker A"][1][2]), (1.0, 2.0, "ten of clubs")]}
    shutil.copy(folder / "talk.wav", folder / "nested.wav")
    files += [folder / "nested.wav", folder / "nested.TextGrid"]
    (folder / "nested.TextGrid").write_bytes(textgrid_bytes(nested, xmax=duration))

    # Five tiers each of one utterance over the whole recording: aligning them would align it five times over.
    whole = " ".join(t.text for t in turns)
    crowded = {f"speaker {n}": [(0.0, duration, whole)] for n in range(5)}
    shutil.copy(folder / "talk.wav", folder / "crowded.wav")
    files += [folder / "crowded.wav", dialogue.write_textgrid(folder / "crowded.TextGrid", crowded, duration)]

    # A part Praat extracted from 2:00 on with "preserve times", and the WAV saved from it (which starts at 0).
    extracted = {name: [(start + 120, end + 120, label) for start, end, label in spans]
                 for name, spans in tiers.items()}
    grid = textgrid_bytes(extracted, xmax=duration + 120).replace(b"xmin = 0\n", b"xmin = 120\n")
    shutil.copy(folder / "talk.wav", folder / "extracted.wav")
    files += [folder / "extracted.wav", folder / "extracted.TextGrid"]
    (folder / "extracted.TextGrid").write_bytes(grid)
    return {"files": files, "turns": turns, "duration": duration, "tiers": tiers, "troubled": troubled}


@pytest.fixture(scope="module")
def jobs(material, tmp_path_factory):
    """{processes: the job's output folder} of the same job run in turn (1) and in the pool (2)."""
    outputs = {}
    for processes in ("1", "2"):
        folder = make_job(tmp_path_factory.mktemp(f"job{processes}"), material["files"])
        result = run_job(folder, env={"CLAM_SERVICES_ALIGN_PROCESSES": processes})
        assert result.returncode == 0, result.stderr
        outputs[processes] = folder / "output"
    return outputs


def entries(output):
    report = json.loads((output / "report.json").read_text(encoding="utf-8"))
    return {e["audio"] or e["transcript"]: e for e in report["recordings"]}


def grid(path):
    return textgrid.openTextgrid(str(path), includeEmptyIntervals=False)


def labelled(tier):
    return [(e.start, e.end, e.label) for e in tier.entries if e.label]


def test_in_turn_and_in_the_pool_the_job_writes_the_same_files(jobs):
    one, two = jobs["1"], jobs["2"]
    names = sorted(p.name for p in one.iterdir() if p.suffix in (".TextGrid", ".txt"))
    assert names == sorted(p.name for p in two.iterdir() if p.suffix in (".TextGrid", ".txt"))
    assert names == ["dup.TextGrid", "elan.TextGrid", "oov.txt", "talk.TextGrid", "troubled.TextGrid"]
    assert (one / "oov.txt").read_bytes() == (two / "oov.txt").read_bytes()
    for name in [n for n in names if n.endswith(".TextGrid")]:
        first, second = grid(one / name), grid(two / name)
        assert first.tierNames == second.tierNames, name
        for tier in first.tierNames:
            a, b = labelled(first.getTier(tier)), labelled(second.getTier(tier))
            if tier.endswith(" confidence"):
                # A decoder's state carries over from what its process aligned before (seen here: phone values
                # up to 0.08 apart, words' 0.013), so the values agree only closely; their intervals exactly.
                assert [(s, e) for s, e, _ in a] == [(s, e) for s, e, _ in b], (name, tier)
                assert all(abs(float(x[2]) - float(y[2])) <= 0.15 for x, y in zip(a, b)), (name, tier)
            else:
                assert a == b, (name, tier)
    assert entries(one) == entries(two)


@pytest.mark.parametrize("stem", ["talk", "elan"])
def test_each_speakers_words_fall_in_their_utterances_close_to_where_they_are_spoken(jobs, material, stem):
    entry = entries(jobs["2"])[f"{stem}.wav"]
    assert (entry["status"], entry["textgrid"], entry["warnings"]) == ("aligned", f"{stem}.TextGrid", [])
    assert entry["words"] == entry["words_aligned"] == sum(len(t.text.split()) for t in material["turns"])
    result = grid(jobs["2"] / f"{stem}.TextGrid")
    # Each input tier, then its words and phones; the confidence tiers after all of them.
    assert list(result.tierNames) == [
        "speaker A", "speaker A - words", "speaker A - phones", "speaker B", "speaker B - words", "speaker B - phones",
        "speaker A - words confidence", "speaker A - phones confidence",
        "speaker B - words confidence", "speaker B - phones confidence",
    ]
    for tier in dialogue.VOICES:
        # The input tier as it came: its labelled intervals, the noise among them; its empty interval stays empty.
        expected = [(s, e, label) for s, e, label in material["tiers"][tier] if label]
        assert [(round(s, 3), round(e, 3), label) for s, e, label in labelled(result.getTier(tier))] == expected
        words = labelled(result.getTier(f"{tier} - words"))
        turns = [t for t in material["turns"] if t.tier == tier]
        assert [w for _, _, w in words] == " ".join(t.text for t in turns).split()  # no word "noise"
        for turn in turns:
            start, end = turn.interval
            inside = [w for w in words if start <= w[0] and w[1] <= end]
            assert [w for _, _, w in inside] == turn.text.split(), (tier, turn)
            assert abs(inside[0][0] - turn.onset) <= ONSET_TOLERANCE, (tier, turn, inside[0])
            assert abs(inside[-1][1] - turn.offset) <= 2 * ONSET_TOLERANCE, (tier, turn, inside[-1])
        phones = labelled(result.getTier(f"{tier} - phones"))
        assert all(any(ws <= ps and pe <= we for ws, we, _ in words) for ps, pe, _ in phones)
        values = result.getTier(f"{tier} - words confidence").entries
        assert len(values) == len(words) and all(0 <= float(v.label) <= 1 for v in values)


def test_an_utterance_that_does_not_match_and_one_after_the_end_are_warnings_and_the_rest_is_aligned(jobs, material):
    entry = entries(jobs["2"])["troubled.wav"]
    assert (entry["status"], entry["textgrid"]) == ("warnings", "troubled.TextGrid")
    start, end, _ = material["troubled"]["speaker A"][2]
    mismatch = f"speaker A, {moment(start)}–{moment(end)}: "
    after = (f"speaker B, {moment(material['duration'] + 1)}–{moment(material['duration'] + 3)}: it starts after "
             f"the recording ends ({moment(material['duration'])}) (left out: its 3 words are not in the TextGrid)")
    assert after in entry["warnings"]
    [warning] = [w for w in entry["warnings"] if w.startswith(mismatch)]
    assert warning.endswith("(not aligned: its 7 words are not in the TextGrid)"), warning
    assert "the transcript does not match the recording" in warning
    spoken = sum(len(t.text.split()) for t in material["turns"])
    assert entry["words"] == spoken - 6 + 7 + 3
    assert entry["words_aligned"] == spoken - 6
    result = grid(jobs["2"] / "troubled.TextGrid")
    words = [w for _, _, w in labelled(result.getTier("speaker A - words"))]
    assert words == material["turns"][0].text.split()  # the first utterance, not a word of the second
    assert len(labelled(result.getTier("speaker B - words"))) == 12
    # The input tiers keep every interval, the one after the end clipped away with the recording's end.
    assert labelled(result.getTier("speaker A"))[-1][2] == OTHER_TEXT
    assert result.maxTimestamp == pytest.approx(material["duration"], abs=1e-3)


def test_a_recording_none_of_whose_utterances_aligns_is_not_aligned_and_says_which(jobs):
    entry = entries(jobs["2"])["lonely.wav"]
    assert (entry["status"], entry["code"], entry["textgrid"]) == ("not_aligned", "no_match", None)
    assert re.fullmatch(r"its utterance could not be aligned: speaker A, 0:00\.0–0:0\d\.\d: the transcript does not "
                        r"match the recording.*", entry["reason"]), entry["reason"]
    assert not (jobs["2"] / "lonely.TextGrid").exists()


def test_a_word_missing_from_the_dictionary_goes_to_oov_txt_for_the_g2p_step(jobs):
    entry = entries(jobs["2"])["oov.wav"]
    assert (entry["status"], entry["code"], entry["unknown_words"]) == ("not_aligned", "unknown_words", ["zorblatt"])
    assert entry["transcript"] == "oov.TextGrid"
    assert (jobs["2"] / "oov.txt").read_text(encoding="utf-8") == "zorblatt\n"
    assert not (jobs["2"] / "oov.TextGrid").exists()


def test_a_damaged_textgrid_is_its_own_outcome_with_what_to_do(jobs):
    entry = entries(jobs["2"])["damaged.wav"]
    assert (entry["status"], entry["code"]) == ("not_aligned", "unreadable_transcript")
    assert entry["reason"] == ("it cannot be read as a TextGrid (a line is missing or damaged); open it in Praat, "
                               "save it again as a text file and upload that")


def test_two_transcripts_of_one_recording_name_each_other(jobs):
    found = entries(jobs["2"])
    assert found["dup.TextGrid"]["code"] == "duplicate"
    assert found["dup.TextGrid"]["reason"] == "there is another transcript named dup (dup.txt); remove one of them"
    assert (found["dup.wav"]["transcript"], found["dup.wav"]["status"]) == ("dup.txt", "aligned")


def test_a_recording_without_a_transcript_is_told_every_kind_of_transcript_it_may_have(jobs):
    entry = entries(jobs["2"])["lone.wav"]
    assert (entry["status"], entry["code"]) == ("not_aligned", "no_transcript")
    assert entry["reason"] == "there is no transcript for this recording (add lone.txt, lone.TextGrid or lone.eaf)"


def test_utterances_overlapping_on_one_tier_are_refused_not_lost(jobs):
    entry = entries(jobs["2"])["nested.wav"]
    assert (entry["status"], entry["code"]) == ("not_aligned", "unreadable_transcript")
    assert entry["reason"] == (
        "on tier speaker A, the interval at 0:01.0–0:02.0 overlaps the one at 0:00.0–0:03.0: one tier holds one "
        "speaker's utterances one after the other; put overlapping speech on separate tiers")


def test_tiers_that_would_align_the_recording_over_and_over_are_not_aligned(jobs, material):
    entry = entries(jobs["2"])["crowded.wav"]
    assert (entry["status"], entry["code"]) == ("not_aligned", "too_long")
    duration = material["duration"]
    assert entry["reason"] == (
        f"its utterances add up to {moment(5 * duration)} of audio, more than 4 times the recording "
        f"({moment(duration)}): its tiers overlap so much that the recording would be aligned over and over; keep "
        "one tier per speaker, each utterance where that speaker speaks")
    assert not (jobs["2"] / "crowded.TextGrid").exists()


def test_a_textgrid_extracted_with_its_times_kept_says_it_starts_later_than_the_recording(jobs, material):
    entry = entries(jobs["2"])["extracted.wav"]
    assert (entry["status"], entry["code"]) == ("not_aligned", "no_match")
    start, end, _ = material["tiers"]["speaker A"][1]
    assert entry["reason"].startswith(
        f"none of its 4 utterances could be aligned: speaker A, {moment(start + 120)}–{moment(end + 120)}: it starts "
        f"after the recording ends ({moment(material['duration'])}; the TextGrid starts at 2:00.0, not at 0: "
        "extract it again in Praat without “preserve times”, or shift its times (Modify times) to start at 0)"), \
        entry["reason"]


# --- through the real bundled service ---------------------------------------------------------------------

def test_a_utf16_textgrid_and_an_eaf_upload_and_align_through_the_service(fa_service, tmp_path):
    from tests.clamservers import run_job as run_service_job

    seconds = dialogue.duration_of(DATA / "cards-001.wav")
    for stem in ("praat", "elan"):
        shutil.copy(DATA / "cards-001.wav", tmp_path / f"{stem}.wav")
    # As Praat saves a TextGrid with non-ASCII text: UTF-16 with a byte order mark.
    tiers = {"Sprecher Ä": [(0.0, seconds, "Ten of clubs [Lärm]")]}
    praat = dialogue.write_textgrid(tmp_path / "praat.TextGrid", tiers, seconds, encoding="utf-16")
    assert praat.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    elan = dialogue.write_eaf(tmp_path / "elan.eaf", tiers, tmp_path / "elan.wav")
    files = [(tmp_path / "praat.wav", "audio"), (praat, "transcript_textgrid"),
             (tmp_path / "elan.wav", "audio"), (elan, "transcript_eaf")]
    result = run_service_job(fa_service, files)
    assert not result.failed, result.outputs.get("error.log")
    for stem in ("praat", "elan"):
        path = tmp_path / f"{stem}.TextGrid"
        path.write_bytes(result.outputs[f"{stem}.TextGrid"])
        aligned = grid(path)
        assert list(aligned.tierNames)[:3] == ["Sprecher Ä", "Sprecher Ä - words", "Sprecher Ä - phones"]
        assert [label for _, _, label in labelled(aligned.getTier("Sprecher Ä"))] == ["Ten of clubs [Lärm]"]
        assert [label for _, _, label in labelled(aligned.getTier("Sprecher Ä - words"))] == ["Ten", "of", "clubs"]
    assert "Aligned 2 of 2 recordings" in result.data.statusmessage


def test_an_utterances_warnings_give_the_recordings_times_not_the_utterances():
    # Aligned on its own samples, an utterance 60 s into a recording must not send the researcher to 0:01.
    from clamservices.aligner import Aligner
    from clamservices.audio import load_audio
    from clamservices.transcripts import words_of

    samples, _ = load_audio(DATA / "austen-0870.wav")
    words = words_of((DATA / "austen-0870.txt").read_text())
    extra = words[:5] + words_of("elephant purple monday") + words[5:]
    alignment = Aligner().align(samples, extra, clock=lambda seconds: moment(seconds + 60))
    warning = next(w for w in alignment.warnings if "not found" in w)
    shown = re.search(r"“elephant” \(word 6, at 1:(\d\d\.\d)\)", warning)
    assert shown, warning
    assert abs(60 + float(shown[1]) - (alignment.words[4].end + 60)) <= 0.1  # where the word before them ends
    assert alignment.words[0].start < 5  # the intervals stay in the samples' time


def test_an_utterance_longer_than_a_piece_is_planned_in_pieces_and_keeps_its_times(tmp_path):
    # 78 s in one interval: align plans it in pieces of at most a minute, reading it from the recording (a Span).
    turns = [("speaker A", text) for _, text in dialogue.TURNS] * 8
    placed = dialogue.dialogue(tmp_path / "long.wav", turns=turns)
    seconds = dialogue.duration_of(tmp_path / "long.wav")
    tiers = {"speaker A": [(0.5, placed[-1].interval[1], " ".join(t.text for t in placed))]}
    files = [tmp_path / "long.wav", dialogue.write_textgrid(tmp_path / "long.TextGrid", tiers, seconds)]
    folder = make_job(tmp_path / "job", files)
    result = run_job(folder, env={"CLAM_SERVICES_ALIGN_PROCESSES": "1"})
    assert result.returncode == 0, result.stderr
    entry = entries(folder / "output")["long.wav"]
    assert placed[-1].interval[1] - 0.5 > 60
    assert (entry["status"], entry["words_aligned"]) == ("aligned", sum(len(t.text.split()) for t in placed))
    words = labelled(grid(folder / "output" / "long.TextGrid").getTier("speaker A - words"))
    for turn in placed:
        inside = [w for w in words if turn.onset - 0.5 <= w[0] and w[1] <= turn.offset + 0.5]
        assert abs(inside[0][0] - turn.onset) <= ONSET_TOLERANCE, (turn, inside[:1])
