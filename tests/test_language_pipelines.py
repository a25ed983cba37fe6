"""The bundled Dutch pipeline (issue 18): registered next to English, offered on the "new project" page, its
review in Dutch IPA, and a Dutch project through the real bundled services and task queue."""

import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from praatio import textgrid

from clamservices import languages
from pipelines import services
from pipelines.bundled import setup
from pipelines.models import Run
from pipelines.review import DictionaryRefused
from scripts.models import Pipeline
from tests.helpers import work_until
from upload.models import Project
from upload.services import Upload

DUTCH = "De kat zit op de mat en de hond slaapt in het huis"


def presets(script):
    return {p.clam_id: p.specific.value for p in script.parameters.filter(preset=True)}


@pytest.mark.django_db
def test_a_dutch_pipeline_is_registered_next_to_english_on_the_same_services(dutch, fa_service, g2p_service):
    english = Pipeline.objects.get(name="English")
    assert (dutch.language, dutch.approximate, english.approximate) == ("nl", True, False)
    assert dutch.fa_script.url == english.fa_script.url == fa_service.url
    assert dutch.g2p_script.url == english.g2p_script.url == g2p_service.url
    assert presets(dutch.fa_script)["language"] == "nl" and presets(dutch.g2p_script)["language"] == "nl"
    assert presets(english.fa_script) == {"language": "en-us", "phone_alphabet": "ipa"}
    assert "phone_alphabet" not in presets(dutch.fa_script)  # the researcher chooses IPA or X-SAMPA
    assert set(dutch.phone_set.split()) == languages.phones("nl") and "AA" not in dutch.phone_set.split()
    assert (dutch.oov_output.template_id, dutch.fa_dictionary_input.template_id) == ("oov", "dictionary")
    assert dutch.fa_dictionary_input.profile.script == dutch.fa_script
    # Run again (every `make run`): nothing new, nothing an administrator set is undone.
    dutch.description = "ours"
    dutch.save()
    assert setup(fa_service.url, g2p_service.url) == []
    assert Pipeline.objects.get(name="Dutch").description == "ours"
    assert Pipeline.objects.count() == 2


@pytest.mark.django_db
def test_an_unknown_bundled_language_is_named_with_the_choices(settings, fa_service, g2p_service):
    settings.EQUESTRIA_BUNDLED_LANGUAGES = ["en-us", "fy"]
    assert setup(fa_service.url, g2p_service.url) == [
        "EQUESTRIA_BUNDLED_LANGUAGES: fy is not a language of the bundled services; choose from en-us, nl, de, fr, es, it"]


@pytest.mark.django_db
def test_the_new_project_page_says_what_each_pipeline_aligns_and_with_which_model(dutch, alice_client):
    page = alice_client.get(reverse("upload-create-project")).content.decode()
    assert "English — aligns en-us, native acoustic model" in page
    assert "Dutch — aligns nl, approximate: phones mapped to another language&#x27;s acoustic model" in page
    english = Pipeline.objects.get(name="English")
    assert f'<option value="{english.pk}" selected>' in page  # English stays the default


@pytest.mark.django_db
def test_a_review_with_an_english_phone_in_the_dutch_pipeline_is_refused_with_the_dutch_phones(dutch, alice):
    project = Project.objects.create(owner=alice, name="nl", pipeline=dutch)
    run = Run.objects.create(project=project, pipeline=dutch, stage=Run.Stage.REVIEW, oov_words=["slaapt"])
    with pytest.raises(DictionaryRefused) as refused:
        services.realign(run, "slaapt s l AA p t\n")
    assert refused.value.problems == [
        "Line 1: “AA” is not a phone of this aligner (in the pronunciation of “slaapt”).",
        f"The phones this aligner knows: {' '.join(sorted(languages.phones('nl')))}.",
    ]


