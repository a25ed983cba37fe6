"""CLAM's own demo services, imported as an administrator would add a service Equestria has never seen.

Each demo runs unchanged from the installed `clam` package (tests/clamconfigs/demo_serve.py). What the
importer stored is compared field by field with the service's description as the `clam` client parses
it (a second reader of the same XML), and, where the client drops things (converters, constraints,
labels), with the XML itself.
"""

import clam.common.client
import clam.common.data
import pytest
import requests
from lxml import etree

from scripts import importer
from scripts.models import Script

pytestmark = pytest.mark.django_db

PROFILE_DEMOS = ["textstats", "test", "test2", "constrainttest"]


def imported(service, name):
    script = Script.objects.create(name=name, url=service.url)
    assert importer.import_script(script) is None
    script.refresh_from_db()
    return script


def _flat_outputs(outputs, condition=()):
    """(OutputTemplate, [(clauses, holds)]) from the client's parse, conditions unfolded."""
    for output in outputs:
        if isinstance(output, clam.common.data.ParameterCondition):
            clauses = [[key, operator, str(value)] for key, value, _, operator in output.conditions]
            yield from _flat_outputs([output.then], [*condition, {"if": clauses, "holds": True}])
            if output.otherwise:
                yield from _flat_outputs([output.otherwise], [*condition, {"if": clauses, "holds": False}])
        else:
            yield output, list(condition)


@pytest.mark.parametrize("demo", PROFILE_DEMOS)
def test_a_demo_service_is_imported_as_it_describes_itself(clam_demo, demo):
    service = clam_demo(demo)
    script = imported(service, demo)
    described = clam.common.client.CLAMClient(service.url).index()
    xml = etree.fromstring(requests.get(service.url, timeout=10).content)

    assert script.service_name == described.system_name
    assert script.clam_version == xml.get("version")
    assert script.auth_scheme == "none"
    profiles = list(script.profiles.all())
    assert len(profiles) == len(described.profiles)
    for profile, theirs, their_xml in zip(profiles, described.profiles, xml.iterfind("profiles/profile")):
        inputs = list(profile.input_templates.all())
        assert [t.template_id for t in inputs] == [t.id for t in theirs.input]
        for ours, their, element in zip(inputs, theirs.input, their_xml.iterfind("input/InputTemplate")):
            assert (ours.format, ours.label, ours.mimetype) == (
                their.formatclass.__name__, their.label, their.formatclass.mimetype)
            assert (ours.extension, ours.filename) == (their.extension or "", their.filename or "")
            assert (ours.unique, ours.accept_archive, ours.optional) == (their.unique, their.acceptarchive, their.optional)
            assert [p.clam_id for p in ours.parameters.all()] == [p.id for p in their.parameters]
            assert {p.clam_id: p.type for p in ours.parameters.all()} == {
                p.id: type(p).__name__.removesuffix("Parameter").lower() for p in their.parameters}
            # The client drops converters and the tests of constraints; the XML has them.
            assert ours.converters == [[c.get("id"), c.text] for c in element.iterfind("converter")]
            assert ours.constraints == [
                {"type": c.get("type"), "tests": [[t.get("key"), t.get("operator"), t.get("value")] for t in c.iterfind("test")]}
                for c in element.iterfind("constraint")
            ]
        outputs = list(profile.output_templates.all())
        flat = list(_flat_outputs(theirs.output))
        assert [t.template_id for t in outputs] == [t.id for t, _ in flat]
        for ours, (their, condition) in zip(outputs, flat):
            assert (ours.format, ours.label, ours.extension, ours.filename, ours.parent, ours.unique) == (
                their.formatclass.__name__, their.label, their.extension or "", their.filename or "",
                their.parent or "", their.unique)
            assert ours.condition == condition

    ours = {p.clam_id: p.specific for p in script.parameters.filter(input_template=None)}
    theirs = {p.id: (group, p) for group, parameters in described.parameters for p in parameters}
    assert list(ours) == list(theirs)
    for clam_id, parameter in ours.items():
        group, their = theirs[clam_id]
        assert (parameter.name, parameter.description, parameter.group) == (their.name, their.description, group)
        assert parameter.type == type(their).__name__.removesuffix("Parameter").lower()
        if parameter.type == "choice":
            assert [c.choice_id for c in parameter.choices.all()] == [c for c, _ in their.choices]
            assert parameter.multi == their.multi


