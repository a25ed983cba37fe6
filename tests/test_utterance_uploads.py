"""Transcripts given as TextGrid or EAF utterance tiers (issue 17 item 3), the Django side: the upload check
through the real view, archives, pairing and readiness, the project list's cached answer."""

import io
import zipfile

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import make_fa_pipeline, make_project, wav_bytes
from tests.helpers import DATA
from tests.utterance_files import eaf, textgrid
from upload.models import ProjectFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(alice):
    return make_project(alice, pipeline=make_fa_pipeline(tiered=True))


def upload(client, project, *files, replace=False):
    data = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    if replace:
        data["replace"] = "on"
    return client.post_form(reverse("upload-add-files", args=[project.pk]), data, form_url=project.get_absolute_url(),
                            follow=True)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def names(project):
    return sorted(project.files.values_list("name", flat=True))


@pytest.mark.parametrize("name, content", [
    ("a.TextGrid", textgrid()),
    ("a.TextGrid", textgrid(short=True)),  # Praat's "short text file"
    ("a.TextGrid", textgrid(encoding="utf-16")),  # what Praat saves when a label is not ASCII
    ("a.TextGrid", b"\xef\xbb\xbf" + textgrid()),
    ("a.textgrid", textgrid()),
    ("a.eaf", eaf()),
    ("a.eaf", eaf(dependent={"translation": ("speaker A", ["dix de trèfle"])})),
])
def test_a_textgrid_or_eaf_of_utterances_is_a_transcript_paired_with_its_recording(alice_client, project, name,
                                                                                   content):
    response = upload(alice_client, project, ("a.wav", wav_bytes()), (name, content))
    assert messages_of(response) == [f"Added 2 file(s): a.wav, {name}"]
    f = project.files.get(name=name)
    assert (f.kind, f.template_id) == ("transcript", "transcript_eaf" if name.endswith("eaf") else "transcript_textgrid")
    page = response.content.decode()
    assert "Ready to align: every recording has its transcript (1 pair)." in page
    assert f"with {name}" in page and "with a.wav" in page


@pytest.mark.parametrize("name, content, message", [
    ("bad.TextGrid", b'File type = "ooTextFile"\nObject class = "TextGrid"\nxmin = 0\nxmax = zz\n',
     "bad.TextGrid: it cannot be read as a TextGrid (a line is missing or damaged); open it in Praat, save it again "
     "as a text file and upload that"),
    ("bin.TextGrid", b"ooBinaryFile\x08TextGrid\x00\x00\x00",
     "bin.TextGrid: it is a binary TextGrid; in Praat, save it with “Save as text file…” and upload that"),
    ("notes.TextGrid", b"just some notes about the recording\n",
     "notes.TextGrid: it is not a Praat TextGrid (its first lines do not say “TextGrid”)"),
    ("latin1.TextGrid", textgrid(encoding="latin-1"),
     "latin1.TextGrid: it is not UTF-8 or UTF-16 text (byte 1033 cannot be decoded); save it from Praat as a text file"),
    ("silent.TextGrid", textgrid({"speaker A": [(0.1, 0.9, ""), (1.0, 1.5, "...")], "speaker B": []}),
     "silent.TextGrid: no interval on its tiers (speaker A, speaker B) has words to align: write the words spoken in "
     "each utterance's interval (labels between brackets, such as <noise>, are not words)"),
    ("points.TextGrid", textgrid({}, points={"beats": [(0.5, "one"), (1.0, "two")]}),
     "points.TextGrid: the Praat TextGrid file has no interval tier: add a tier with the utterances "
     "(one tier per speaker)"),
    ("bad.eaf", b"<ANNOTATION_DOCUMENT><x",
     "bad.eaf: it cannot be read as an ELAN file (the XML is damaged or not EAF); open it in ELAN, save it again "
     "and upload that"),
    ("dependent.eaf", eaf({"speaker A": [(0.1, 0.9, "")]}, dependent={"words": ("speaker A", ["ten of clubs"])}),
     "dependent.eaf: no interval on its tier (speaker A) has words to align: write the words spoken in each "
     "utterance's interval on its top-level tier (labels between brackets, such as <noise>, are not words)"),
    ("only-dependent.eaf", eaf({"speaker A": []}, dependent={"words": ("speaker A", [])}),
     "only-dependent.eaf: the ELAN file has no top-level, time-aligned tier (dependent tiers are not utterances): "
     "add a tier with the utterances (one tier per speaker)"),
    ("empty.eaf", b"", "empty.eaf: the file is empty"),
    ("nested.TextGrid", textgrid({"speaker A": [(0.1, 1.9, "ten of clubs"), (0.5, 0.9, "two")]}),
     "nested.TextGrid: on tier speaker A, the interval at 0:00.5–0:00.9 overlaps the one at 0:00.1–0:01.9: one "
     "tier holds one speaker's utterances one after the other; put overlapping speech on separate tiers"),
])
def test_a_textgrid_or_eaf_that_cannot_be_aligned_is_refused_with_what_to_do(alice_client, project, name, content,
                                                                             message):
    response = upload(alice_client, project, (name, content), ("a.TextGrid", textgrid()))
    assert messages_of(response) == ["Added 1 file(s): a.TextGrid", message]
    assert names(project) == ["a.TextGrid"]


