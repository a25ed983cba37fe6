"""A run's results in every format: ELAN (.eaf), CSV and JSON from the result TextGrid, per file and in the zip.

The TextGrids are written by the bundled aligner's own writer (clamservices.textgrids) from a known
alignment, so times are known to the millisecond; runs are built in the database with those outputs
(no CLAM service: test_file_names.py exports what the real service delivered, under odd names).
Each format is read back with the reader a researcher would use: pympi for ELAN, praatio for the
TextGrid, the csv module for CSV, json + jsonschema for JSON.
"""

import csv
import io
import json
import re
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from praatio import textgrid
from pympi import Elan

from clamservices.aligner import Alignment as AlignerResult
from clamservices.aligner import Interval
from clamservices.textgrids import write_textgrid
from pipelines import exports, pictures
from pipelines.models import Run
from tests.conftest import CsrfClient
from tests.factories import make_project, wav_bytes
from tests.helpers import download_name
from tests.test_outcomes import entry, fa_process, finish, report
from upload.services import Upload

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "users" / "alignment.schema.json").read_text())

# "ten of clubs" with a pause before "clubs", at times that are not whole milliseconds everywhere.
WORDS = [Interval(0.12, 0.4504, "ten"), Interval(0.4504, 0.6, "of"), Interval(0.8123, 1.2, "clubs")]
PHONES = [Interval(0.12, 0.3, "T"), Interval(0.3, 0.38, "EH"), Interval(0.38, 0.4504, "N"),
          Interval(0.4504, 0.5, "AH"), Interval(0.5, 0.6, "V"), Interval(0.6, 0.8123, "SIL"),
          Interval(0.8123, 0.9, "K"), Interval(0.9, 1.0, "L"), Interval(1.0, 1.1, "AH"), Interval(1.1, 1.15, "B"),
          Interval(1.15, 1.2, "Z")]
DURATION = 1.5


def bundled_grid(path, text_format="long", silence_label=""):
    write_textgrid(path, AlignerResult(WORDS, PHONES), DURATION, text_format=text_format, silence_label=silence_label)
    return path


def grid_text(path_factory, **kwargs):
    return bundled_grid(path_factory / "x.TextGrid", **kwargs).read_text(encoding="utf-8")


def read(tmp_path, *, recording="a.wav", **kwargs):
    return exports.read_result(bundled_grid(tmp_path / "a.TextGrid", **kwargs), recording=recording, result="a.TextGrid")


def eaf_of(data, tmp_path):
    path = tmp_path / "back.eaf"
    path.write_bytes(data)
    return Elan.Eaf(str(path))


def seconds(ms):
    return ms / 1000


def intervals_from_csv(data):
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    return {tier: [(float(r["start"]), float(r["end"]), r["label"]) for r in rows if r["tier"] == tier]
            for tier in ("words", "phones")}, rows


# The formats, read back


@pytest.mark.parametrize("text_format", ["long", "short"])
def test_every_format_reads_back_and_times_agree_to_the_millisecond(tmp_path, text_format):
    alignment = read(tmp_path, text_format=text_format)
    grid = textgrid.openTextgrid(str(tmp_path / "a.TextGrid"), includeEmptyIntervals=False)
    truth = {tier: [(e.start, e.end, e.label) for e in grid.getTier(tier).entries] for tier in ("words", "phones")}
    assert [label for _, _, label in truth["words"]] == ["ten", "of", "clubs"]

    eaf = eaf_of(exports.to_eaf(alignment), tmp_path)
    from_eaf = {tier: sorted((seconds(s), seconds(e), label) for s, e, label in eaf.get_annotation_data_for_tier(tier))
                for tier in ("words", "phones")}
    from_csv, _ = intervals_from_csv(exports.to_csv([alignment]))
    document = json.loads(exports.to_json(alignment))
    from_json = {"words": [(w["start"], w["end"], w["label"]) for w in document["words"]],
                 "phones": [(p["start"], p["end"], p["label"]) for w in document["words"] for p in w["phones"]]}
    for tier in ("words", "phones"):
        for other in (from_eaf, from_csv, from_json):
            assert [label for _, _, label in other[tier]] == [label for _, _, label in truth[tier]]
            for (start, end, _), (other_start, other_end, _) in zip(truth[tier], other[tier]):
                assert abs(start - other_start) <= 0.0005 and abs(end - other_end) <= 0.0005