def test_textstats_keeps_its_conditional_output_per_template_parameters_and_converters(clam_demo):
    script = imported(clam_demo("textstats"), "textstats")
    (textinput,) = script.profiles.get().input_templates.all()
    language = textinput.parameters.get(clam_id="language").specific
    assert [(c.choice_id, c.label) for c in language.choices.all()] == [("en", "English"), ("nl", "Dutch"), ("fr", "French")]
    assert language.default == "" and not language.preset  # the service chooses no language itself
    assert textinput.parameters.get(clam_id="year").specific.default is None
    assert textinput.converter_text() == (
        "Convert from Latin-1 (latin1): .txt files; Convert from PDF Document (pdfconv): .pdf files; Convert from MS "
        "Word Document (docconv): .doc files")
    lexicon = script.profiles.get().output_templates.get(template_id="lexicon")
    assert lexicon.condition == [{"if": [["createlexicon", "equals", "True"]], "holds": True}]
    assert lexicon.condition_text() == "only when createlexicon is True"
    # A condition on an output's metadata (the author in overall.stats) is not a condition on the output.
    assert script.profiles.get().output_templates.get(template_id="overallstats").condition == []
    globals_ = {p.clam_id: p.specific for p in script.parameters.filter(input_template=None)}
    assert globals_["createlexicon"].default is None
    assert globals_["casesensitive"].default == "no"


def test_test2s_fixed_file_name_and_constrainttests_two_part_extension(clam_demo):
    (fixed,) = imported(clam_demo("test2"), "test2").profiles.get().input_templates.all()
    assert (fixed.filename, fixed.extension) == ("input.txt", "")
    assert fixed.matches_name("my notes.TXT") and fixed.matches_name("anything")

    (folia,) = imported(clam_demo("constrainttest"), "constrainttest").profiles.get().input_templates.all()
    assert (folia.extension, folia.filename) == ("folia.xml", "")
    assert folia.matches_name("book.folia.xml") and folia.matches_name("Book.FoLiA.XML")
    assert not folia.matches_name("book.xml") and not folia.matches_name(".folia.xml")
    assert folia.constraint_text() == "requires pos-annotation exists True"


def test_test_declares_every_parameter_type_and_a_multiple_choice(clam_demo):
    script = imported(clam_demo("test"), "test")
    parameters = {p.clam_id: p.specific for p in script.parameters.filter(input_template=None)}
    assert {k: p.type for k, p in parameters.items()} == {
        "boolean": "boolean", "integer": "integer", "float": "float", "string": "string", "text": "text",
        "colourchoice": "choice", "cities": "choice",
    }
    assert parameters["cities"].multi and not parameters["colourchoice"].multi
    assert [c.label for c in parameters["cities"].choices.all()] == ["Amsterdam", "New York", "London", "Paris"]


@pytest.mark.parametrize("demo, actions", [("actiontest", "Uppercaser, Multiplier, Tabler"), ("multiplier", "Multiplier")])
def test_an_action_only_service_is_not_imported_and_says_why(clam_demo, demo, actions):
    script = Script.objects.create(name=demo, url=clam_demo(demo).url)
    reason = (
        f"the service offers only CLAM actions ({actions}) and no profiles, so it cannot be used in a pipeline: "
        "Equestria runs a service by uploading files to the input templates of one of its profiles, and an action "
        "takes no files"
    )
    assert importer.import_script(script) == reason
    script.refresh_from_db()
    assert script.import_error == reason and script.imported_at is None
    ok, message = importer.check_connection(script)
    name = "actiontest" if demo == "actiontest" else "Multiplier"
    assert not ok
    assert message == f"reachable: CLAM service “{name}” (CLAM 3.2.14), no login needed, but {reason}"


def test_the_script_page_shows_conditions_converters_constraints_and_fixed_names(admin_client, clam_demo):
    from html import unescape

    from django.urls import reverse

    pages = {}
    for demo in ("textstats", "test2", "constrainttest"):
        script = imported(clam_demo(demo), demo)
        pages[demo] = unescape(admin_client.get(reverse("admin:scripts_script_change", args=[script.pk])).content.decode())
    assert "<td>only when createlexicon is True</td>" in pages["textstats"]
    assert ("Convert from Latin-1 (latin1): .txt files<br>Convert from PDF Document (pdfconv): .pdf files"
            in pages["textstats"])
    assert "<td>any name, stored as input.txt</td>" in pages["test2"]
    assert "<td>folia.xml</td>" in pages["constrainttest"]
    assert "<td>requires pos-annotation exists True</td>" in pages["constrainttest"]


