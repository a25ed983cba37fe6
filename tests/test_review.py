"""The dictionary review: every problem at once, CMUdict phones, words the decoder cannot take,
unknown words left out only by choice, and which recordings hold each word. No CLAM service needed."""

import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from pipelines import outcomes, services
from pipelines.models import RecordingOutcome, Run
from pipelines.review import DictionaryRefused, check_dictionary, check_review, recordings_by_word
from scripts.models import InputTemplate, Process
from tests.conftest import CsrfClient
from tests.factories import make_fa_pipeline, make_project
from upload.models import ProjectFile

PHONES = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"


def refused(text, unknown=(), skip=False, phones=PHONES):
    with pytest.raises(DictionaryRefused) as caught:
        check_review(text, phones, list(unknown), skip)
    return caught.value


# Checking the text


def test_every_problem_is_reported_at_once_with_its_line():
    problems = refused("pony P OW N IY\npony\nzebra Z IY B RR AX\nyak Y AE K\n(  AH\n").problems
    assert problems[:3] == [
        "Line 2: “pony” needs at least one phone after the word.",
        "Line 3: “RR”, “AX” are not phones of this aligner (in the pronunciation of “zebra”).",
        "Line 5: “(” is not a word the aligner can take: a word needs at least one letter or digit.",
    ]
    assert problems[3].startswith("The phones this aligner knows: AA AE")


def test_stress_marked_and_lower_case_phones_as_pasted_from_cmudict_are_stored_without_the_digit():
    checked, _ = check_review("ZEBRA  Z IY1 B R AH0\nzebra(2) z eh1 b r ah0\n", PHONES, ["zebra"])
    assert checked.text == "ZEBRA Z IY B R AH\nzebra(2) Z EH B R AH\n"
    assert "“AO7” is not a phone" in refused("pony P AO7 N IY", ["pony"]).problems[0]  # only stress digits 0-2


def test_without_a_phone_set_phones_are_kept_as_typed():
    checked, _ = check_review("pony p ow1 n iy\n", "", ["pony"])
    assert checked.text == "pony p ow1 n iy\n"


@pytest.mark.parametrize(
    "word, reason",
    [
        ("(", "a word needs at least one letter or digit"),
        ("---", "a word needs at least one letter or digit"),
        ("<s>", "the aligner's own markers"),
        ("[noise]", "the aligner's own markers"),
        ("a(b", "brackets are only allowed as a variant number at the end"),
        ("pony(2", "brackets are only allowed as a variant number at the end"),
        ("pony)", "brackets are only allowed as a variant number at the end"),
    ],
)
def test_words_the_decoder_cannot_take_are_refused_with_the_reason(word, reason):
    problem = refused(f"{word} AH\n").problems[0]
    assert problem.startswith(f"Line 1: “{word}” is not a word the aligner can take: ") and reason in problem


def test_variants_digits_and_apostrophes_are_words():
    checked, _ = check_review("pony(2) P OW N IY\n1990s N AY N\ndon't D OW N T\n", PHONES, [])
    assert checked.words == {"pony", "1990s", "don't"}


def test_an_unknown_word_of_a_transcript_that_cannot_be_a_word_says_how_to_get_past_it():
    problem = refused("foo(bar F UW\n", ["foo(bar"]).problems[0]
    assert "It comes from a transcript: correct the transcript, or delete this line" in problem


def test_comment_lines_are_dropped_as_the_aligner_would():
    checked, _ = check_review(";;; from CMUdict\n# mine\npony P OW1 N IY0\n", PHONES, ["pony"])
    assert checked.text == "pony P OW N IY\n"


# Unknown words left without a pronunciation


def test_an_unknown_word_left_out_is_refused_naming_every_such_word():
    error = refused("pony P OW N IY\n", ["pony", "zebra", "yak"])
    assert error.missing == ["zebra", "yak"]
    assert error.problems == [
        "No pronunciation for “zebra”, “yak”: the recordings with these words cannot be aligned without one. "
        "Add a line for each, or tick “Align without these words” to leave those recordings out."
    ]