def test_elan_has_phones_as_a_time_aligned_child_of_words_linked_to_the_recording(tmp_path):
    eaf = eaf_of(exports.to_eaf(read(tmp_path, recording="interview 3.wav")), tmp_path)
    assert eaf.get_tier_names() == {"words": 0, "phones": 1}.keys()
    assert eaf.get_parameters_for_tier("phones")["PARENT_REF"] == "words"
    phone_type = eaf.get_parameters_for_tier("phones")["LINGUISTIC_TYPE_REF"]
    assert eaf.get_parameters_for_linguistic_type(phone_type) == {
        "LINGUISTIC_TYPE_ID": "phones", "TIME_ALIGNABLE": "true", "GRAPHIC_REFERENCES": "false",
        "CONSTRAINTS": "Included_In"}
    assert eaf.get_linked_files() == [{"MEDIA_URL": "file:///interview%203.wav", "RELATIVE_MEDIA_URL": "./interview 3.wav",
                                       "MIME_TYPE": "audio/x-wav"}]
    # ELAN refuses a child annotation outside its parent's time: every phone lies inside a word.
    words = eaf.get_annotation_data_for_tier("words")
    for start, end, label in eaf.get_annotation_data_for_tier("phones"):
        assert any(w_start <= start < end <= w_end for w_start, w_end, _ in words), label
    assert [label for _, _, label in sorted(eaf.get_annotation_data_for_tier("phones"))] == \
        ["T", "EH", "N", "AH", "V", "K", "L", "AH", "B", "Z"]


def test_the_media_type_is_the_one_elan_expects_for_each_kind_of_recording():
    assert exports.media_type("a.WAV") == "audio/x-wav"
    assert exports.media_type("a.flac") == "audio/flac"
    assert exports.media_type("a.mp3") == "audio/mpeg"
    assert exports.media_type("no extension") == "application/octet-stream"


def test_csv_is_plain_for_r_and_pandas_one_row_per_labelled_interval(tmp_path):
    data = exports.to_csv([read(tmp_path, recording="Zoë's take, 2.wav")])
    assert not data.startswith(b"\xef\xbb\xbf")  # R's read.csv would make a byte-order mark part of "file"
    text = data.decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == "file,tier,start,end,label,confidence"
    assert lines[1] == '"Zoë\'s take, 2.wav",words,0.120,0.450,ten,'
    assert lines[3] == '"Zoë\'s take, 2.wav",words,0.812,1.200,clubs,'
    # Pauses (empty intervals, and the aligner's SIL) are no rows: 3 words and 10 phones.
    _, rows = intervals_from_csv(data)
    assert len(rows) == 13 and all(r["label"] and r["confidence"] == "" for r in rows)
    assert {r["file"] for r in rows} == {"Zoë's take, 2.wav"}


def test_a_silence_label_the_researcher_chose_is_kept_as_a_labelled_interval(tmp_path):
    alignment = read(tmp_path, silence_label="sil")
    _, rows = intervals_from_csv(exports.to_csv([alignment]))
    assert [(r["start"], r["end"]) for r in rows if r["tier"] == "words" and r["label"] == "sil"] == \
        [("0.000", "0.120"), ("0.600", "0.812"), ("1.200", "1.500")]


def test_json_matches_its_documented_schema_and_confidence_is_null_until_computed(tmp_path):
    document = json.loads(exports.to_json(read(tmp_path, recording="日本語 “quoted”.wav")))
    jsonschema.validate(document, SCHEMA)
    assert (document["file"], document["result"], document["duration"]) == ("日本語 “quoted”.wav", "a.TextGrid", 1.5)
    assert document["words"][0] == {
        "start": 0.12, "end": 0.4504, "label": "ten", "confidence": None, "tier": "words",
        "phones": [{"start": 0.12, "end": 0.3, "label": "T", "confidence": None},
                   {"start": 0.3, "end": 0.38, "label": "EH", "confidence": None},
                   {"start": 0.38, "end": 0.4504, "label": "N", "confidence": None}]}
    assert document["tiers"] == []


