"""One rule each for what the upload and a run's outputs both decide: what counts as text (upload.checks.text_fault),
which template a file name is of (upload.checks.template_for), a name's stem (upload.names.stem_of); and the run page
deciding "View" once per output file, not on every showing. Runs are built in the database and finished by the
worker's step (tests/test_one_script.py's helpers); pages through Django's test client."""

import os
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from django.urls import reverse

from pipelines import outcomes, results
from scripts import clamnames
from scripts.models import InputTemplate, OutputTemplate, Process, Profile, Script
from tests.test_one_script import finished_run, output_rows, run_folder_of, text
from upload.checks import SNIFF_BYTES, FileRefused, check_content, template_for
from upload.models import ProjectFile
from upload.services import Upload

pytestmark = pytest.mark.django_db


def run_url(name, run, **kwargs):
    return reverse(name, args=[run.project_id, run.pk, *kwargs.values()])


def view_links(page):
    """Names of the outputs the run page offers to view as text."""
    return re.findall(r"/runs/[0-9a-f-]+/text/([^\"]+)\"", page)


# What counts as text


def test_an_output_in_latin_1_is_not_offered_as_text_as_its_upload_would_be_refused(alice, alice_client, tmp_path):
    latin = "café\n".encode("latin-1")  # its last byte starts a character that never comes
    run = finished_run(alice, {"a.counts": b"3\n", "b.counts": latin})
    assert [(o.name, o.text) for o in results.outputs(run)] == [("a.counts", True), ("b.counts", False)]
    page = text(alice_client.get(run_url("pipelines-run", run)))
    assert [name for name, _, _ in output_rows(page)] == ["a.counts", "b.counts"]
    response = alice_client.get(reverse("pipelines-view-text", args=[run.project_id, run.pk, "b.counts"]))
    assert response.status_code == 404

    path = tmp_path / "b.txt"
    path.write_bytes(latin)
    with pytest.raises(FileRefused) as refused:
        check_content(path, "b.txt", ProjectFile.Kind.TRANSCRIPT)
    assert str(refused.value) == ("b.txt: the text is not UTF-8 (byte 3 cannot be decoded); "
                                  "save it as UTF-8 in your editor and upload it again")


@pytest.mark.parametrize("before", [b"", "\ufeff".encode(), b"a" * (SNIFF_BYTES + 3 * 1024 * 1024 + 7),
                                    b"a" * (SNIFF_BYTES - 1) + "é".encode()],
                         ids=["first byte", "after a byte-order mark", "past the first blocks",
                              "after a cut character"])
def test_a_not_utf_8_text_is_refused_with_the_bytes_place_in_the_file(tmp_path, before):
    path = tmp_path / "long.txt"
    path.write_bytes(before + "é\n".encode("latin-1"))
    with pytest.raises(FileRefused) as refused:
        check_content(path, "long.txt", ProjectFile.Kind.TRANSCRIPT)
    assert str(refused.value) == (f"long.txt: the text is not UTF-8 (byte {len(before)} cannot be decoded); save it as "
                                  "UTF-8 in your editor and upload it again")


def test_a_long_output_cut_inside_a_character_by_the_sniffed_start_is_still_text(alice):
    body = ("é" * SNIFF_BYTES).encode()  # two bytes each: the sniffed start ends inside none or one
    run = finished_run(alice, {"a.counts": body, "b.counts": b"x" + body})
    assert [(o.name, o.text) for o in results.outputs(run)] == [("a.counts", True), ("b.counts", True)]


# Which template a name is of


def _script_with(*templates, output=False):
    script = Script.objects.create(name="Tool", url="http://127.0.0.1:9/")
    profile = Profile.objects.create(script=script, index=0)
    model = OutputTemplate if output else InputTemplate
    made = []
    for order, (template_id, extension, filename) in enumerate(templates):
        extra = {} if output else {"unique": False}
        made.append(model.objects.create(profile=profile, template_id=template_id, format="PlainTextFormat",
                                         label=template_id.title(), mimetype="text/plain", extension=extension,
                                         filename=filename, order=order, **extra))
    return made


@pytest.mark.parametrize("output", [False, True], ids=["input templates", "output templates"])
def test_a_name_is_of_the_template_that_names_it_most_closely_for_inputs_and_outputs_alike(output):
    templates = _script_with(("config", "", "config.txt"), ("text", "txt", ""), ("folia", "folia.xml", ""),
                             ("xml", "xml", ""), output=output)
    chosen = {name: getattr(template_for(templates, name), "template_id", None)
              for name in ("config.txt", "CONFIG.TXT", "a.txt", "a.folia.xml", "a.xml", ".xml", "a.md")}
    assert chosen == {"config.txt": "config", "CONFIG.TXT": "config", "a.txt": "text", "a.folia.xml": "folia",
                      "a.xml": "xml", ".xml": "config" if not output else None,
                      "a.md": "config" if not output else None}  # an input's fixed name takes any file


def test_an_upload_named_as_a_fixed_name_template_is_for_that_template(alice):
    from tests.factories import make_project
    from tests.test_one_script import single_pipeline

    pipeline = single_pipeline()
    InputTemplate.objects.create(profile=pipeline.fa_script.profiles.get(), template_id="config", label="Settings",
                                 format="PlainTextFormat", mimetype="text/plain", filename="config.txt", order=5)
    project = make_project(alice, pipeline=pipeline)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("config.txt", b"strict\n"))
    upload.add(SimpleUploadedFile("words.txt", b"some words\n"))
    assert dict(project.files.values_list("name", "template_id")) == {"config.txt": "config", "words.txt": "text"}