def test_a_textgrid_over_its_limit_is_refused_before_it_is_read(alice_client, project, settings):
    settings.UPLOAD_MAX_TIERED_TRANSCRIPT_BYTES = 1024
    response = upload(alice_client, project, ("big.TextGrid", textgrid() + b" " * 1024), ("a.txt", b"x" * 2000))
    assert messages_of(response) == [
        "Added 1 file(s): a.txt",  # plain text has its own limit
        "big.TextGrid: the transcript is larger than the limit of 1.0 KB (a two-hour recording's TextGrid or ELAN "
        "file of utterances has about 1 MB); is this the right file? Cut long recordings and their transcripts "
        "into parts",
    ]


def test_a_textgrid_may_be_larger_than_a_plain_transcript(alice_client, project, settings):
    settings.UPLOAD_MAX_TRANSCRIPT_BYTES = 1024
    response = upload(alice_client, project, ("a.TextGrid", textgrid() + b"\n" * 2000))
    assert messages_of(response) == ["Added 1 file(s): a.TextGrid"]


def test_a_zip_of_recordings_with_textgrids_and_eafs_goes_through_the_same_checks(alice_client, project):
    speech = (DATA / "cards-001.wav").read_bytes()  # silence would compress like a zip bomb
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in [("corpus/a.wav", speech), ("corpus/a.TextGrid", textgrid(encoding="utf-16")),
                              ("corpus/b.wav", speech), ("corpus/b.eaf", eaf()),
                              ("corpus/c.wav", speech), ("corpus/c.TextGrid", b"ooBinaryFile\x08TextGrid")]:
            archive.writestr(name, content)
    response = upload(alice_client, project, ("corpus.zip", buffer.getvalue()))
    assert messages_of(response) == [
        "Added 5 file(s): a.wav, a.TextGrid, b.wav, b.eaf, c.wav",
        "corpus.zip: c.TextGrid: it is a binary TextGrid; in Praat, save it with “Save as text file…” and upload that",
    ]
    assert "c.wav has no transcript: add c.txt, c.TextGrid or c.eaf." in response.content.decode()


# Pairing and readiness


def page_of(client, project):
    return client.get(project.get_absolute_url()).content.decode()


def test_a_recording_without_a_transcript_is_told_every_kind_it_may_have(alice_client, project):
    upload(alice_client, project, ("a.wav", wav_bytes()), ("a.eaf", eaf()), ("b.wav", wav_bytes()),
           ("c.TextGrid", textgrid()))
    page = page_of(alice_client, project)
    assert "b.wav has no transcript: add b.txt, b.TextGrid or b.eaf." in page
    assert "c.TextGrid has no recording: add c.wav or c.flac." in page
    assert "Align the 1 complete pair only" in page and "Left out: b.wav, c.TextGrid." in page