def test_the_schema_refuses_what_the_documentation_says_a_reader_never_gets(tmp_path):
    document = json.loads(exports.to_json(read(tmp_path)))
    for broken in ({**document, "words": [{**document["words"][0], "confidence": 1.5}]},
                   {**document, "words": [{k: v for k, v in document["words"][0].items() if k != "phones"}]},
                   {**document, "version": 2}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_confidence_when_the_aligner_gives_it_is_in_every_format(tmp_path):
    """Item 2 of issue 17 fills Span.confidence; the writers already carry it."""
    alignment = read(tmp_path)
    for tier in alignment.tiers:
        tier.spans = [exports.Span(s.start, s.end, s.label, 0.25 if s.label in ("of", "V") else 0.9) for s in tier.spans]
    _, rows = intervals_from_csv(exports.to_csv([alignment]))
    assert [(r["label"], r["confidence"]) for r in rows[:3]] == [("ten", "0.900"), ("of", "0.250"), ("clubs", "0.900")]
    document = json.loads(exports.to_json(alignment))
    jsonschema.validate(document, SCHEMA)
    assert [(w["label"], w["confidence"], [p["confidence"] for p in w["phones"]]) for w in document["words"]][1] == \
        ("of", 0.25, [0.9, 0.25])
    eaf = eaf_of(exports.to_eaf(alignment), tmp_path)
    assert eaf.get_parameters_for_tier("words confidence")["PARENT_REF"] == "words"
    assert [value for _, _, value, _ in sorted(eaf.get_ref_annotation_data_for_tier("words confidence"))] == \
        ["0.900", "0.250", "0.900"]
    # (pympi reads no values of a tier that refers to a child tier; its annotations are there.)
    assert eaf.get_parameters_for_tier("phones confidence")["PARENT_REF"] == "phones"
    assert len(eaf.tiers["phones confidence"][1]) == 10


def test_without_confidence_elan_has_no_confidence_tier(tmp_path):
    eaf = eaf_of(exports.to_eaf(read(tmp_path)), tmp_path)
    assert set(eaf.get_tier_names()) == {"words", "phones"}


SPEAKERS = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 3
tiers? <exists>
size = 6
item []:
    item [1]:
        class = "IntervalTier"
        name = "speaker A"
        xmin = 0
        xmax = 3
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 1
            text = "hello there"
        intervals [2]:
            xmin = 1
            xmax = 3
            text = ""
    item [2]:
        class = "IntervalTier"
        name = "speaker A - words"
        xmin = 0
        xmax = 3
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.5
            text = "hello"
        intervals [2]:
            xmin = 0.5
            xmax = 1
            text = "there"
        intervals [3]:
            xmin = 1
            xmax = 3
            text = ""
    item [3]:
        class = "IntervalTier"
        name = "speaker A - phones"
        xmin = 0
        xmax = 3
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.5
            text = "HH"
        intervals [2]:
            xmin = 0.5
            xmax = 1
            text = "DH"
        intervals [3]:
            xmin = 1
            xmax = 3
            text = ""
    item [4]:
        class = "IntervalTier"
        name = "speaker B - words"
        xmin = 0
        xmax = 3
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 0.7
            text = ""
        intervals [2]:
            xmin = 0.7
            xmax = 3
            text = "yes"
    item [5]:
        class = "TextTier"
        name = "events"
        xmin = 0
        xmax = 3
        points: size = 1
        points [1]:
            number = 2
            mark = "cough"
    item [6]:
        class = "IntervalTier"
        name = "notes"
        xmin = 0
        xmax = 3
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 3
            text = "a ""quoted"" note"
"""


def test_speaker_tiers_pair_words_with_phones_and_other_interval_tiers_are_kept(tmp_path):
    path = tmp_path / "two.TextGrid"
    path.write_text(SPEAKERS, encoding="utf-8")
    alignment = exports.read_result(path, recording="two.wav", result="two.TextGrid")
    assert alignment.tier_pairs() == [("speaker A - words", "speaker A - phones"), ("speaker B - words", None)]

    document = json.loads(exports.to_json(alignment))
    jsonschema.validate(document, SCHEMA)
    assert [(w["tier"], w["label"], [p["label"] for p in w["phones"]]) for w in document["words"]] == [
        ("speaker A - words", "hello", ["HH"]), ("speaker A - words", "there", ["DH"]), ("speaker B - words", "yes", [])]
    # The point tier is for Praat only; the utterance tier and the notes are kept as they are.
    assert document["tiers"] == [{"name": "speaker A", "intervals": [{"start": 0, "end": 1, "label": "hello there"}]},
                                 {"name": "notes", "intervals": [{"start": 0, "end": 3, "label": 'a "quoted" note'}]}]

    eaf = eaf_of(exports.to_eaf(alignment), tmp_path)
    assert set(eaf.get_tier_names()) == {"speaker A - words", "speaker A - phones", "speaker B - words", "speaker A",
                                         "notes"}
    assert eaf.get_parameters_for_tier("speaker A - phones")["PARENT_REF"] == "speaker A - words"
    assert eaf.get_parameters_for_tier("notes").get("PARENT_REF") is None
    assert eaf.get_annotation_data_for_tier("notes") == [(0, 3000, 'a "quoted" note')]

    _, rows = intervals_from_csv(exports.to_csv([alignment]))
    assert [(r["tier"], r["label"]) for r in rows] == [
        ("speaker A", "hello there"), ("speaker A - words", "hello"), ("speaker A - words", "there"),
        ("speaker A - phones", "HH"), ("speaker A - phones", "DH"), ("speaker B - words", "yes"),
        ("notes", 'a "quoted" note')]


def test_a_file_that_is_no_textgrid_is_not_convertible(tmp_path):
    path = tmp_path / "b.TextGrid"
    path.write_text("not a TextGrid")
    with pytest.raises(exports.NotConvertible, match="b.TextGrid cannot be read as a TextGrid"):
        exports.read_result(path, recording="b.wav", result="b.TextGrid")


def test_export_names_replace_the_textgrid_extension_only():
    assert exports.export_name("a.TextGrid", "eaf") == "a.eaf"
    assert exports.export_name("a.wav.textgrid", "csv") == "a.wav.csv"
    assert exports.export_name("don't “x”.TextGrid", "json") == "don't “x”.json"


# The run page, the downloads and the zip


def exported_run(owner, tmp_path, stems=("a", "b")):
    """A finished run whose recordings `stems` (.wav) have TextGrids from the bundled writer, plus report.json."""
    project = make_project(owner)
    upload = Upload(project)
    for stem in stems:
        upload.add(SimpleUploadedFile(f"{stem}.wav", wav_bytes()))
        upload.add(SimpleUploadedFile(f"{stem}.txt", b"ten of clubs"))
    grid = grid_text(tmp_path)
    outputs = {f"{stem}.TextGrid": grid for stem in stems}
    outputs["report.json"] = report(*(entry(f"{stem}.wav") for stem in stems))
    process = fa_process(project, stems, outputs)
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    run.refresh_from_db()
    return project, run


def export_url(project, run, format, name):
    return reverse("pipelines-export-result", args=[project.pk, run.pk, format, name])


def content(response):
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_the_run_page_offers_every_format_of_each_result_and_of_the_zip(alice, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path)
    html = alice_client.get(reverse("pipelines-run", args=[project.pk, run.pk])).content.decode()
    for stem in "ab":
        assert reverse("pipelines-download-result", args=[project.pk, run.pk, f"{stem}.TextGrid"]) in html
        for format in ("eaf", "csv", "json"):
            assert export_url(project, run, format, f"{stem}.TextGrid") in html
    assert '<select id="zip-format" name="format"' in html
    picture = alice_client.get(reverse("pipelines-view-result", args=[project.pk, run.pk, "a.TextGrid"])).content.decode()
    assert all(export_url(project, run, format, "a.TextGrid") in picture for format in ("eaf", "csv", "json"))
    for value in ("textgrid", "eaf", "csv", "json"):
        assert f'<option value="{value}">' in html


@pytest.mark.django_db
@pytest.mark.parametrize("format, content_type", [("eaf", "text/x-eaf+xml"), ("csv", "text/csv; charset=utf-8"),
                                                  ("json", "application/json")])
def test_each_format_downloads_under_the_results_name(alice, alice_client, tmp_path, format, content_type):
    project, run = exported_run(alice, tmp_path)
    response = alice_client.get(export_url(project, run, format, "a.TextGrid"))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="a.{format}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    expected = exports.write(exports.read_result(bundled_grid(tmp_path / "a.TextGrid"), recording="a.wav",
                                                 result="a.TextGrid"), format)
    made_at = re.compile(rb' DATE="[^"]+"')  # an EAF's header has the time it was made
    assert made_at.sub(b"", content(response)) == made_at.sub(b"", expected)


@pytest.mark.django_db
def test_an_export_is_for_the_owner_only_and_of_textgrids_in_known_formats_only(alice, bob, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path)
    bob_client = CsrfClient()
    bob_client.force_login(bob)
    assert bob_client.get(export_url(project, run, "eaf", "a.TextGrid")).status_code == 404
    anonymous = CsrfClient().get(export_url(project, run, "eaf", "a.TextGrid"))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse(settings.LOGIN_URL))
    for format, name in (("praat", "a.TextGrid"), ("eaf", "report.json"), ("eaf", "c.TextGrid"), ("EAF", "a.TextGrid")):
        assert alice_client.get(export_url(project, run, format, name)).status_code == 404, (format, name)
    bob_zip = bob_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]) + "?format=eaf")
    assert bob_zip.status_code == 404


@pytest.mark.django_db
def test_a_result_that_is_no_textgrid_is_not_converted_and_says_so(alice, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path)
    (Path(default_storage.path(run.fa_process.output_folder)) / "b.TextGrid").write_text("not a TextGrid")
    response = alice_client.get(export_url(project, run, "csv", "b.TextGrid"))
    assert response.status_code == 404
    archive = zipfile.ZipFile(io.BytesIO(content(alice_client.get(
        reverse("pipelines-download-results", args=[project.pk, run.pk])))))
    assert "ELAN/a.eaf" in archive.namelist() and "ELAN/b.eaf" not in archive.namelist()
    assert archive.read("not-converted.txt").decode().splitlines()[-1] == "b.TextGrid"
    assert archive.read("b.TextGrid") == b"not a TextGrid"  # as the service delivered it


@pytest.mark.django_db
def test_the_zip_holds_every_format_in_a_folder_each_and_one_table_of_all_intervals(alice, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path)
    response = alice_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="Austen-results.zip"'
    archive = zipfile.ZipFile(io.BytesIO(content(response)))
    assert sorted(archive.namelist()) == sorted([
        "a.TextGrid", "b.TextGrid", "report.json", "ELAN/a.eaf", "ELAN/b.eaf", "CSV/a.csv", "CSV/b.csv",
        "JSON/a.json", "JSON/b.json", "all-intervals.csv", "report.csv"])
    _, rows = intervals_from_csv(archive.read("all-intervals.csv"))
    assert [r["file"] for r in rows] == ["a.wav"] * 13 + ["b.wav"] * 13
    # Every entry dated (none the zip format's 1980-01-01) and compressed as the others.
    assert all(info.date_time[0] > 1980 for info in archive.infolist()), archive.infolist()
    assert archive.getinfo("all-intervals.csv").compress_type == zipfile.ZIP_DEFLATED
    assert archive.read("CSV/a.csv") == exports.to_csv([exports.read_result(
        bundled_grid(tmp_path / "a.TextGrid"), recording="a.wav", result="a.TextGrid")])
    jsonschema.validate(json.loads(archive.read("JSON/b.json")), SCHEMA)
    assert eaf_of(archive.read("ELAN/b.eaf"), tmp_path).get_linked_files()[0]["MEDIA_URL"] == "file:///b.wav"


@pytest.mark.django_db
@pytest.mark.parametrize("format, names", [
    ("textgrid", ["a.TextGrid", "b.TextGrid", "report.json", "report.csv"]),
    ("eaf", ["ELAN/a.eaf", "ELAN/b.eaf", "report.csv"]),
    ("csv", ["CSV/a.csv", "CSV/b.csv", "all-intervals.csv", "report.csv"]),
    ("json", ["JSON/a.json", "JSON/b.json", "report.csv"]),
])
def test_a_zip_of_one_format_has_that_format_and_the_report(alice, alice_client, tmp_path, format, names):
    project, run = exported_run(alice, tmp_path)
    response = alice_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]) + f"?format={format}")
    label = {"textgrid": "TextGrid", "eaf": "ELAN", "csv": "CSV", "json": "JSON"}[format]
    assert response["Content-Disposition"] == f'attachment; filename="Austen-results-{label}.zip"'
    assert sorted(zipfile.ZipFile(io.BytesIO(content(response))).namelist()) == sorted(names)


@pytest.mark.django_db
def test_a_zip_of_an_unknown_format_is_a_404(alice, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path)
    url = reverse("pipelines-download-results", args=[project.pk, run.pk])
    assert alice_client.get(url + "?format=docx").status_code == 404


@pytest.mark.django_db
def test_letter_case_twins_keep_apart_in_every_format_folder(alice, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path, stems=("Take1", "take1"))
    archive = zipfile.ZipFile(io.BytesIO(content(alice_client.get(
        reverse("pipelines-download-results", args=[project.pk, run.pk])))))
    names = archive.namelist()
    assert len({n.lower() for n in names}) == len(names)
    assert {"ELAN/Take1.eaf", "ELAN/take1 (2).eaf", "CSV/take1 (2).csv", "JSON/take1 (2).json"} <= set(names)
    assert json.loads(archive.read("JSON/take1 (2).json"))["file"] == "take1.wav"
    assert "ELAN/take1 (2).eaf\tis the result named\tELAN/take1.eaf" in archive.read("renamed-files.txt").decode()


@pytest.mark.django_db
def test_a_run_from_before_outcomes_names_the_recording_from_its_inputs(alice, alice_client, tmp_path):
    project = make_project(alice)
    process = fa_process(project, ["a"], {"a.TextGrid": grid_text(tmp_path)})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.DONE, fa_process=process)
    assert not run.outcomes.exists()
    assert export_url(project, run, "json", "a.TextGrid") in \
        alice_client.get(reverse("pipelines-run", args=[project.pk, run.pk])).content.decode()
    document = json.loads(content(alice_client.get(export_url(project, run, "json", "a.TextGrid"))))
    assert document["file"] == "a.wav"


def test_elan_opens_a_result_with_characters_xml_cannot_hold_and_unnamed_tiers(tmp_path):
    path = tmp_path / "odd.TextGrid"
    grid = textgrid.Textgrid(minTimestamp=0, maxTimestamp=1)
    grid.addTier(textgrid.IntervalTier("words", [(0, 0.5, "bell\x07"), (0.5, 1, "ok")], 0, 1))
    grid.addTier(textgrid.IntervalTier("", [(0, 1, "note")], 0, 1))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    alignment = exports.read_result(path, recording="odd\x01.wav", result="odd.TextGrid")
    eaf = eaf_of(exports.to_eaf(alignment), tmp_path)
    assert eaf.get_annotation_data_for_tier("words") == [(0, 500, "bell"), (500, 1000, "ok")]
    assert eaf.get_annotation_data_for_tier("tier 2") == [(0, 1000, "note")]
    assert eaf.get_linked_files()[0]["RELATIVE_MEDIA_URL"] == "./odd.wav"
    # The other formats keep the label as it is.
    assert json.loads(exports.to_json(alignment))["words"][0]["label"] == "bell\x07"


@pytest.mark.django_db
def test_a_zip_of_one_format_lists_only_its_own_renamed_files(alice, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path, stems=("Take1", "take1"))
    archive = zipfile.ZipFile(io.BytesIO(content(alice_client.get(
        reverse("pipelines-download-results", args=[project.pk, run.pk]) + "?format=eaf"))))
    assert archive.read("renamed-files.txt").decode().splitlines()[3:] == [
        "ELAN/take1 (2).eaf\tis the result named\tELAN/take1.eaf"]


def test_a_textgrids_confidence_tier_becomes_the_confidence_of_its_tiers_intervals(tmp_path):
    """The TextGrid side of item 2 of issue 17: a "words confidence" tier of values 0-1."""
    path = tmp_path / "sure.TextGrid"
    grid = textgrid.Textgrid(minTimestamp=0, maxTimestamp=2)
    grid.addTier(textgrid.IntervalTier("words", [(0.1, 0.5, "ten"), (0.5, 0.9, "of"), (1.0, 1.5, "clubs")], 0, 2))
    grid.addTier(textgrid.IntervalTier("phones", [(0.1, 0.3, "T"), (0.3, 0.5, "EH")], 0, 2))
    grid.addTier(textgrid.IntervalTier("words confidence", [(0.1, 0.5, "0.91"), (0.5, 0.9, "0.2"), (1.0, 1.5, "sure")],
                                       0, 2))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    alignment = exports.read_result(path, recording="sure.wav", result="sure.TextGrid")
    assert [t.name for t in alignment.tiers] == ["words", "phones"]
    _, rows = intervals_from_csv(exports.to_csv([alignment]))
    assert [(r["label"], r["confidence"]) for r in rows] == [
        ("ten", "0.910"), ("of", "0.200"), ("clubs", ""), ("T", ""), ("EH", "")]
    document = json.loads(exports.to_json(alignment))
    jsonschema.validate(document, SCHEMA)
    assert [w["confidence"] for w in document["words"]] == [0.91, 0.2, None] and document["tiers"] == []
    eaf = eaf_of(exports.to_eaf(alignment), tmp_path)
    assert [v for _, _, v, _ in sorted(eaf.get_ref_annotation_data_for_tier("words confidence"))] == ["0.910", "0.200"]


@pytest.mark.django_db
def test_one_export_costs_a_fixed_number_of_queries(alice, alice_client, tmp_path, django_assert_num_queries):
    project, run = exported_run(alice, tmp_path, stems=("a", "b", "c"))
    # session, user, the run with its project and processes, its latest saved version (pipelines.results.
    # latest_versions), its outcomes (for the recording's name)
    with django_assert_num_queries(5):
        assert alice_client.get(export_url(project, run, "json", "a.TextGrid")).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("name, expected", [
    ("Interviews 2024/25 (missing)", "Interviews 2024-25 (missing)-results.zip"),
    ("C:\\corpus\\Récit", "C-corpus-Récit-results.zip"),
    ("..", "results.zip"),
])
def test_the_zip_is_named_after_the_whole_project_whatever_characters_its_name_has(alice, alice_client, tmp_path,
                                                                                    name, expected):
    project, run = exported_run(alice, tmp_path)
    project.name = name
    project.save()
    response = alice_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]))
    assert response.status_code == 200
    assert download_name(response) == expected


def test_a_phone_sticking_out_of_its_word_keeps_its_confidence_in_elan(tmp_path):
    """The reference is the phone as written, clipped to its word, not the middle of the phone as aligned."""
    alignment = exports.Alignment("r.wav", "r.TextGrid", 2.0, [
        exports.Tier("words", [exports.Span(0.5, 1.2006, "a", 0.5), exports.Span(1.2006, 1.6, "b", 0.4)]),
        exports.Tier("phones", [exports.Span(0.5, 1.0, "p", 0.1), exports.Span(1.0, 1.4012, "q", 0.2),
                                exports.Span(1.4012, 1.6, "r", 0.3)])])
    eaf = eaf_of(exports.to_eaf(alignment), tmp_path)
    phones = {aid: value for aid, (_, _, value, _) in eaf.tiers["phones"][0].items()}
    assert sorted((phones[ref], value) for ref, value, _, _ in eaf.tiers["phones confidence"][1].values()) == \
        [("p", "0.100"), ("q", "0.200"), ("r", "0.300")]


@pytest.mark.django_db
def test_a_result_a_writer_cannot_write_is_not_converted_and_says_so(alice, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path)
    # A word that ends 10^307 s in: praatio reads it, its milliseconds are too many for an integer (ELAN).
    far = 10 ** 307
    (Path(default_storage.path(run.fa_process.output_folder)) / "b.TextGrid").write_text(
        hand_grid([("words", [(0, 1, "ten"), (1, far, "of")])], end=far))
    response = alice_client.get(export_url(project, run, "eaf", "b.TextGrid"))
    assert response.status_code == 404
    archive = zipfile.ZipFile(io.BytesIO(content(alice_client.get(
        reverse("pipelines-download-results", args=[project.pk, run.pk])))))
    assert "ELAN/a.eaf" in archive.namelist()
    assert not {"ELAN/b.eaf", "CSV/b.csv", "JSON/b.json"} & set(archive.namelist())
    assert archive.read("not-converted.txt").decode().splitlines()[-1] == "b.TextGrid"


def pympi_steps(alignment):
    """How many lines of pympi's Elan module run to write `alignment` as EAF: a count of work, not a time."""
    steps = 0

    def trace(frame, event, arg):
        nonlocal steps
        if frame.f_code.co_filename == Elan.__file__:
            steps += event == "line"
            return trace
        return None

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        exports.to_eaf(alignment)
    finally:
        sys.settrace(previous)
    return steps


def confident_words(count):
    """`count` words of 0.3 s with 3 phones each, all with a confidence (review 17's /tmp/rv/eafperf.py)."""
    words, phones = [], []
    for n in range(count):
        start = n * 0.35
        words.append(exports.Span(start, start + 0.3, f"w{n}", 0.9))
        phones += [exports.Span(start + 0.1 * k, start + 0.1 * (k + 1), "P", 0.8) for k in range(3)]
    return exports.Alignment("r.wav", "r.TextGrid", count * 0.35,
                             [exports.Tier("words", words), exports.Tier("phones", phones)])


def test_elan_export_work_grows_with_the_word_count_not_its_square():
    # Twice the words: twice the work (a search of the parent tier per confidence value would be 3-4 times).
    assert pympi_steps(confident_words(200)) < 2.2 * pympi_steps(confident_words(100))


def hand_grid(tiers, end=2):
    """The text of a long-format TextGrid of interval tiers [(name, [(start, end, label)])], names as they are."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {end}",
             "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for number, (name, intervals) in enumerate(tiers, start=1):
        lines += [f"    item [{number}]:", '        class = "IntervalTier"', f'        name = "{name}"',
                  "        xmin = 0", f"        xmax = {end}", f"        intervals: size = {len(intervals)}"]
        for n, (start, stop, label) in enumerate(intervals, start=1):
            lines += [f"        intervals [{n}]:", f"            xmin = {start}", f"            xmax = {stop}",
                      f'            text = "{label}"']
    return "\n".join(lines) + "\n"


def test_tiers_whose_names_become_one_keep_apart_and_each_phone_tier_has_one_word_tier(tmp_path):
    path = tmp_path / "odd.TextGrid"
    path.write_text(hand_grid([
        ("words", [(0, 1, "alpha")]), (" words", [(1, 2, "beta")]), ("Words", [(1, 2, "gamma")]),
        ("phones", [(0, 0.5, "A"), (1, 1.5, "G")]), ("", [(0, 1, "x")]), ("tier 5", [(1, 2, "y")]),
        ("a\x01", [(0, 1, "c")]), ("a", [(1, 2, "d")]), ("\x01", [(0, 1, "e")])]))
    alignment = exports.read_result(path, recording="odd.wav", result="odd.TextGrid")
    document = exports.to_json_data(alignment)
    assert [(w["tier"], w["label"], [p["label"] for p in w["phones"]]) for w in document["words"]] == \
        [("words", "alpha", ["A"]), ("Words", "gamma", [])]
    assert [(t["name"], [i["label"] for i in t["intervals"]]) for t in document["tiers"]] == [
        ("words (2)", ["beta"]), ("tier 5", ["x"]), ("tier 5 (2)", ["y"]), ("a", ["c"]), ("a (2)", ["d"]),
        ("tier 9", ["e"])]
    eaf = eaf_of(exports.to_eaf(alignment), tmp_path)
    assert {name: [value for *_, value in eaf.get_annotation_data_for_tier(name)] for name in eaf.get_tier_names()} == {
        "words": ["alpha"], "phones": ["A"], "words (2)": ["beta"], "Words": ["gamma"], "tier 5": ["x"],
        "tier 5 (2)": ["y"], "a": ["c"], "a (2)": ["d"], "tier 9": ["e"]}


@pytest.mark.django_db
def test_a_result_named_only_textgrid_without_a_recording_is_named_after_itself(alice, alice_client, tmp_path):
    project, run = exported_run(alice, tmp_path)
    (Path(default_storage.path(run.fa_process.output_folder)) / ".TextGrid").write_text(grid_text(tmp_path))
    run.fa_process.outputs = sorted([*run.fa_process.outputs, ".TextGrid"])
    run.fa_process.save(update_fields=["outputs"])
    document = json.loads(content(alice_client.get(export_url(project, run, "json", ".TextGrid"))))
    jsonschema.validate(document, SCHEMA)
    assert document["file"] == ".TextGrid"


def test_elan_links_a_recording_with_spaces_and_hashes_by_a_percent_encoded_url(tmp_path):
    eaf = eaf_of(exports.to_eaf(read(tmp_path, recording="take #1 é.wav")), tmp_path)
    assert eaf.media_descriptors[0]["MEDIA_URL"] == "file:///take%20%231%20%C3%A9.wav"


def test_the_confidence_rules_are_the_aligners_own():
    """The web process does not import clamservices.confidence (it loads PocketSphinx): its threshold is pinned."""
    from clamservices import confidence, textgrids

    assert exports.LOW_CONFIDENCE == confidence.LOW
    assert exports.CONFIDENCE_SUFFIX is textgrids.CONFIDENCE_SUFFIX


def test_the_picture_pairs_a_tier_with_its_confidence_tier_as_the_exports_do(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav_bytes())
    (tmp_path / "a.TextGrid").write_text(hand_grid([(" words", [(0, 0.5, "ten"), (0.5, 1, "of")]),
                                                    (" words confidence", [(0, 0.5, "0.2"), (0.5, 1, "0.9")])], end=1))
    drawn = pictures.picture(tmp_path / "a.wav", tmp_path / "a.TextGrid")["tiers"]
    assert [(t["name"], [(i["label"], i["confidence"], i["low"]) for i in t["intervals"] if i["label"]])
            for t in drawn] == [(" words", [("ten", 0.2, True), ("of", 0.9, False)])]


def test_every_document_the_exports_module_points_to_exists():
    source = Path(exports.__file__).read_text(encoding="utf-8")
    named = set(re.findall(r"docs/[\w/.-]+\.\w+", source))
    assert named and all((Path(__file__).parent.parent / name).exists() for name in named), named


# The zip is streamed (pipelines.results.results_zip): its first bytes leave before the results are read.


def intervals_of(archive, name):
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))


@pytest.mark.django_db
@pytest.mark.parametrize("format", ["all", "eaf", "csv"])
def test_the_zip_streams_and_names_a_result_gone_from_the_disk_after_its_first_bytes(
        alice, alice_client, tmp_path, django_assert_num_queries, format):
    project, run = exported_run(alice, tmp_path, stems=("a", "b", "c"))
    folder = Path(default_storage.path(run.fa_process.output_folder))
    response = alice_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]) + f"?format={format}")
    assert response.status_code == 200 and response.streaming and not response.has_header("Content-Length")
    assert response["Content-Type"] == "application/zip" and response["X-Content-Type-Options"] == "nosniff"
    parts = iter(response.streaming_content)
    with django_assert_num_queries(0):  # all the database had to say was read before the first byte
        first = next(parts)
        assert first.startswith(b"PK\x03\x04")  # a member's header: the zip has started
        (folder / "b.TextGrid").unlink()
        data = first + b"".join(parts)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[-1] == "missing-files.txt"  # last: a result can be found gone at any point
    assert archive.read("missing-files.txt").decode().splitlines()[-1:] == ["b.TextGrid"]
    assert "report.csv" in names and not any(name.startswith("b.") or "/b." in name for name in names)
    folders = {"all": ["ELAN", "CSV", "JSON"], "eaf": ["ELAN"], "csv": ["CSV"]}[format]
    expected = {f"{folder_name}/{stem}.{extension}" for folder_name in folders for stem in "ac"
                for extension in [{"ELAN": "eaf", "CSV": "csv", "JSON": "json"}[folder_name]]}
    assert expected <= set(names)
    assert ({"a.TextGrid", "c.TextGrid", "report.json"} <= set(names)) == (format == "all")
    if "CSV" in folders:
        rows = intervals_of(archive, "all-intervals.csv")
        assert {row["file"] for row in rows} == {"a.wav", "c.wav"}
        assert rows == intervals_of(archive, "CSV/a.csv") + intervals_of(archive, "CSV/c.csv")


@pytest.mark.django_db
def test_one_corrupt_textgrid_among_good_ones_leaves_the_others_whole_in_the_streamed_zip(alice, alice_client,
                                                                                          tmp_path):
    project, run = exported_run(alice, tmp_path, stems=("a", "b", "c", "d"))
    corrupt = b'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = \x00\xff'
    (Path(default_storage.path(run.fa_process.output_folder)) / "c.TextGrid").write_bytes(corrupt)
    archive = zipfile.ZipFile(io.BytesIO(content(alice_client.get(
        reverse("pipelines-download-results", args=[project.pk, run.pk])))))
    assert archive.read("c.TextGrid") == corrupt  # as the service delivered it
    assert archive.read("not-converted.txt").decode().splitlines()[-1] == "c.TextGrid"
    for stem in "abd":
        for name in (f"ELAN/{stem}.eaf", f"CSV/{stem}.csv", f"JSON/{stem}.json"):
            assert archive.read(name), name
    assert not any(name.endswith(("/c.eaf", "/c.csv", "/c.json")) for name in archive.namelist())
    assert {row["file"] for row in intervals_of(archive, "all-intervals.csv")} == {"a.wav", "b.wav", "d.wav"}
    assert "missing-files.txt" not in archive.namelist()


@pytest.mark.django_db
def test_a_streamed_zip_past_the_zip64_limits_still_opens(alice, alice_client, tmp_path, monkeypatch):
    """A zip over 4 GB needs ZIP64 records; zipfile decides by ZIP64_LIMIT, lowered here so that a small run
    crosses it (a real one would take minutes to make)."""
    project, run = exported_run(alice, tmp_path, stems=("a", "b", "c"))
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 2000)
    data = content(alice_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk])))
    assert len(data) > 3 * 2000
    assert b"PK\x06\x06" in data  # the ZIP64 end of central directory
    monkeypatch.undo()
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None and "JSON/c.json" in archive.namelist()


@pytest.mark.django_db
def test_anothers_zip_is_a_404_before_anything_streams(alice, bob, tmp_path):
    project, run = exported_run(alice, tmp_path)
    bob_client = CsrfClient()
    bob_client.force_login(bob)
    for format in ("all", "eaf"):
        response = bob_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]) + f"?format={format}")
        assert response.status_code == 404 and not response.streaming


@pytest.mark.django_db
def test_a_head_or_a_range_of_the_zip_is_answered_as_before(alice, alice_client, tmp_path):
    """As when the zip was a file: no ranges (the whole zip, 200), and HEAD gives the headers of a GET."""
    project, run = exported_run(alice, tmp_path)
    url = reverse("pipelines-download-results", args=[project.pk, run.pk])
    head = alice_client.head(url)
    assert head.status_code == 200 and head["Content-Disposition"] == 'attachment; filename="Austen-results.zip"'
    ranged = alice_client.get(url, HTTP_RANGE="bytes=0-9")
    assert ranged.status_code == 200 and not ranged.has_header("Accept-Ranges")
    assert zipfile.ZipFile(io.BytesIO(content(ranged))).testzip() is None