def test_an_aligners_upload_named_as_its_fixed_name_template_stays_a_transcript_paired_with_its_recording(alice):
    from tests.factories import make_fa_pipeline, make_project, wav_bytes
    from upload.readiness import readiness

    pipeline = make_fa_pipeline()
    InputTemplate.objects.create(profile=pipeline.fa_script.profiles.get(), template_id="lexicon", label="Lexicon",
                                 format="PlainTextFormat", mimetype="text/plain", filename="lexicon.txt", optional=True,
                                 order=9)
    project = make_project(alice, pipeline=pipeline)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("lexicon.wav", wav_bytes()))
    upload.add(SimpleUploadedFile("lexicon.txt", b"some words\n"))
    upload.add(SimpleUploadedFile("words.lex", b"word W ER D\n"))  # no extension's: the fixed name's template

    assert {f.name: (f.template_id, f.kind) for f in project.files.all()} == {
        "lexicon.wav": ("audio", "audio"), "lexicon.txt": ("transcript", "transcript"),
        "words.lex": ("lexicon", "dictionary")}
    found = readiness(project, list(project.files.all()))
    assert found.pairs == 1 and not found.unpaired


def test_a_run_finds_the_oov_list_and_the_dictionary_by_the_rule_of_the_run_page(alice):
    from pipelines.services import _output_path

    oov, report, dictionary = _script_with(("oov", "txt", ""), ("report", "", "report.txt"), ("dict", "dict", ""),
                                           output=True)
    process = Process(script=oov.profile.script, output_folder="runs/x/fa",
                      outputs=["report.txt", "words.txt", "Report.TXT", ".dict", "g2p.DICT"])
    found = {t.template_id: _output_path(process, t) for t in (oov, report, dictionary)}
    assert {k: v and os.path.basename(v) for k, v in found.items()} == {
        "oov": "words.txt",  # report.txt, Report.TXT are the report's (its fixed name, in any case)
        "report": "report.txt", "dict": "g2p.DICT"}  # ".dict" is no name with that extension


# A name's stem


@pytest.mark.parametrize(("name", "stem"), [("a.wav", "a"), ("a.b.TextGrid", "a.b"), ("noext", "noext"),
                                            (".wav", ".wav"), ("a.", "a."), ("a..", "a..")])
def test_a_name_has_one_stem_for_files_results_and_outcomes(alice, name, stem):
    assert ProjectFile(name=name).stem == stem
    # The names sent to a service pair by the same stem (scripts.clamnames): "a." is not "a.wav"'s partner there.
    sent = clamnames.assign([{"name": name, "template": "audio"}, {"name": "a.txt", "template": "text"}])
    assert sent[0]["stem"] == stem
    assert (sent[0]["clam_stem"] == sent[1]["clam_stem"]) == (stem == "a")
    extension = name[len(stem) + 1:]
    assert results.zip_names(["X", name.upper(), name]) == {"X": "X", name.upper(): name.upper(),
                                                           name: f"{stem} (2)" + (f".{extension}" if extension else "")}
    assert Template("{% load pipelines_tags %}{{ name|stem }}").render(Context({"name": name})) == stem
    script = Script.objects.create(name="Aligner", url="http://127.0.0.1:9/")
    profile = Profile.objects.create(script=script, index=0)
    InputTemplate.objects.create(profile=profile, template_id="audio", format="WaveAudioFormat", label="Audio",
                                 mimetype="audio/wav", filename="input.wav")
    process = Process(script=script, inputs=[{"name": name, "template": "audio"}])
    assert outcomes.audio_inputs(None, process) == {stem: name}


# "View" decided once per output file


def test_the_run_page_looks_into_an_output_once_not_on_every_showing(alice, alice_client, monkeypatch):
    run = finished_run(alice, {"a.counts": b"3\n", "b.counts": b"4\n"})
    url = run_url("pipelines-run", run)
    looked = []
    real = results.text_fault
    # A spy: each look into an output is noted, and answered as always.
    monkeypatch.setattr(results, "text_fault", lambda head, *rest: looked.append(head) or real(head, *rest))
    assert view_links(text(alice_client.get(url))) == ["a.counts", "b.counts"]
    assert view_links(text(alice_client.get(url))) == ["a.counts", "b.counts"]
    assert len(looked) == 2


def test_an_output_rewritten_or_replaced_with_its_size_and_time_kept_is_looked_at_again(alice, alice_client):
    run = finished_run(alice, {"a.counts": b"3\n", "b.counts": b"4\n"})
    url = run_url("pipelines-run", run)
    assert view_links(text(alice_client.get(url))) == ["a.counts", "b.counts"]

    # b.counts rewritten in place, its time set back (a copy that keeps times, or within the clock's resolution).
    path = run_folder_of(run.fa_process) / "b.counts"
    stat = path.stat()
    path.write_bytes(b"\x00\x00")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert view_links(text(alice_client.get(url))) == ["a.counts"]

    # a.counts replaced by another file (renamed into place, as results are) of the same size and time.
    path = run_folder_of(run.fa_process) / "a.counts"
    stat = path.stat()
    other = path.with_name("a.counts.new")
    other.write_bytes(b"\x00\x00")
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, path)
    assert view_links(text(alice_client.get(url))) == []
