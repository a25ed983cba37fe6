"""A pipeline is offered to researchers only when it can run: its Scripts have profiles and its templates
connect (scripts.models.Pipeline.problems); `manage.py check` and the admin name the others."""

from html import unescape

import pytest
from django.core import checks
from django.urls import reverse

from scripts.models import InputTemplate, OutputTemplate, Pipeline, Profile, Script
from tests.factories import make_fa_pipeline, make_project

pytestmark = pytest.mark.django_db

NEVER_IMPORTED = "its forced-alignment script “Aligner” has no profiles: it was never imported (saving it in the admin imports it)"


def never_imported_pipeline(name="Broken"):
    script = Script.objects.create(name="Aligner", url="http://127.0.0.1:9/")
    return Pipeline.objects.create(name=name, language="nl", fa_script=script)


def g2p_script(name="G2P"):
    script = Script.objects.create(name=name, url="http://127.0.0.1:9/")
    profile = Profile.objects.create(script=script, index=0)
    InputTemplate.objects.create(profile=profile, template_id="wordlist", format="PlainTextFormat", label="Words",
                                 extension="txt")
    OutputTemplate.objects.create(profile=profile, template_id="dictionary", format="PlainTextFormat",
                                  label="Dictionary", extension="dict")
    return script


def test_a_pipeline_whose_script_was_never_imported_is_not_offered_and_check_says_why(alice_client):
    english = make_fa_pipeline()
    broken = never_imported_pipeline()
    assert [p.name for p in Pipeline.objects.offered()] == ["English"]
    assert Pipeline.objects.broken() == [(broken, [NEVER_IMPORTED])]

    page = alice_client.get(reverse("upload-create-project")).content.decode()
    assert f'value="{english.pk}"' in page and f'value="{broken.pk}"' not in page
    response = alice_client.post_form(reverse("upload-create-project"), {"name": "x", "pipeline": broken.pk})
    assert "Select a valid choice." in response.content.decode()

    warnings = [m for m in checks.run_checks() if m.id == "scripts.W001"]
    assert [m.msg for m in warnings] == [f"Pipeline “Broken” is not offered to researchers: {NEVER_IMPORTED}."]


def test_with_only_broken_pipelines_the_new_project_page_says_there_is_nothing_to_align_with(alice_client):
    never_imported_pipeline()
    page = alice_client.get(reverse("upload-create-project")).content.decode()
    assert "No pipelines are set up on this server yet, so there is nothing to align with." in page


def test_a_script_whose_import_failed_is_named_with_the_reason():
    pipeline = never_imported_pipeline()
    Script.objects.filter(name="Aligner").update(import_error="cannot connect to http://127.0.0.1:9/ (connection refused)")
    pipeline.refresh_from_db()
    assert pipeline.problems() == [
        "its forced-alignment script “Aligner” has no profiles: its last import failed "
        "(cannot connect to http://127.0.0.1:9/ (connection refused))"
    ]


def test_templates_must_belong_to_their_scripts_and_the_g2p_chain_be_complete():
    pipeline = make_fa_pipeline()
    g2p = g2p_script()
    pipeline.g2p_script = g2p
    pipeline.g2p_input = InputTemplate.objects.get(template_id="transcript")  # the aligner's, not the G2P's
    pipeline.dictionary_output = OutputTemplate.objects.get(template_id="dictionary")
    pipeline.save()
    assert pipeline.problems() == [
        "“G2P input taking the word list” (transcript) is not a template of the G2P script",
        "“FA output listing OOV words” is empty, and the G2P script needs it",
        "“FA input taking a dictionary” is empty, and the G2P script needs it",
    ]
    # Without a G2P script, its templates connect nothing.
    pipeline.g2p_script = None
    pipeline.g2p_input = InputTemplate.objects.get(template_id="wordlist")
    pipeline.save()
    assert pipeline.problems() == [
        "“G2P input taking the word list” (wordlist) is not a template of the G2P script, and the pipeline has none",
        "“G2P output with the dictionary” (dictionary) is not a template of the G2P script, and the pipeline has none",
    ]
    pipeline.g2p_input = pipeline.dictionary_output = None
    pipeline.save()
    assert pipeline.problems() == [] and list(Pipeline.objects.offered()) == [pipeline]