def test_line_problems_and_missing_words_are_reported_together_without_blaming_a_word_twice():
    error = refused("pony P OW Q\n", ["pony", "zebra"])
    assert error.problems[0].startswith("Line 1: “Q” is not a phone")
    assert error.missing == ["zebra"] and "No pronunciation for “zebra”" in error.problems[-1]


def test_leaving_words_out_is_an_explicit_choice():
    checked, skipped = check_review("pony P OW N IY\n", PHONES, ["pony", "zebra"], skip_missing=True)
    assert (checked.text, skipped) == ("pony P OW N IY\n", ["zebra"])
    checked, skipped = check_review("", PHONES, ["zebra"], skip_missing=True)  # every word left out
    assert (checked.text, skipped) == ("", ["zebra"])


def test_entries_for_words_that_are_not_unknown_add_variants():
    checked, skipped = check_review("Pony P OW N IY\nthe DH IY\n", PHONES, ["pony"])
    assert checked.text == "Pony P OW N IY\nthe DH IY\n" and skipped == []


def test_an_empty_dictionary_without_unknown_words_is_refused():
    assert refused("\n \n", []).problems == ["The dictionary is empty."]
    assert check_dictionary("", PHONES).text == ""


def test_recordings_are_listed_under_each_of_their_unknown_words():
    outcomes = [RecordingOutcome(recording="b.wav", unknown_words=["zebra", "pony"]),
                RecordingOutcome(recording="a.wav", unknown_words=["pony"])]
    assert recordings_by_word(outcomes, ["pony", "zebra", "yak"]) == {"pony": ["b.wav", "a.wav"], "zebra": ["b.wav"], "yak": []}


# The realignment and the review page (database; the queued CLAM job is never run)


@pytest.fixture
def review_run(alice):
    """Alice's run waiting for review: 'pony' in a.wav and b.wav, 'zebra' in b.wav; c.wav aligned."""
    pipeline = make_fa_pipeline()
    pipeline.fa_dictionary_input = InputTemplate.objects.get(profile__script=pipeline.fa_script, template_id="dictionary")
    pipeline.phone_set = PHONES
    pipeline.save()
    project = make_project(alice, pipeline=pipeline)
    for name in ("a.wav", "a.txt", "b.wav", "b.txt", "c.wav", "c.txt"):
        add_file(project, name, b"x")
    inputs = [{"storage_name": f.file.name, "name": f.name, "template": f.template_id} for f in project.files.all()]
    fa = Process.objects.create(script=pipeline.fa_script, output_folder=f"{project.folder}/fa", status="done", inputs=inputs)
    g2p = Process.objects.create(script=pipeline.fa_script, output_folder=f"{project.folder}/g2p", status="done")
    run = Run.objects.create(project=project, pipeline=pipeline, stage=Run.Stage.REVIEW, fa_process=fa, g2p_process=g2p,
                             oov_words=["pony", "zebra"], dictionary="pony P OW N IY\nzebra Z IY B R AH\n")
    RecordingOutcome.objects.create(run=run, recording="a.wav", status="waiting", code="unknown_words", unknown_words=["pony"])
    RecordingOutcome.objects.create(run=run, recording="b.wav", status="waiting", code="unknown_words",
                                    unknown_words=["pony", "zebra"])
    RecordingOutcome.objects.create(run=run, recording="c.wav", status="aligned", textgrid="c.TextGrid")
    return run


def add_file(project, name, content):
    kind = {"wav": "audio", "txt": "transcript", "dict": "dictionary"}[name.rsplit(".", 1)[1]]
    template = {"audio": "audio", "transcript": "transcript", "dictionary": "dictionary"}[kind]
    f = ProjectFile(project=project, name=name, template_id=template, kind=kind, size=len(content))
    f.file.save(name, ContentFile(content), save=False)
    f.save()
    return f


def sent_names(run):
    return sorted(i["name"] for i in run.realign_process.inputs)


