"""Issue 17 as a researcher meets it, in Chromium on the bundled services: a project with a .wav + .txt pair and a
longer two-speaker .wav whose transcript is a TextGrid of utterance tiers. Both are aligned; the second's result
keeps the speaker tiers and adds each speaker's words and phones; the zip holds all four formats, which pympi,
praatio and the csv module read back with the same times; the word made wrong in the transcript is marked.

The two-speaker recording is real speech (tests/data) laid out at known times with pauses between the turns.
"""

import csv
import io
import json
import zipfile

import numpy as np
import pytest
import soundfile
from praatio import textgrid
from praatio.utilities.constants import Interval
from pympi.Elan import Eaf

from tests.browser.test_pipeline_browser import upload_into_new_project, worker  # noqa: F401 (a fixture)
from tests.helpers import DATA

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RATE = 16000
# (speaker, recording in tests/data, transcript as given): one word of B's second turn is wrong on purpose.
TURNS = [
    ("speaker A", "austen-0870", None),
    ("speaker B", "cards-001", None),
    ("speaker A", "austen-0880", None),
    ("speaker B", "austen-0890", "unless to be rather cold hearted and rather foolish is to be ill disposed"),
    ("speaker A", "cards-002", None),
    ("speaker B", "cards-003", None),
    ("speaker A", "austen-0890", None),
]
PAUSE = 0.8
WRONG = "foolish"


def two_speakers(folder):
    """meeting.wav and meeting.TextGrid (tiers "speaker A", "speaker B", and a point tier of notes); the utterances."""
    pieces, tiers, time = [np.zeros(int(PAUSE * RATE), dtype=np.int16)], {"speaker A": [], "speaker B": []}, PAUSE
    for speaker, stem, text in TURNS:
        samples, rate = soundfile.read(str(DATA / f"{stem}.wav"), dtype="int16")
        assert rate == RATE
        start, time = time, time + len(samples) / RATE
        tiers[speaker].append(Interval(round(start, 3), round(time, 3),
                                       text or (DATA / f"{stem}.txt").read_text(encoding="utf-8").strip()))
        pieces += [samples, np.zeros(int(PAUSE * RATE), dtype=np.int16)]
        time += PAUSE
    audio = np.concatenate(pieces)
    duration = len(audio) / RATE
    soundfile.write(str(folder / "meeting.wav"), audio, RATE, subtype="PCM_16")
    grid = textgrid.Textgrid()
    for name, intervals in tiers.items():
        grid.addTier(textgrid.IntervalTier(name, intervals, 0, duration))
    grid.addTier(textgrid.PointTier("notes", [(1.0, "door closes")], 0, duration))
    grid.save(str(folder / "meeting.TextGrid"), "long_textgrid", includeBlankSpaces=True)
    return tiers


def test_a_pair_and_a_two_speaker_textgrid_give_every_format_with_speaker_tiers(page, live_server, alice, english,
                                                                                 worker, tmp_path):  # noqa: F811
    utterances = two_speakers(tmp_path)
    upload_into_new_project(page, live_server, "Meeting",
                            [str(DATA / "cards-001.wav"), str(DATA / "cards-001.txt"),
                             str(tmp_path / "meeting.wav"), str(tmp_path / "meeting.TextGrid")])
    assert page.locator("tr", has_text="meeting.TextGrid").get_by_text("with meeting.wav").count() == 1
    with page.expect_navigation():
        page.get_by_role("button", name="Start alignment").click()
    page.get_by_role("link", name="Download all (zip)").wait_for(timeout=180000)
    for name in ("cards-001.wav", "meeting.wav"):
        assert page.locator("#outcomes tr", has_text=name).get_by_role("link", name="View").count() == 1

    with page.expect_download() as download:
        page.get_by_role("link", name="Download all (zip)").click()
    archive = zipfile.ZipFile(download.value.path())
    names = archive.namelist()
    for name in ("cards-001.TextGrid", "meeting.TextGrid", "ELAN/meeting.eaf", "CSV/meeting.csv", "JSON/meeting.json"):
        assert name in names, names

    # Praat: the speaker tiers kept, each speaker's words and phones added; every word inside one of its turns.
    (tmp_path / "out").mkdir()
    archive.extractall(tmp_path / "out")
    grid = textgrid.openTextgrid(str(tmp_path / "out" / "meeting.TextGrid"), includeEmptyIntervals=False)
    for speaker, turns in utterances.items():
        assert speaker in grid.tierNames
        words = grid.getTier(f"{speaker} - words").entries
        assert len(grid.getTier(f"{speaker} - phones").entries) > len(words)
        given = [w for turn in turns for w in turn.label.split()]
        assert [w.label for w in words] == given
        for word in words:
            assert any(t.start - 0.001 <= word.start and word.end <= t.end + 0.001 for t in turns), word

    # ELAN: the same words with the same times (to the millisecond), phones as children of the words.
    eaf = Eaf(str(tmp_path / "out" / "ELAN" / "meeting.eaf"))
    for speaker in utterances:
        textgrid_words = [(round(w.start * 1000), round(w.end * 1000), w.label)
                          for w in grid.getTier(f"{speaker} - words").entries]
        eaf_words = sorted((s, e, v) for s, e, v, *_ in eaf.get_annotation_data_for_tier(f"{speaker} - words"))
        assert eaf_words == textgrid_words
        assert eaf.tiers[f"{speaker} - phones"][2]["PARENT_REF"] == f"{speaker} - words"

    # CSV and JSON: the same again, with a confidence for every word.
    rows = list(csv.DictReader(io.StringIO(archive.read("CSV/meeting.csv").decode("utf-8"))))
    csv_words = [r for r in rows if r["tier"] == "speaker B - words"]
    assert [(round(float(r["start"]) * 1000), r["label"]) for r in csv_words] == [
        (round(w.start * 1000), w.label) for w in grid.getTier("speaker B - words").entries]
    assert all(r["confidence"] for r in csv_words)
    data = json.loads(archive.read("JSON/meeting.json"))
    assert {w["tier"] for w in data["words"]} == {"speaker A - words", "speaker B - words"}

    # The wrong word is among the least confident of its file, and marked in the picture.
    confidence = {r["label"]: float(r["confidence"]) for r in csv_words}
    assert sorted(confidence.values()).index(confidence[WRONG]) < 3, confidence
    assert page.locator("#words-to-check li").first.inner_text().startswith(f"speaker B: “{WRONG}” at 17.")
    page.locator("#outcomes tr", has_text="meeting.wav").get_by_role("link", name="View").click()
    picture = page.locator("#result-picture")
    picture.wait_for()
    assert picture.locator("g[data-tier]").evaluate_all("gs => gs.map(g => g.dataset.tier)") == [
        "speaker A", "speaker A - words", "speaker A - phones", "speaker B", "speaker B - words", "speaker B - phones"]
    marked = picture.locator("g[data-tier='speaker B - words'] rect.low").evaluate_all("rs => rs.map(r => r.textContent)")
    assert [m.split()[0] for m in marked] == [WRONG]
    body = page.locator("body").inner_text()
    for leak in ("Traceback", "Error:", "/tmp/", ".py"):
        assert leak not in body
