"""A truthful "ready to align": every recording with its transcript, every transcript with words;
otherwise the unpaired files are listed and the complete pairs can be aligned only by explicit choice."""

import io
import re
from html import unescape

import numpy as np
import pytest
import soundfile
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipelines import services
from pipelines.models import Run
from tests.conftest import CsrfClient
from tests.factories import make_project, wav_bytes
from scripts.models import IntegerParameter
from upload.models import ProjectFile
from upload.services import ProjectBusy, delete_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(alice):
    return make_project(alice)


def upload(client, project, **files):
    """files: name → content (bytes); a .wav name with None gets half a second of audio."""
    data = {"files": [SimpleUploadedFile(n, wav_bytes() if c is None else c) for n, c in files.items()]}
    response = client.post_form(reverse("upload-add-files", args=[project.pk]), data, form_url=project.get_absolute_url(),
                                follow=True)
    assert set(project.files.values_list("name", flat=True)) >= set(files), [str(m) for m in response.context["messages"]]
    return response.content.decode()


def page_of(client, project):
    return client.get(project.get_absolute_url()).content.decode()


def start(client, project, **data):
    return client.post_form(reverse("pipelines-start-run", args=[project.pk]), data, form_url=project.get_absolute_url(),
                            follow=True)


def test_a_recording_without_its_transcript_is_listed_and_not_ready(alice_client, project):
    page = upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs", "b.wav": None})
    assert "Ready to align" not in page
    assert "b.wav has no transcript: add b.txt." in page
    assert "Align the 1 complete pair only" in page and "Left out: b.wav." in page
    assert "Start alignment" not in page


def test_a_transcript_without_its_recording_is_listed_and_not_ready(alice_client, project):
    page = upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs", "c.txt": b"two of hearts"})
    assert "c.txt has no recording: add c.wav or c.flac." in page and "Ready to align" not in page
    assert "no audio" in page  # its row in the file table


def test_a_transcript_without_words_is_listed_with_its_recording(alice_client, project):
    page = upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs", "e.wav": None, "e.txt": b"... -- !"})
    assert "e.txt has no words to align (only punctuation or spaces)" in page
    assert "Left out: e.wav, e.txt." in page and "Ready to align" not in page


def test_two_recordings_with_one_name_are_not_a_pair(alice_client, project):
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(8000, dtype=np.int16), 16000, format="FLAC")
    page = upload(alice_client, project, **{"a.wav": None, "a.flac": buffer.getvalue(), "a.txt": b"ten of clubs"})
    assert "a.flac, a.wav, a.txt share the name “a”" in page and "Align the" not in page


def test_every_pair_complete_is_ready(alice_client, project):
    page = upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs", "b.wav": None, "b.txt": b"two"})
    assert "Ready to align: every recording has its transcript (2 pairs)." in page
    assert "Start alignment" in page and "complete pair" not in page


def test_without_a_single_complete_pair_nothing_can_be_started(alice_client, project):
    page = upload(alice_client, project, **{"a.wav": None, "b.txt": b"two", "e.wav": None, "e.txt": b"?"})
    assert "Nothing can be aligned yet" in page
    assert "Start alignment" not in page and "complete pair" not in page
    with pytest.raises(services.CannotStart, match="Nothing can be aligned: no recording can be aligned with its transcript"):
        services.start_alignment(project, only_complete_pairs=True)


def test_starting_with_unpaired_files_is_refused_without_the_choice(alice_client, project):
    upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs", "b.wav": None, "c.txt": b"two"})
    with pytest.raises(services.CannotStart) as caught:
        services.start_alignment(project)
    assert "b.wav has no transcript: add b.txt. c.txt has no recording: add c.wav or c.flac." in str(caught.value)
    assert "“Align the 1 complete pair only”" in str(caught.value)
    response = start(alice_client, project)
    assert any("b.wav has no transcript" in str(m) for m in response.context["messages"])
    assert not Run.objects.exists()