def test_the_review_page_shows_each_word_its_proposal_and_its_recordings(alice_client, review_run):
    page = alice_client.get(reverse("pipelines-review", args=[review_run.project_id, review_run.pk])).content.decode()
    table = page[page.index('id="unknown-words"'):page.index("</table>")]
    assert "<strong>pony</strong>" in table and "<code class=\"d-block\">P OW N IY</code>" in table
    assert "a.wav, b.wav" in table and "c.wav" not in table
    assert "Align without these words" not in page  # offered only once a submission leaves words out


def test_without_outcomes_the_review_page_lists_the_words_only(alice_client, review_run):
    review_run.outcomes.all().delete()
    page = alice_client.get(reverse("pipelines-review", args=[review_run.project_id, review_run.pk])).content.decode()
    assert "<strong>zebra</strong>" in page and "not known for this run" in page


def test_the_review_page_shows_every_problem_at_once(alice_client, review_run):
    url = reverse("pipelines-review", args=[review_run.project_id, review_run.pk])
    page = alice_client.post_form(url, {"dictionary": "pony P OW1 N IY Q\n<s> AH\nzebra\n"}).content.decode()
    problems = page[page.index('id="review-problems"'):]
    for text in ("Line 1: “Q” is not a phone", "Line 2: “&lt;s&gt;” is not a word", "Line 3: “zebra” needs at least one phone"):
        assert text in problems
    review_run.refresh_from_db()
    assert review_run.stage == Run.Stage.REVIEW and review_run.realign_process is None


def test_a_missing_word_is_refused_until_the_researcher_chooses_to_leave_its_recordings_out(alice_client, review_run):
    url = reverse("pipelines-review", args=[review_run.project_id, review_run.pk])
    page = alice_client.post_form(url, {"dictionary": "pony P AO1 N IY0\n"}).content.decode()
    assert "No pronunciation for “zebra”" in page and "Align without these words" in page
    review_run.refresh_from_db()
    assert review_run.stage == Run.Stage.REVIEW

    response = alice_client.post_form(url, {"dictionary": "pony P AO1 N IY0\n", "skip_missing": "on"})
    assert response.status_code == 302
    review_run.refresh_from_db()
    assert review_run.stage == Run.Stage.REALIGNING and review_run.skipped_words == ["zebra"]
    assert review_run.dictionary == "pony P AO N IY\n"
    # Only a.wav is aligned again: b.wav has the skipped word, and c.wav was aligned in the first pass.
    assert sent_names(review_run) == ["a.txt", "a.wav", "equestria.dict"]
    b = review_run.outcomes.get(recording="b.wav")
    assert (b.status, b.message) == ("not_aligned", "you skipped it (no pronunciation for “zebra”)")
    page = alice_client.get(response["Location"])
    messages = [str(m) for m in page.context["messages"]]
    assert messages == ["Your review is saved. Left out, as you chose: the recordings with zebra."]
    # What is aligned is said once, under the status, not in the flash too.
    said = "Aligning 1 of the 3 recordings with your pronunciations, those that need them; 1 keeps the result of " \
           "the first alignment."
    assert page.content.decode().count(said) == 1


def test_another_user_cannot_skip_words_of_a_run_not_theirs(bob, review_run):
    intruder = CsrfClient()
    intruder.force_login(bob)
    token = intruder.csrf_token(reverse("accounts-password-change"))
    url = reverse("pipelines-review", args=[review_run.project_id, review_run.pk])
    response = intruder.post(url, {"csrfmiddlewaretoken": token, "dictionary": "", "skip_missing": "on"})
    assert response.status_code == 404
    review_run.refresh_from_db()
    assert review_run.stage == Run.Stage.REVIEW and review_run.skipped_words == []


def test_realign_keeps_pronunciations_of_the_projects_earlier_dictionary(review_run):
    add_file(review_run.project, "mine.dict", b";;; mine\nfilly F IH L IY\npony P AA N IY\n")
    run = services.realign(review_run, "pony P OW N IY\nzebra Z IY B R AH\n")
    dictionaries = list(run.project.files.filter(kind="dictionary"))
    assert [f.name for f in dictionaries] == ["equestria.dict"]
    assert dictionaries[0].file.read().decode() == "filly F IH L IY\npony P OW N IY\nzebra Z IY B R AH\n"
    assert run.skipped_words == []


