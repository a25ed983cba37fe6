"""Results of transcripts given as utterance tiers (issue 17 item 3) on the pages and in the exports: the result
picture draws every speaker's tiers one under another and marks the low-confidence words of each speaker's words
tier; the run page's words to check name the speaker; ELAN, CSV and JSON keep each speaker's words and phones.

The result TextGrids have the layout the bundled aligner writes for them (tests/utterance_files.speaker_result:
"<speaker>", "<speaker> - words", "<speaker> - phones", then the "… confidence" tiers); the audio is a tone per
word (no aligner runs: the aligner's side is tested with the service).
"""

import csv
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from praatio import textgrid
from pympi import Elan

from pipelines import exports, outcomes
from pipelines.models import Run
from tests.factories import make_fa_pipeline, make_project
from tests.test_outcomes import entry, fa_process, finish, report
from tests.test_result_windows import long_audio
from tests.utterance_files import speaker_result, textgrid as transcript_grid
from upload.services import Upload

pytestmark = pytest.mark.django_db

DRAWN = ["speaker A", "speaker A - words", "speaker A - phones", "speaker B", "speaker B - words", "speaker B - phones"]
LOW = {"a3": 0.12, "b1": 0.3, "b6": 0.05}


def speakers_run(owner, seconds=10, low=LOW):
    """A finished run whose one recording (interview.flac, given with interview.TextGrid) has a two-speaker result."""
    project = make_project(owner, "Interview", pipeline=make_fa_pipeline(tiered=True))
    upload = Upload(project)
    upload.add(SimpleUploadedFile("interview.flac", long_audio(seconds)))
    upload.add(SimpleUploadedFile("interview.TextGrid", transcript_grid()))
    process = fa_process(project, [], {"interview.TextGrid": speaker_result(seconds, low),
                                       "report.json": report(entry("interview.flac"))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    run.refresh_from_db()
    return project, run


def page(client, name, *args, query=None):
    response = client.get(reverse(name, args=args), query or {})
    assert response.status_code == 200
    return response.content.decode()


def drawn(html):
    """[(tier name, its y)] of the picture's tiers, in order (of the first row of a window)."""
    return [(name, int(y)) for name, y in re.findall(r'<g class="tier" data-tier="([^"]+)" transform="translate\(0 (\d+)\)"',
                                                     html)]


def test_the_picture_draws_each_speakers_tiers_one_under_another_and_marks_each_speakers_words(alice_client, alice):
    project, run = speakers_run(alice)

    html = page(alice_client, "pipelines-view-result", project.pk, run.pk, "interview.TextGrid")

    assert drawn(html) == [(name, 118 + 50 * n) for n, name in enumerate(DRAWN)]
    assert 'height="420" viewBox="0 0 1000 420"' in html  # below the last tier, nothing is cut off
    marked = re.findall(r'class="low" data-confidence="([\d.]+)"><title>([ab]\d+) ', html)
    assert marked == [("0.12", "a3"), ("0.30", "b1"), ("0.05", "b6")]
    # Each speaker's words are labelled with the words' font, as the "words" tier of a plain transcript.
    assert re.search(r'font-size="12" text-anchor="middle">a3</text>', html)
    assert re.search(r'font-size="12" text-anchor="middle">b6</text>', html)
    assert "confidence</" not in html and 'data-tier="speaker A - words confidence"' not in html


def test_a_long_results_window_gives_every_row_room_for_every_speakers_tiers(alice_client, alice):
    project, run = speakers_run(alice, seconds=90, low={"b70": 0.2})

    html = page(alice_client, "pipelines-view-result", project.pk, run.pk, "interview.TextGrid", query={"at": "1:08"})

    rows = re.findall(r'<g class="row" transform="translate\(0 (\d+)\)">', html)
    assert rows == [str(430 * n) for n in range(6)]  # 118 + 6 tiers of 50 + 12 between rows
    assert 'height="2580"' in html
    assert drawn(html)[:6] == [(name, 118 + 50 * n) for n, name in enumerate(DRAWN)]
    assert re.search(r'class="l low" data-confidence="0.20"><title>b70 1:10.500–1:10.900 · confidence 0.20</title>',
                     html)
    assert re.search(r'<text x="[\d.]+" y="25" class="w">b70</text>', html)


def test_the_words_to_check_name_the_speaker_of_each_word(alice_client, alice):
    project, run = speakers_run(alice)
    assert run.outcomes.get().to_check == {"count": 3, "words": [
        {"label": "b6", "confidence": 0.05, "at": "0:04", "time": "6.50 s", "speaker": "speaker B"},
        {"label": "a3", "confidence": 0.12, "at": "0:01", "time": "3.00 s", "speaker": "speaker A"},
        {"label": "b1", "confidence": 0.3, "at": "0:00", "time": "1.50 s", "speaker": "speaker B"}]}

    html = page(alice_client, "pipelines-run", project.pk, run.pk)

    section = html[html.index('id="words-to-check"'):html.index("</section>")]
    assert re.findall(r'<li><span class="speaker">([^<]+):</span> <a href="[^"]+">“(\w+)” at ([^<]+)</a>', section) == [
        ("speaker B", "b6", "6.50 s"), ("speaker A", "a3", "3.00 s"), ("speaker B", "b1", "1.50 s")]


def test_a_single_speakers_words_to_check_name_no_speaker(tmp_path):
    path = tmp_path / "one.TextGrid"
    path.write_text(speaker_result(10, {"a2": 0.1}, speakers=("speaker A",)), encoding="utf-8")
    assert outcomes.words_to_check(path) == {"count": 1, "words": [
        {"label": "a2", "confidence": 0.1, "at": "0:00", "time": "2.00 s"}]}


def test_every_format_keeps_each_speakers_words_with_their_phones_and_times_agree_to_the_millisecond(tmp_path):
    path = tmp_path / "interview.TextGrid"
    path.write_text(speaker_result(6, LOW), encoding="utf-8")
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    alignment = exports.read_result(path, recording="interview.flac", result="interview.TextGrid")
    assert alignment.tier_pairs() == [("speaker A - words", "speaker A - phones"),
                                      ("speaker B - words", "speaker B - phones")]

    eaf_path = tmp_path / "interview.eaf"
    eaf_path.write_bytes(exports.to_eaf(alignment))
    eaf = Elan.Eaf(str(eaf_path))
    # In the order of the TextGrid: each speaker's utterances, then their words and phones (ELAN shows file order).
    assert [t for t in eaf.tiers if not t.endswith(" confidence")] == DRAWN
    rows = list(csv.DictReader(io.StringIO(exports.to_csv([alignment]).decode("utf-8"))))
    document = json.loads(exports.to_json(alignment))
    for speaker in ("speaker A", "speaker B"):
        words, phones = f"{speaker} - words", f"{speaker} - phones"
        assert eaf.get_parameters_for_tier(phones)["PARENT_REF"] == words
        assert eaf.get_parameters_for_tier(words).get("PARENT_REF") is None
        assert eaf.get_parameters_for_tier(speaker).get("PARENT_REF") is None  # the utterances, as they came
        for tier in (speaker, words, phones):
            truth = [(e.start, e.end, e.label) for e in grid.getTier(tier).entries]
            from_eaf = sorted((s / 1000, e / 1000, label) for s, e, label in eaf.get_annotation_data_for_tier(tier))
            from_csv = [(float(r["start"]), float(r["end"]), r["label"]) for r in rows if r["tier"] == tier]
            if tier == speaker:
                from_json = [(i["start"], i["end"], i["label"])
                             for t in document["tiers"] if t["name"] == tier for i in t["intervals"]]
            elif tier == words:
                from_json = [(w["start"], w["end"], w["label"]) for w in document["words"] if w["tier"] == tier]
            else:
                from_json = [(p["start"], p["end"], p["label"])
                             for w in document["words"] if w["tier"] == words for p in w["phones"]]
            for other in (from_eaf, from_csv, from_json):
                assert [label for *_, label in other] == [label for *_, label in truth], (tier, other)
                assert all(abs(a - b) <= 0.0005 for t, o in zip(truth, other) for a, b in zip(t[:2], o[:2]))
    # Confidence is each word's, of each speaker, in every format.
    assert {w["label"]: w["confidence"] for w in document["words"] if w["confidence"] < 0.5} == {"a3": 0.12, "b1": 0.3}
    assert [r["confidence"] for r in rows if r["label"] in ("a3", "b1")] == ["0.120", "0.300"]
    assert [(word, value) for *_, value, word in eaf.get_ref_annotation_data_for_tier("speaker B - words confidence")
            if float(value) < 0.5] == [("b1", "0.300")]