def espeak(folder, stem, voice, text):
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(folder / f"{stem}.wav"), text], check=True, timeout=60)
    (folder / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")


@pytest.mark.django_db(transaction=True)
def test_a_dutch_project_gets_textgrids_with_dutch_phones_after_reviewing_its_unknown_word(dutch, alice, tmp_path):
    espeak(tmp_path, "kat", "nl", DUTCH)
    project = Project.objects.create(owner=alice, name="Nederlands", pipeline=dutch)
    upload = Upload(project)
    for name in ("kat.wav", "kat.txt"):
        upload.add(SimpleUploadedFile(name, (tmp_path / name).read_bytes()))
    run = work_until(services.start_alignment(project), {Run.Stage.REVIEW, Run.Stage.FAILED, Run.Stage.DONE})
    assert run.stage == Run.Stage.REVIEW, run.error
    assert run.oov_words == ["slaapt"]
    assert run.dictionary == "slaapt s l a p t\n"  # gruut's Dutch G2P, in Dutch IPA

    run = work_until(services.realign(run, run.dictionary), {Run.Stage.DONE, Run.Stage.FAILED, Run.Stage.PROBLEMS})
    assert run.stage == Run.Stage.DONE, run.error
    grid = textgrid.openTextgrid(str(Path(default_storage.path(run.result_process.output_folder)) / "kat.TextGrid"),
                                 includeEmptyIntervals=False)
    assert [e.label for e in grid.getTier("words").entries] == DUTCH.split()
    phones = [e.label for e in grid.getTier("phones").entries]
    assert phones[:5] == ["d", "ə", "k", "ɑ", "t"] and phones[-4:] == ["h", "œː", "y", "s"]
    assert set(phones) <= languages.phones("nl")


@pytest.mark.django_db
def test_setup_bundled_services_stops_at_once_on_an_unknown_language(settings):
    from django.core.management import CommandError, call_command

    settings.EQUESTRIA_BUNDLED_LANGUAGES = ["nl", "xx", "yy"]
    with pytest.raises(CommandError, match="^EQUESTRIA_BUNDLED_LANGUAGES: xx, yy are not a language of the bundled "
                                           "services; choose from en-us, nl, de, fr, es, it$"):
        call_command("setup_bundled_services", wait=600)  # no service runs: it must not wait for one


@pytest.mark.django_db
def test_a_pipeline_in_one_language_cannot_be_built_on_a_script_preset_to_another(dutch, admin_client):
    """Trial: "Dutch" made in the admin on the English aligner was offered, and transcribed Dutch words as English."""
    english = Pipeline.objects.get(name="English")
    data = {"name": "Dutch too", "kind": "alignment", "language": "nl", "description": "", "fa_script": english.fa_script.pk,
            "g2p_script": dutch.g2p_script.pk, "oov_output": english.oov_output.pk,
            "g2p_input": dutch.g2p_input.pk, "dictionary_output": dutch.dictionary_output.pk,
            "fa_dictionary_input": english.fa_dictionary_input.pk, "phone_set": ""}
    response = admin_client.post(reverse("admin:scripts_pipeline_add"), data)
    assert response.status_code == 200 and not Pipeline.objects.filter(name="Dutch too").exists()
    errors = response.context["adminform"].form.errors
    assert errors["fa_script"] == [
        "This Script works in “en-us” (its “language” parameter), not in “nl”: choose one whose language is preset to "
        "nl (the bundled setup makes one per language of EQUESTRIA_BUNDLED_LANGUAGES), preset its language on its "
        "page, or change this pipeline's language."]
    assert "g2p_script" not in errors
    data.update(fa_script=dutch.fa_script.pk, fa_dictionary_input=dutch.fa_dictionary_input.pk,
                oov_output=dutch.oov_output.pk)
    response = admin_client.post(reverse("admin:scripts_pipeline_add"), data)
    assert response.status_code == 302 and Pipeline.objects.filter(name="Dutch too").exists()


@pytest.mark.django_db
def test_the_run_page_and_the_api_list_the_phone_alphabet_only_for_a_language_whose_phones_it_writes(
        dutch, alice, alice_client, tmp_path, django_assert_max_num_queries):
    from clamservices.config import forced_alignment
    from pipelines.bundled import FA_SERVICE_NAME
    from tests.helpers import DATA
    from tests.test_api import api, token_for

    assert FA_SERVICE_NAME == forced_alignment.SYSTEM_NAME  # how the bundled aligner's Scripts are known
    english = Pipeline.objects.get(name="English")
    project = Project.objects.create(owner=alice, name="English", pipeline=english)
    upload = Upload(project)
    for name in ("cards-001.wav", "cards-001.txt"):
        upload.add(SimpleUploadedFile(name, (DATA / name).read_bytes()))
    run = work_until(services.start_alignment(project), Run.FINISHED)
    assert run.stage == Run.Stage.DONE, run.error
    # The English Script presets the alphabet (so its form does not offer it), and the run sent it; its TextGrid's
    # phones are ARPAbet all the same.
    assert run.parameters["phone_alphabet"] == "ipa"
    grid = textgrid.openTextgrid(str(Path(default_storage.path(run.result_process.output_folder)) /
                                     "cards-001.TextGrid"), includeEmptyIntervals=False)
    assert {"T", "EH", "N"} <= {e.label for e in grid.getTier("phones").entries}

    client = api(token_for(alice))

    def listed(run):
        page = alice_client.get(reverse("pipelines-run", args=[run.project_id, run.pk])).content.decode()
        parameters = page.split("<dt class=\"col-sm-3\">Parameters</dt>", 1)[1].split("</dd>", 1)[0]
        detail = client.get(reverse("api-run-detail", args=[run.project_id, run.pk])).json()
        return parameters, detail["parameters"]

    page, parameters = listed(run)
    assert "Phone alphabet" not in page and "Language = en-us" in page
    # What the run's language is, and whose the script is, costs no query of its own: the token; the run with its
    # project, pipeline, FA script and processes; its outcomes; its corrected versions.
    with django_assert_max_num_queries(4):
        assert "phone_alphabet" not in client.get(reverse("api-run-detail", args=[project.pk, run.pk])).json()[
            "parameters"]
    assert "phone_alphabet" not in parameters and parameters["language"] == "en-us"

    # A Dutch run's phones are written in the alphabet chosen: it is listed.
    nederlands = Project.objects.create(owner=alice, name="Nederlands", pipeline=dutch)
    espeak(tmp_path, "kat", "nl", DUTCH)
    upload = Upload(nederlands)
    for name in ("kat.wav", "kat.txt"):
        upload.add(SimpleUploadedFile(name, (tmp_path / name).read_bytes()))
    run = services.start_alignment(nederlands, {"phone_alphabet": "xsampa"})
    page, parameters = listed(run)
    assert "Phone alphabet = xsampa" in page and "Language = nl" in page
    assert (parameters["phone_alphabet"], parameters["language"]) == ("xsampa", "nl")