def test_realign_refuses_a_missing_word_unless_asked_and_sends_the_files_of_the_first_pass(review_run):
    with pytest.raises(DictionaryRefused, match="No pronunciation for “zebra”"):
        services.realign(review_run, "pony P OW N IY\n")
    add_file(review_run.project, "late.wav", b"x")  # added during the review: not part of this run
    run = services.realign(review_run, "pony P OW N IY\n", skip_missing=True)
    assert run.skipped_words == ["zebra"] and run.stage == Run.Stage.REALIGNING
    assert sent_names(run) == ["a.txt", "a.wav", "equestria.dict"]


def test_a_review_that_leaves_every_waiting_recording_out_ends_the_run_without_aligning_again(review_run):
    run = services.realign(review_run, "", skip_missing=True)
    # Nothing the new dictionary could change: no job, and c.wav's first result is the run's.
    assert run.skipped_words == ["pony", "zebra"] and run.stage == Run.Stage.PROBLEMS
    assert run.realign_process is None and run.result_process == run.fa_process
    assert run.second_pass_note == ("No recording was aligned with your pronunciations: of those that waited "
                                    "for the review, 2 were left out, as you chose; 1 kept the result of the first "
                                    "alignment.")
    assert {o.recording: (o.status, o.message) for o in run.outcomes.all()} == {
        "a.wav": ("not_aligned", "you skipped it (no pronunciation for “pony”)"),
        "b.wav": ("not_aligned", "you skipped it (no pronunciation for “pony”, “zebra”)"),
        "c.wav": ("aligned", "")}
    assert not run.project.files.filter(kind="dictionary").exists()  # no empty dictionary


def test_ipa_stress_marks_are_accepted_and_dropped_for_a_phone_set_in_ipa():
    # A Dutch pipeline's phone set (issue 18): IPA, as gruut writes it with stress marks.
    checked, _ = check_review("huis ˈh œː y s\nkat k ˌɑ t\n", "a aː h k s t y œː ɑ", ["huis", "kat"])
    assert checked.text == "huis h œː y s\nkat k ɑ t\n"
    assert "“ˈAA” is not a phone" in refused("kat k ˈAA t", ["kat"], phones="a h k t ɑ").problems[0]


def test_the_second_pass_sends_each_file_with_the_values_the_first_pass_sent_and_the_dictionary_with_its_presets(
        review_run):
    from scripts.models import StringParameter

    dictionary = InputTemplate.objects.get(profile__script=review_run.pipeline.fa_script, template_id="dictionary")
    StringParameter.objects.create(script=review_run.pipeline.fa_script, input_template=dictionary, clam_id="encoding",
                                   name="Encoding", type="string", value="utf-8", preset=True)
    fa = review_run.fa_process
    fa.inputs = [{**i, "metadata": {"dialect": "us"}} if i["template"] == "transcript" else i for i in fa.inputs]
    fa.save()
    run = services.realign(review_run, "pony P OW N IY\nzebra Z IY B R AH\n")
    sent = {i["name"]: i.get("metadata") for i in run.realign_process.inputs}
    # c.wav, aligned in the first pass, keeps its result: it is not sent again.
    assert sent == {"a.wav": None, "a.txt": {"dialect": "us"}, "b.wav": None, "b.txt": {"dialect": "us"},
                    "equestria.dict": {"encoding": "utf-8"}}


# Which recordings the realignment is given (services._second_pass)


def test_a_variant_of_a_word_the_aligner_knew_sends_every_recording_and_says_why(alice_client, review_run):
    url = reverse("pipelines-review", args=[review_run.project_id, review_run.pk])
    response = alice_client.post_form(url, {"dictionary": "pony P OW N IY\nzebra Z IY B R AH\nclubs K L AH B Z\n"})
    review_run.refresh_from_db()
    # "clubs" may be in c.wav's transcript as in any other: only the service knows its words.
    assert sent_names(review_run) == ["a.txt", "a.wav", "b.txt", "b.wav", "c.txt", "c.wav", "equestria.dict"]
    page = alice_client.get(response["Location"])
    said = ("Aligning every recording again with your pronunciations (3), since your review changed the "
            "pronunciations of words the aligner already knew (“clubs”), which any recording may have.")
    assert [str(m) for m in page.context["messages"]] == ["Your review is saved."]
    assert page.content.decode().count(said) == 1
    # The API (and so the client) says the same, why included.
    detail = alice_client.get(reverse("api-run-detail", args=[review_run.project_id, review_run.pk])).json()
    assert detail["realignment"] == said