def test_the_complete_pairs_only_are_sent_when_the_researcher_chooses_so(alice_client, project):
    upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs", "b.wav": None, "c.txt": b"two",
                                     "e.wav": None, "e.txt": b"...", "x.dict": b"pony P OW N IY\n"})
    response = start(alice_client, project, only_complete_pairs="yes")
    run = Run.objects.get()
    assert sorted(i["name"] for i in run.fa_process.inputs) == ["a.txt", "a.wav", "x.dict"]
    assert any("Left out, as you chose: b.wav, c.txt, e.txt, e.wav." in str(m) for m in response.context["messages"])


def test_the_choice_changes_nothing_when_every_file_is_paired(alice_client, project):
    upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs"})
    start(alice_client, project, only_complete_pairs="yes")
    assert sorted(i["name"] for i in Run.objects.get().fa_process.inputs) == ["a.txt", "a.wav"]


def test_another_user_cannot_start_a_run_of_the_complete_pairs(alice_client, project, bob):
    upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs", "b.wav": None})
    intruder = CsrfClient()
    intruder.force_login(bob)
    token = intruder.csrf_token(reverse("accounts-password-change"))
    url = reverse("pipelines-start-run", args=[project.pk])
    assert intruder.post(url, {"csrfmiddlewaretoken": token, "only_complete_pairs": "yes"}).status_code == 404
    assert not Run.objects.exists()


def test_the_project_list_tells_ready_from_unpaired(alice_client, project, alice):
    upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs"})
    other = make_project(alice, "Other", pipeline=project.pipeline)
    upload(alice_client, other, **{"a.wav": None, "a.txt": b"ten of clubs", "b.wav": None})
    empty_text = make_project(alice, "Empty text", pipeline=project.pipeline)
    upload(alice_client, empty_text, **{"a.wav": None, "a.txt": b"..."})
    page = alice_client.get(reverse("upload-project-list")).content.decode()
    rows = {name: page[page.index(f">{name}</a>"):].split("</tr>")[0] for name in ("Austen", "Other", "Empty text")}
    assert "ready to align" in rows["Austen"]
    assert "unpaired files" in rows["Other"]
    assert "needs files" in rows["Empty text"]


def test_a_transcript_that_cannot_be_read_is_listed(alice_client, project):
    upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs"})
    f = ProjectFile.objects.get(name="a.txt")
    f.file.storage.delete(f.file.name)
    cache.clear()  # the upload's page cached that it has words; a file's content never changes otherwise
    assert "a.txt cannot be read: upload it again" in page_of(alice_client, project)


def test_an_empty_project_is_told_it_misses_recordings_and_transcripts(alice_client, project):
    page = page_of(alice_client, project)
    assert "Still missing before alignment can start: Recording (.wav or .flac), Transcript (UTF-8 text, .txt)." in page
    # A dictionary alone is no recording either.
    page = upload(alice_client, project, **{"extra.dict": b"zork Z AO R K\n"})
    assert "Still missing before alignment can start: Recording (.wav or .flac), Transcript (UTF-8 text, .txt)." in page


def test_transcripts_without_any_recording_are_told_they_miss_recordings(alice_client, project):
    page = upload(alice_client, project, **{"a.txt": b"ten of clubs"})
    assert "Still missing before alignment can start: Recording (.wav or .flac)." in page
    assert "a.txt has no recording: add a.wav or a.flac." in page and "Ready to align" not in page