def test_the_admins_form_and_the_offering_apply_one_rule_of_what_the_g2p_script_needs():
    from itertools import combinations

    from django.core.exceptions import ValidationError

    pipeline = make_fa_pipeline()
    g2p = g2p_script()
    chosen = {
        "oov_output": OutputTemplate.objects.create(profile=pipeline.fa_script.profiles.get(), template_id="oov",
                                                    format="PlainTextFormat", label="OOV words", extension="oov"),
        "fa_dictionary_input": InputTemplate.objects.get(template_id="dictionary"),
        "g2p_input": InputTemplate.objects.get(template_id="wordlist"),
        "dictionary_output": OutputTemplate.objects.get(template_id="dictionary"),
    }
    for size in range(len(chosen) + 1):
        for empty in combinations(Pipeline.TEMPLATE_FIELDS, size):
            pipeline.g2p_script = g2p
            for field, template in chosen.items():
                setattr(pipeline, field, None if field in empty else template)
            named = {field for field in Pipeline.TEMPLATE_FIELDS
                     if f"“{Pipeline._meta.get_field(field).verbose_name}” is empty" in " ".join(pipeline.problems())}
            try:
                pipeline.clean()
                refused = {}
            except ValidationError as exc:
                refused = exc.message_dict
            assert named == set(empty) == set(refused), empty
            assert all(messages == ["Needed to connect the G2P script."] for messages in refused.values())


UNAVAILABLE = (
    "The pipeline “English” of this project cannot be used at the moment: it needs repair by an administrator. "
    "Your files are kept; an alignment can start once it is repaired."
)


def test_a_project_of_a_pipeline_that_broke_shows_why_instead_of_a_start_button(alice, alice_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import wav_bytes

    project = make_project(alice)
    alice_client.post_form(
        reverse("upload-add-files", args=[project.pk]),
        {"files": [SimpleUploadedFile("a.txt", b"ten of clubs"), SimpleUploadedFile("a.wav", wav_bytes())]},
        form_url=project.get_absolute_url(),
    )
    assert "Start alignment" in alice_client.get(project.get_absolute_url()).content.decode()

    Profile.objects.filter(script=project.pipeline.fa_script).delete()  # e.g. a re-import of a changed service
    page = unescape(alice_client.get(project.get_absolute_url()).content.decode())
    assert UNAVAILABLE in page and "Start alignment" not in page
    response = alice_client.post_form(reverse("pipelines-start-run", args=[project.pk]), {},
                                      form_url=project.get_absolute_url(), follow=True)
    assert UNAVAILABLE in [str(m) for m in response.context["messages"]]
    assert not project.runs.exists()


def test_the_project_list_and_page_say_a_pipeline_that_broke_needs_repair_instead_of_ready(
        alice, alice_client, django_assert_max_num_queries):
    import re

    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import wav_bytes

    project = make_project(alice)
    make_project(alice, "Sense", pipeline=make_fa_pipeline("Dutch"))
    alice_client.post_form(
        reverse("upload-add-files", args=[project.pk]),
        {"files": [SimpleUploadedFile("a.txt", b"ten of clubs"), SimpleUploadedFile("a.wav", wav_bytes())]},
        form_url=project.get_absolute_url(),
    )

    def states():
        with django_assert_max_num_queries(8):
            page = alice_client.get(reverse("upload-project-list")).content.decode()
        rows = re.findall(r"<tr>\s*<td><a [^>]*>([^<]*)</a></td>.*?<span class=\"badge ([^\"]*)\">([^<]*)</span>", page, re.S)
        return {name: (badge, label) for name, badge, label in rows}

    assert states() == {"Austen": ("text-bg-success", "ready to align"), "Sense": ("text-bg-light", "empty")}
    # The aligner's files are as they were; the G2P script added to the pipeline was never imported.
    Pipeline.objects.filter(pk=project.pipeline.pk).update(g2p_script=Script.objects.create(name="G2P", url="http://127.0.0.1:9/"))
    assert states() == {"Austen": ("text-bg-warning", "pipeline needs repair"), "Sense": ("text-bg-light", "empty")}
    page = unescape(alice_client.get(project.get_absolute_url()).content.decode())
    assert re.search(r'id="project-state">State:\s*<span class="badge text-bg-warning">pipeline needs repair</span>', page)
    assert UNAVAILABLE in page and "Start alignment" not in page


def test_the_pipeline_admin_warns_of_broken_pipelines(admin_client):
    make_fa_pipeline()
    broken = never_imported_pipeline()
    warning = (
        "Pipeline “Broken” is not offered to researchers, and its projects cannot start an alignment: "
        f"{NEVER_IMPORTED}."
    )
    page = unescape(admin_client.get(reverse("admin:scripts_pipeline_changelist")).content.decode())
    assert warning in page and page.count("is not offered to researchers") == 1
    assert page.count('<td class="field-offered"><img src="/static/admin/img/icon-no.svg" alt="False"></td>') == 1
    page = unescape(admin_client.get(reverse("admin:scripts_pipeline_change", args=[broken.pk])).content.decode())
    assert warning in page