def test_a_choice_without_a_server_default_is_not_preselected_for_the_researcher(clam_demo):
    from pipelines.forms import AlignmentForm

    script = imported(clam_demo("test"), "test")
    form = AlignmentForm(script=script)
    assert list(form.fields["colourchoice"].choices) == [
        ("", "— (not set)"), ("red", "red"), ("green", "green"), ("blue", "blue")]
    assert '<option value="" selected>— (not set)</option>' in str(form["colourchoice"])
    # What the browser sends for the page as shown: nothing chosen, so nothing sent.
    submitted = AlignmentForm({"colourchoice": "", "integer": "3"}, script=script)
    assert submitted.is_valid(), submitted.errors
    assert "colourchoice" not in submitted.clam_values() and submitted.clam_values()["integer"] == "3"


def test_adding_an_action_only_service_in_the_admin_says_it_was_not_imported(admin_client, clam_demo):
    from django.urls import reverse

    response = admin_client.post(
        reverse("admin:scripts_script_add"),
        {"name": "Multiplier", "url": clam_demo("multiplier").url, "username": "", "password": "", "description": ""},
        follow=True,
    )
    # After Django's "was added successfully": the import runs once the admin's transaction has committed.
    assert [str(m) for m in response.context["messages"]][-1] == (
        "“Multiplier” was saved, but not imported: the service offers only CLAM actions (Multiplier) and no profiles, "
        "so it cannot be used in a pipeline: Equestria runs a service by uploading files to the input templates of "
        "one of its profiles, and an action takes no files."
    )


def test_a_required_choice_without_a_server_default_must_be_chosen_by_the_researcher(clam_demo):
    from pipelines.forms import AlignmentForm
    from scripts.models import ChoiceParameter

    script = imported(clam_demo("test"), "test")
    ChoiceParameter.objects.filter(script=script, clam_id="colourchoice").update(required=True)
    submitted = AlignmentForm({"colourchoice": ""}, script=script)
    assert not submitted.is_valid()
    assert submitted.errors["colourchoice"] == ["This field is required."]
    chosen = AlignmentForm({"colourchoice": "blue"}, script=script)
    assert chosen.is_valid() and chosen.clam_values()["colourchoice"] == "blue"


FOLIA = b"""<?xml version="1.0" encoding="utf-8"?>
<FoLiA xmlns="http://ilk.uvt.nl/folia" version="2.0" xml:id="book"><metadata/><text xml:id="book.text"/></FoLiA>"""


def test_a_researcher_uploads_files_for_a_fixed_name_and_for_a_two_part_extension(alice, alice_client, clam_demo):
    """Issue 19: test2's template stores any file as input.txt; constrainttest's takes *.folia.xml, not *.xml."""
    from html import unescape

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from scripts.models import Pipeline
    from tests.factories import make_project

    def project_of(demo, name):
        pipeline = Pipeline.objects.create(name=name, language="en", fa_script=imported(clam_demo(demo), demo))
        return make_project(alice, name, pipeline)

    def upload(project, *files):
        response = alice_client.post_form(
            reverse("upload-add-files", args=[project.pk]), {"files": [SimpleUploadedFile(*f) for f in files]},
            form_url=project.get_absolute_url(), follow=True,
        )
        return [str(m) for m in response.context["messages"]]

    def page(project):
        return unescape(alice_client.get(project.get_absolute_url()).content.decode())

    notes, books = project_of("test2", "Notes"), project_of("constrainttest", "Books")
    assert "Accepted: input.txt (fixed name) and .zip archives of them." in page(notes)
    assert "Still missing before alignment can start: Input text document (input.txt, fixed name)." in page(notes)
    assert "Accepted: .folia.xml and .zip archives of them." in page(books)

    assert upload(notes, ("my notes.md", b"Some text to count.")) == ["Added 1 file(s): my notes.md"]
    assert [(f.name, f.template_id, f.kind) for f in notes.files.all()] == [("my notes.md", "textinput", "transcript")]
    assert "Ready to align: the files satisfy what the aligner needs." in page(notes)

    assert upload(books, ("book.folia.xml", FOLIA), ("Essay.FoLiA.XML", FOLIA), ("book.xml", FOLIA)) == [
        "Added 2 file(s): book.folia.xml, Essay.FoLiA.XML",
        "book.xml: .xml files are not used by the Books pipeline; it takes .folia.xml",
    ]
    assert sorted((f.name, f.template_id) for f in books.files.all()) == [
        ("Essay.FoLiA.XML", "foliainput"), ("book.folia.xml", "foliainput")]