def test_a_project_page_during_a_run_offers_nothing_the_run_would_refuse(alice_client, project):
    upload(alice_client, project, **{"a.wav": None, "a.txt": b"ten of clubs"})
    run = services.start_alignment(project)
    page = page_of(alice_client, project)
    assert ("An alignment of this project is running; files cannot be added or deleted until it ends (or is cancelled). "
            f'<a href="{reverse("pipelines-run", args=[project.pk, run.pk])}">Follow the running alignment</a>.') in page
    assert "A new alignment can start when the running one has ended (see Runs below)." in page
    for offer in ("Ready to align", "Start alignment", 'id="upload-form"',
                  f'action="{reverse("upload-add-files", args=[project.pk])}"', "Delete a.wav", "Delete a.txt"):
        assert offer not in page, offer
    assert "Download" in page and reverse("upload-delete-project", args=[project.pk]) in page  # still offered
    # The server still refuses on its own (a page opened before the run started).
    file = project.files.get(name="a.wav")
    response = alice_client.post_form(reverse("upload-delete-file", args=[project.pk, file.pk]), {},
                                      form_url=reverse("upload-project-list"), follow=True)
    assert any("a.wav was not deleted. An alignment of this project is running" in str(m)
               for m in response.context["messages"])
    with pytest.raises(ProjectBusy, match="^An alignment of this project is running; files cannot be added or "
                                          r"deleted until it ends \(or is cancelled\)\.$"):
        delete_file(file)
    assert project.files.filter(pk=file.pk).exists() and file.file.storage.exists(file.file.name)
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.FAILED)
    page = page_of(alice_client, project)
    assert 'id="upload-form"' in page and "Delete a.wav" in page and "Start alignment" in page
    assert "Follow the running alignment" not in page


def length_limit(project, minutes, preset=None):
    """The FA script's longest recording, as the bundled service publishes it (`max_minutes`)."""
    IntegerParameter.objects.create(script=project.pipeline.fa_script, clam_id="max_minutes", type="integer",
                                    name="Longest recording (minutes)", default=minutes, minimum=1, maximum=240,
                                    preset=preset is not None, value=preset)


TOO_LONG = ("a.wav is 1 min 15 s long, 15 s more than the 1 minute the aligner takes: raise “Longest recording "
            "(minutes)” to 2 under Settings before you start; or cut those 15 s from it (silence at its start or end) "
            "and upload it again (tick “Replace”); or split it into shorter recordings, each with its own transcript, "
            "and upload those.")


def test_a_recording_over_the_aligners_length_limit_is_listed_with_what_to_do(alice_client, project):
    length_limit(project, 1)
    page = upload(alice_client, project, **{"a.wav": wav_bytes(75, rate=8000), "a.txt": b"ten of clubs"})
    row = page[page.index('<td class="text-break">a.wav</td>'):].split("</tr>")[0]
    assert '<span class="badge text-bg-warning">too long</span>' in row and TOO_LONG in row
    text_row = page[page.index('<td class="text-break">a.txt</td>'):].split("</tr>")[0]
    assert '<span class="badge text-bg-warning">a.wav too long</span>' in text_row and TOO_LONG not in text_row
    assert "Ready to align" not in page
    assert "Nothing can be aligned yet" in page
    listed = alice_client.get(reverse("upload-project-list")).content.decode()
    assert '<span class="badge text-bg-warning">recording too long</span>' in listed


def test_starting_with_only_recordings_over_the_limit_is_refused_with_the_same_message(alice_client, project):
    length_limit(project, 1)
    upload(alice_client, project, **{"a.wav": wav_bytes(75, rate=8000), "a.txt": b"ten of clubs"})
    response = start(alice_client, project, only_complete_pairs="yes")
    assert [str(m) for m in response.context["messages"]] == [
        f"Nothing can be aligned: no recording can be aligned with its transcript. {TOO_LONG}"]
    assert not Run.objects.exists()


def test_a_recording_over_the_limit_is_left_out_only_by_choice(alice_client, project):
    length_limit(project, 1)
    page = upload(alice_client, project, **{"a.wav": wav_bytes(75, rate=8000), "a.txt": b"ten of clubs",
                                            "b.wav": None, "b.txt": b"two"})
    assert TOO_LONG in page and "Align the 1 complete pair only" in page and "Left out: a.wav, a.txt." in page
    with pytest.raises(services.CannotStart, match=re.escape(TOO_LONG)):
        services.start_alignment(project)
    start(alice_client, project, only_complete_pairs="yes")
    assert sorted(i["name"] for i in Run.objects.get().fa_process.inputs) == ["b.txt", "b.wav"]