def test_a_changed_pronunciation_in_the_projects_own_dictionary_sends_every_recording(review_run):
    own = add_file(review_run.project, "mine.dict", b"filly F IH L IY\n")
    fa = review_run.fa_process
    fa.inputs = [*fa.inputs, {"storage_name": own.file.name, "name": "mine.dict", "template": "dictionary"}]
    fa.save()
    run = services.realign(review_run, "pony P OW N IY\nzebra Z IY B R AH\nfilly F IH L AY\n")
    assert "c.wav" in sent_names(run) and "“filly”" in run.second_pass_note
    # Unchanged, the first pass's dictionary entries need nothing aligned again.
    run.stage, run.realign_process = Run.Stage.REVIEW, None
    run.save()
    project = run.project
    kept = project.files.get(name="equestria.dict")
    fa.inputs = [*fa.inputs[:-1], {"storage_name": kept.file.name, "name": "equestria.dict", "template": "dictionary"}]
    fa.save()
    run = services.realign(run, "pony P OW N IY\nzebra Z IY B R AH\n")
    assert sent_names(run) == ["a.txt", "a.wav", "b.txt", "b.wav", "equestria.dict"]


def test_without_word_lists_per_recording_every_recording_is_aligned_again(review_run):
    # A service without a report: the first pass did not say which recordings have the unknown words.
    review_run.outcomes.update(unknown_words=[])
    review_run.outcomes.filter(recording="a.wav").update(status="aligned", textgrid="a.TextGrid")
    run = services.realign(review_run, "pony P OW N IY\nzebra Z IY B R AH\n")
    assert sent_names(run) == ["a.txt", "a.wav", "b.txt", "b.wav", "c.txt", "c.wav", "equestria.dict"]
    assert run.second_pass_note.endswith("(3), since the aligner did not say which recordings have the unknown "
                                         "words.")


def test_a_kept_recording_whose_file_was_replaced_during_the_review_is_aligned_again(review_run):
    project = review_run.project
    project.files.get(name="c.txt").delete()
    add_file(project, "c.txt", b"another transcript")
    run = services.realign(review_run, "pony P OW N IY\nzebra Z IY B R AH\n")
    assert sent_names(run) == ["a.txt", "a.wav", "b.txt", "b.wav", "c.txt", "c.wav", "equestria.dict"]
    assert run.second_pass_note == ("Aligning all 3 recordings with your pronunciations: each needs them or had a "
                                    "file replaced during the review.")


def test_a_waiting_recording_whose_files_were_deleted_during_the_review_is_not_aligned_and_says_why(review_run):
    project = review_run.project
    for name in ("b.wav", "b.txt"):
        project.files.get(name=name).delete()
    run = services.realign(review_run, "pony P OW N IY\nzebra Z IY B R AH\n")
    assert sent_names(run) == ["a.txt", "a.wav", "equestria.dict"]
    b = run.outcomes.get(recording="b.wav")
    assert (b.status, b.code, b.message) == (
        "not_aligned", "deleted_in_review",
        "its recording b.wav and its transcript b.txt were deleted during the review, so it was not aligned")


@pytest.mark.parametrize("deleted", ["b.wav", "b.txt"])
def test_a_waiting_recording_whose_audio_or_transcript_alone_was_deleted_sends_neither(review_run, deleted):
    review_run.project.files.get(name=deleted).delete()
    run = services.realign(review_run, "pony P OW N IY\nzebra Z IY B R AH\n")
    # Sent alone, b's other file would give a row of its own ("there is no recording for this transcript").
    assert sent_names(run) == ["a.txt", "a.wav", "equestria.dict"]
    b = run.outcomes.get(recording="b.wav")
    # Only the file deleted is named: the other is still in the project.
    what = "recording b.wav" if deleted == "b.wav" else "transcript b.txt"
    assert (b.status, b.code, b.message) == ("not_aligned", outcomes.DELETED_IN_REVIEW,
                                             f"its {what} was deleted during the review, so it was not aligned")