def test_a_plain_transcript_and_a_textgrid_of_one_name_are_not_a_pair(alice_client, project):
    upload(alice_client, project, ("a.wav", wav_bytes()), ("a.txt", b"ten of clubs"), ("a.TextGrid", textgrid()))
    page = page_of(alice_client, project)
    assert "a.wav, a.TextGrid, a.txt share the name “a”: the aligner cannot tell which belong together; delete the " \
           "extra ones." in page
    assert "Ready to align" not in page and "Nothing can be aligned yet" in page


def test_an_empty_project_is_told_every_kind_of_transcript(alice_client, project):
    page = page_of(alice_client, project)
    assert "Still missing before alignment can start: Recording (.wav or .flac), Transcript (.txt, .TextGrid or .eaf)." \
        in page
    assert "Accepted: .dict, .eaf, .flac, .TextGrid, .txt, .wav and .zip archives of them." in page


def stored(project, name, content):
    """A file put into the project without the upload's checks (as one from before them would be)."""
    from django.core.files.base import ContentFile

    template = "transcript_eaf" if name.endswith(".eaf") else "transcript_textgrid"
    f = ProjectFile(project=project, name=name, template_id=template, kind="transcript", size=len(content))
    f.file.save(name, ContentFile(content))
    return f


def test_a_textgrid_without_words_is_told_so_though_its_header_has_letters(alice_client, project):
    upload(alice_client, project, ("a.wav", wav_bytes()))
    stored(project, "a.TextGrid", textgrid({"speaker A": [(0.2, 0.4, "...")]}))
    page = page_of(alice_client, project)
    assert "a.TextGrid has no utterance with words to align (an interval tier with words, one per speaker): correct " \
           "it and upload it again (tick “Replace”), or delete it and its recording." in page
    assert "Ready to align" not in page


def test_the_project_list_reads_a_textgrid_once_not_on_each_visit(alice_client, project):
    upload(alice_client, project, ("a.wav", wav_bytes()), ("a.TextGrid", textgrid(encoding="utf-16")))
    listed = alice_client.get(reverse("upload-project-list")).content.decode()
    assert "ready to align" in listed
    # Its content never changes under its id: a later visit answers from the cache, without reading the file.
    f = project.files.get(name="a.TextGrid")
    f.file.storage.delete(f.file.name)
    assert "ready to align" in alice_client.get(reverse("upload-project-list")).content.decode()
    cache.clear()
    assert "a.TextGrid cannot be read: upload it again" in page_of(alice_client, project)


def test_a_textgrid_whose_utterances_all_start_after_its_recording_ends_is_not_a_pair(alice_client, project):
    """A TextGrid of another (longer) recording: said before a run, not only by the run's outcome."""
    upload(alice_client, project, ("a.wav", wav_bytes()), ("a.TextGrid", textgrid({"A": [(20.0, 27.5, "ten of clubs")]},
                                                                                   xmax=30.0)),
           ("b.wav", wav_bytes()), ("b.TextGrid", textgrid({"A": [(0.2, 27.5, "ten of clubs")]}, xmax=30.0)))
    page = page_of(alice_client, project)
    duration = project.files.get(name="a.wav").duration
    assert (f"a.TextGrid has its first utterance at 0:20.0, after the end of a.wav (0:0{int(duration)}."
            in page)
    assert "is it the transcript of this recording?" in page
    assert "with b.TextGrid" in page  # one that starts within its recording is a pair (its end is the run's news)


def test_the_file_table_says_what_a_textgrid_holds(alice_client, project):
    grid = textgrid({"Interviewer": [(0.1, 0.5, "so"), (0.6, 0.9, "tell me")], "Guest": [(1.0, 1.8, "well")],
                     "notes": [(0.2, 0.4, "<door>")]})
    upload(alice_client, project, ("a.wav", wav_bytes(2.0)), ("a.TextGrid", grid))
    row = page_of(alice_client, project).split("a.TextGrid", 1)[1].split("</tr>", 1)[0]
    assert "2 speakers: Interviewer (2 utterances), Guest (1); no words on notes" in row