def test_the_limit_a_run_sends_is_the_one_checked(alice_client, project):
    length_limit(project, 1)
    upload(alice_client, project, **{"a.wav": wav_bytes(75, rate=8000), "a.txt": b"ten of clubs"})
    # The researcher's choice under Settings (the parameter is not preset) is what the service gets.
    run = services.start_alignment(project, {"max_minutes": "2"})
    assert sorted(i["name"] for i in run.fa_process.inputs) == ["a.txt", "a.wav"]


def test_an_administrators_preset_limit_is_the_one_checked(alice_client, project):
    length_limit(project, 1, preset=2)
    page = upload(alice_client, project, **{"a.wav": wav_bytes(75, rate=8000), "a.txt": b"ten of clubs"})
    assert "Ready to align" in page and "too long" not in page


def test_a_script_without_a_length_limit_leaves_the_length_to_its_service(alice_client, project):
    page = upload(alice_client, project, **{"a.wav": wav_bytes(75, rate=8000), "a.txt": b"ten of clubs"})
    assert "Ready to align" in page and "too long" not in page


def test_a_researcher_may_raise_the_length_limit_under_settings_when_every_recording_is_over_it(alice_client, project):
    length_limit(project, 1)
    page = upload(alice_client, project, **{"a.wav": wav_bytes(75, rate=8000), "a.txt": b"ten of clubs"})
    assert "Start alignment" in page and '<details class="mb-2" open><summary>Settings</summary>' in page
    refused = start(alice_client, project, max_minutes="1")
    assert [str(m) for m in refused.context["messages"]] == [
        f"Nothing can be aligned: no recording can be aligned with its transcript. {TOO_LONG}"]
    assert not Run.objects.exists()
    start(alice_client, project, max_minutes="2")
    assert sorted(i["name"] for i in Run.objects.get().fa_process.inputs) == ["a.txt", "a.wav"]


def test_an_hour_long_recording_a_few_seconds_over_the_limit_is_told_its_exact_length_and_the_way_on(
        alice_client, project):
    length_limit(project, 60)
    hour = wav_bytes(60 * 60 + 3, rate=1000)  # 60 min 3 s, "an hour" to its researcher
    page = unescape(upload(alice_client, project, **{"a.wav": hour, "a.txt": b"ten of clubs"}))
    told = ("a.wav is 60 min 3 s long, 3 s more than the 60 minutes the aligner takes: raise “Longest recording "
            "(minutes)” to 61 under Settings before you start; or cut those 3 s from it (silence at its start or "
            "end) and upload it again (tick “Replace”); or split it into shorter recordings, each with its own "
            "transcript, and upload those.")
    assert told in page
    # As it says: 61 under Settings aligns it.
    start(alice_client, project, max_minutes="61")
    assert sorted(i["name"] for i in Run.objects.get().fa_process.inputs) == ["a.txt", "a.wav"]


def test_a_recording_far_over_a_preset_limit_is_told_to_be_split(alice_client, project):
    length_limit(project, 1, preset=1)
    page = unescape(upload(alice_client, project, **{"a.wav": wav_bytes(60 + 75.2, rate=1000),
                                                     "a.txt": b"ten of clubs"}))
    assert ("a.wav is 2 min 16 s long, 1 min 16 s more than the 1 minute the aligner takes: split it into shorter "
            "recordings, each with its own transcript, and upload those.") in page


def test_a_preset_length_limit_is_not_offered_to_raise(alice_client, project):
    length_limit(project, 1, preset=1)
    page = upload(alice_client, project, **{"a.wav": wav_bytes(75, rate=8000), "a.txt": b"ten of clubs"})
    assert "Start alignment" not in page and "under Settings" not in page
    assert "split it into shorter recordings, each with its own transcript, and upload those." in page