def test_a_kept_recording_whose_transcript_was_deleted_keeps_its_result_when_every_recording_is_sent(review_run):
    review_run.project.files.get(name="c.txt").delete()
    run = services.realign(review_run, "pony P OW N IY\nzebra Z IY B R AH\nclubs K L AH B Z\n")
    assert sent_names(run) == ["a.txt", "a.wav", "b.txt", "b.wav", "equestria.dict"]
    c = run.outcomes.get(recording="c.wav")
    assert (c.status, c.textgrid) == ("aligned", "c.TextGrid")


def test_when_every_waiting_recordings_files_were_deleted_page_and_api_say_so(alice_client, review_run):
    project = review_run.project
    for name in ("a.wav", "b.txt"):
        project.files.get(name=name).delete()
    url = reverse("pipelines-review", args=[project.pk, review_run.pk])
    response = alice_client.post_form(url, {"dictionary": "pony P OW N IY\nzebra Z IY B R AH\n"})
    review_run.refresh_from_db()
    assert review_run.realign_process is None and review_run.stage == Run.Stage.PROBLEMS
    said = ("No recording was aligned with your pronunciations: of those that waited for the review, 2 were "
            "deleted during the review; 1 kept the result of the first alignment.")
    assert [str(m) for m in alice_client.get(response["Location"]).context["messages"]] == ["Your review is saved."]
    detail = alice_client.get(reverse("api-run-detail", args=[project.pk, review_run.pk])).json()
    assert detail["realignment"] == said
    assert said in alice_client.get(reverse("pipelines-run", args=[project.pk, review_run.pk])).content.decode()


def test_deleting_a_file_of_a_recording_that_waits_for_the_review_says_what_it_means_and_the_review_page_marks_it(
        alice_client, review_run):
    project = review_run.project

    def delete(name):
        f = project.files.get(name=name)
        response = alice_client.post_form(reverse("upload-delete-file", args=[project.pk, f.pk]), {},
                                          form_url=reverse("upload-project", args=[project.pk]))
        return [str(m) for m in alice_client.get(response["Location"]).context["messages"]]

    # c.wav was aligned in the first pass: its result stays, and there is nothing to say of the review.
    assert delete("c.txt") == ["c.txt deleted."]
    assert delete("b.wav") == ["b.wav deleted. b.wav waits for your review of the pronunciations; without its "
                               "recording it will not be aligned when you send the review. Upload b.wav again before "
                               "then to have it aligned."]
    page = alice_client.get(reverse("pipelines-review", args=[project.pk, review_run.pk])).content.decode()
    marked = ('<span class="text-muted recording-deleted"><s>b.wav</s> (b.wav deleted during the review: it will not '
              'be aligned)</span>')
    rows = {word: row for word, row in re.findall(r"<strong>(\w+)</strong>(.*?)</tr>", page, re.S)}
    assert rows["zebra"].count(marked) == 1  # the word only b.wav has
    assert f"a.wav, {marked}" in rows["pony"] or f"{marked}, a.wav" in rows["pony"]
    # The run page and the API no longer say it waits for the review.
    run_page = alice_client.get(reverse("pipelines-run", args=[project.pk, review_run.pk])).content.decode()
    assert ">will not be aligned: b.wav deleted during the review</span>" in run_page
    detail = alice_client.get(reverse("api-run-detail", args=[project.pk, review_run.pk])).json()
    labels = {o["recording"]: o["status_label"] for o in detail["outcomes"]}
    assert labels["b.wav"] == "will not be aligned: b.wav deleted during the review"
    assert labels["a.wav"] == "waits for your review"
    assert delete("a.txt") == ["a.txt deleted. a.wav waits for your review of the pronunciations; without its "
                               "transcript it will not be aligned when you send the review. Upload a.txt again "
                               "before then to have it aligned."]
