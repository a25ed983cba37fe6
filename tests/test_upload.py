"""Projects and uploads through the test client (CSRF enforced)."""

import io
import stat
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import make_fa_pipeline, make_project, wav_bytes
from tests.helpers import DATA
from upload.models import Project, ProjectFile

pytestmark = pytest.mark.django_db


def upload(client, project, *files, replace=False):
    data = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    if replace:
        data["replace"] = "on"
    return client.post_form(
        reverse("upload-add-files", args=[project.pk]), data, form_url=project.get_absolute_url(), follow=True
    )


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def sample(stem, ext):
    return (f"{stem}.{ext}", (DATA / f"{stem}.{ext}").read_bytes())


@pytest.fixture
def project(alice):
    return make_project(alice)


# Projects


def test_create_project_with_a_pipeline(alice_client):
    pipeline = make_fa_pipeline()
    response = alice_client.post_form(reverse("upload-create-project"), {"name": "Austen", "pipeline": pipeline.pk})
    project = Project.objects.get()
    assert response["Location"] == project.get_absolute_url()
    assert (project.name, project.pipeline, project.owner.username) == ("Austen", pipeline, "alice")


def test_without_pipelines_the_create_page_says_so(alice_client):
    page = alice_client.get(reverse("upload-create-project")).content.decode()
    assert "No pipelines are set up on this server yet" in page


def test_project_names_are_unique_per_owner_in_any_case(alice_client, project, bob):
    response = alice_client.post_form(reverse("upload-create-project"), {"name": "AUSTEN", "pipeline": project.pipeline.pk})
    assert "You already have a project with this name." in response.content.decode()
    Project.objects.create(owner=bob, name="Austen", pipeline=project.pipeline)  # another owner may


def test_project_list_shows_own_projects_with_state_and_counts(alice_client, project, bob, django_assert_max_num_queries):
    make_project(bob, "Bob's secret", pipeline=project.pipeline)
    upload(alice_client, project, sample("cards-001", "wav"), sample("cards-001", "txt"))
    for i in range(30):
        make_project(project.owner, f"p{i}", pipeline=project.pipeline)
    with django_assert_max_num_queries(8):
        page = alice_client.get(reverse("upload-project-list")).content.decode()
    assert "Austen" in page and "Bob&#x27;s secret" not in page and "Bob's secret" not in page
    assert "ready to align" in page


def test_rename_and_delete_project(alice_client, project, settings):
    upload(alice_client, project, sample("cards-001", "wav"))
    folder = settings.MEDIA_ROOT / "projects" / str(project.pk)
    assert folder.exists()
    alice_client.post_form(reverse("upload-rename-project", args=[project.pk]), {"name": "Sense"})
    project.refresh_from_db()
    assert project.name == "Sense"
    page = alice_client.get(reverse("upload-delete-project", args=[project.pk])).content.decode()
    assert "Delete project “Sense”?" in page and "1 file(s)" in page
    response = alice_client.post_form(reverse("upload-delete-project", args=[project.pk]), {})
    assert response["Location"] == reverse("upload-project-list")
    assert not Project.objects.exists() and not ProjectFile.objects.exists()
    assert not folder.exists()


# Uploads


def test_upload_pairs_lists_them_with_durations_and_profile_status(alice_client, project):
    response = upload(alice_client, project, *(sample(s, e) for s in ("austen-0870", "austen-0880") for e in ("wav", "txt")))
    assert any("Added 4 file(s)" in m for m in messages_of(response))
    page = response.content.decode()
    assert "Ready to align" in page
    assert "7.10 s · 16000 Hz" in page
    assert "with austen-0870.txt" in page and "with austen-0880.wav" in page
    f = ProjectFile.objects.get(name="austen-0870.wav")
    assert (f.kind, f.template_id, f.sample_rate) == ("audio", "audio", 16000)
    assert f.file.read() == (DATA / "austen-0870.wav").read_bytes()


def test_missing_partners_and_templates_are_shown(alice_client, project):
    page = upload(alice_client, project, sample("cards-001", "wav"), sample("cards-002", "txt")).content.decode()
    assert "no transcript" in page and "no audio" in page
    upload_only_audio = make_project(project.owner, "audio only", project.pipeline)
    page = upload(alice_client, upload_only_audio, sample("cards-003", "wav")).content.decode()
    assert "Still missing before alignment can start: Transcript (UTF-8 text, .txt)" in page


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("song.mp3", b"ID3...", "song.mp3: .mp3 files are not used by the English pipeline; it takes .dict, .flac, .txt, .wav"),
        ("a.wav.php", b"<?php ?>", "a.wav.php: .php files are not used"),
        ("README", b"hello", "README: the name has no extension, so the file's type is unknown; the English pipeline takes"),
        ("empty.wav", b"", "empty.wav: the file is empty"),
        ("page.wav", b"<html><body>404</body></html>", "page.wav: this is not audio that can be read"),
        ("latin1.txt", "café au lait".encode("latin-1"), "latin1.txt: the text is not UTF-8"),
        ("binary.txt", b"\x00\x01\x02abc", "binary.txt: this is not a text file"),
        ("blank.txt", b"  \r\n ", "blank.txt: the file contains no text"),
        ("zip.wav", b"PK\x03\x04" + b"\x00" * 100, "zip.wav: this is not audio that can be read"),
    ],
)
def test_bad_files_are_refused_with_the_reason_and_others_still_saved(alice_client, project, name, content, message):
    response = upload(alice_client, project, (name, content), sample("cards-001", "txt"))
    found = messages_of(response)
    assert any(message in m for m in found), found
    assert list(project.files.values_list("name", flat=True)) == ["cards-001.txt"]


def test_a_truncated_wav_is_kept_with_the_duration_it_really_has(alice_client, project):
    # libsndfile trusts the bytes present, not the header: 2000 bytes of 16-bit mono.
    upload(alice_client, project, ("short.wav", wav_bytes(2.0)[:2000]))
    f = project.files.get()
    assert f.duration == pytest.approx((2000 - 44) / 2 / 16000, abs=0.01)


def test_text_with_bom_and_crlf_and_upper_case_extension_are_fine(alice_client, project):
    upload(alice_client, project, ("A.TXT", "\ufeffhello\r\nworld\r\n".encode()), ("A.WAV", wav_bytes()))
    assert sorted(project.files.values_list("name", "kind")) == [("A.TXT", "transcript"), ("A.WAV", "audio")]


def test_same_name_twice_is_refused_unless_replace_is_ticked(alice_client, project):
    upload(alice_client, project, ("x.txt", b"first"))
    response = upload(alice_client, project, ("x.txt", b"second"))
    assert any("x.txt: a file with this name is already in the project" in m for m in messages_of(response))
    assert project.files.get().file.read() == b"first"
    upload(alice_client, project, ("x.txt", b"second"), replace=True)
    assert project.files.get().file.read() == b"second"
    assert project.files.count() == 1


def test_names_with_leading_dots_are_kept_and_never_taken_for_others(alice_client, project):
    # ".same.wav" used to be stored as "same.wav", and the real "same.wav" was then refused as "already in the project".
    names = [".same.wav", ".same.txt", "same.wav", "same.txt", "..dots.wav", "....wav", "....txt"]
    response = upload(alice_client, project, *[(n, wav_bytes() if n.endswith(".wav") else b"words") for n in names])
    assert [m for m in messages_of(response) if not m.startswith("Added")] == []
    assert sorted(project.files.values_list("name", flat=True)) == sorted(names)
    for f in project.files.all():
        assert f.file.name.endswith("/" + f.name)  # the storage keeps the name too (Django's get_valid_name)
        download = alice_client.get(reverse("upload-download-file", args=[project.pk, f.pk]))
        assert download["Content-Disposition"] == f'attachment; filename="{f.name}"'


def test_a_name_that_cleaning_changes_is_said_to_be_changed(alice_client, project):
    response = upload(alice_client, project, (" leading space.txt ", b"words"), ("plain.txt", b"words"))
    assert messages_of(response) == [
        "Added 2 file(s): leading space.txt, plain.txt",
        "“ leading space.txt ” added as “leading space.txt” (spaces at the start or end of a name are dropped)",
    ]


def test_two_files_of_one_upload_with_one_name_are_said_to_clash_with_each_other(alice_client, project):
    for replace in (False, True):
        response = upload(alice_client, project, ("x.txt", b"first"), (" x.txt", b"second"), replace=replace)
        assert "x.txt: two files of this upload have this name; only the first is added (rename one and upload it "\
               "again) (uploaded as “ x.txt”)" in messages_of(response)
        assert not any("already in the project" in m for m in messages_of(response))
        assert project.files.get().file.read() == b"first"
        project.files.all().delete()


def test_a_name_that_only_starts_with_a_dot_has_no_extension(alice_client, project):
    response = upload(alice_client, project, (".wav", wav_bytes()))
    assert messages_of(response) == [
        ".wav: the name has no extension, so the file's type is unknown (a dot at the start of a name begins no "
        "extension); the English pipeline takes .dict, .flac, .txt, .wav"
    ]


def test_a_unique_template_takes_one_file(alice_client, project):
    upload(alice_client, project, ("one.dict", b"equestria IH K W EH S T R IY AH\n"))
    response = upload(alice_client, project, ("two.dict", b"pony P OW N IY\n"))
    assert any("two.dict: the pipeline takes only one “Extra pronunciation dictionary” file" in m for m in messages_of(response))
    upload(alice_client, project, ("two.dict", b"pony P OW N IY\n"), replace=True)
    assert list(project.files.values_list("name", flat=True)) == ["two.dict"]


def test_size_limits_per_file_and_per_project(alice_client, project, settings):
    settings.UPLOAD_MAX_FILE_BYTES = 1000
    response = upload(alice_client, project, ("big.txt", b"a" * 1001), ("ok.txt", b"b" * 1000))
    assert any("big.txt: the file is larger than the limit of 1000 bytes" in m for m in messages_of(response))
    assert list(project.files.values_list("name", flat=True)) == ["ok.txt"]
    settings.UPLOAD_MAX_PROJECT_BYTES = 1500
    response = upload(alice_client, project, ("more.txt", b"c" * 600))
    assert any("more.txt: the project would exceed its limit" in m for m in messages_of(response))


def test_two_uploads_at_once_cannot_take_a_project_over_its_limit_together(project, settings):
    from upload.services import Upload

    settings.UPLOAD_MAX_PROJECT_BYTES = 1500
    first, second = Upload(project), Upload(project)  # two tabs: both checked before either is saved
    first.add(SimpleUploadedFile("one.txt", b"a" * 1000), commit=False)
    second.add(SimpleUploadedFile("two.txt", b"b" * 1000), commit=False)
    first.commit()
    second.commit()
    assert [o.message for o in second.outcomes] == [
        "two.txt: the project would exceed its limit of 1.5 KB; delete files first"
    ]
    assert list(project.files.values_list("name", flat=True)) == ["one.txt"]


def test_number_of_files_per_upload_is_limited_at_the_setting(alice_client, project, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    upload(alice_client, project, *((f"f{i}.txt", b"text") for i in range(3)))
    assert project.files.count() == 3
    response = upload(alice_client, project, *((f"g{i}.txt", b"text") for i in range(4)))
    assert response.redirect_chain[-1][0] == project.get_absolute_url()
    assert any("Too many files in one upload" in m and "Nothing was added" in m for m in messages_of(response))
    assert project.files.count() == 3


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("../../settings.txt", "settings.txt"),
        ("..\\..\\x.txt", "x.txt"),
        ("/etc/passwd.txt", "passwd.txt"),
        ("evil\u202etxt.wav.txt", "eviltxt.wav.txt"),
        ("a" * 300 + ".txt", "a" * 116 + ".txt"),
    ],
)
def test_hostile_names_are_cleaned(alice_client, project, raw, stored, settings):
    upload(alice_client, project, (raw, b"some words"))
    f = project.files.get()
    assert f.name == stored
    assert settings.MEDIA_ROOT in (settings.MEDIA_ROOT / f.file.name).resolve().parents


def test_names_are_shown_escaped(alice_client, project):
    page = upload(alice_client, project, ('<img src=x onerror="alert(1)">.txt', b"words")).content.decode()
    assert "<img src=x" not in page and "&lt;img src=x" in page


@pytest.mark.parametrize("name", ["don't.txt", "a&b.txt", "50%.txt", "take#2.txt", "why?.txt", 'say "hi".txt', "x;y.txt",
                                  "a%2Fb.txt", "{x}|<y>`.txt"])
def test_names_with_characters_special_to_clam_or_urls_are_kept_as_the_user_named_them(alice_client, project, name):
    # The runner sends them under safe names (scripts.clamnames); the project keeps the user's name.
    page = upload(alice_client, project, (name, b"words"), ("fine name é.txt", b"words")).content.decode()
    assert "cannot take file names" not in page
    assert sorted(project.files.values_list("name", flat=True)) == sorted([name, "fine name é.txt"])


def test_long_names_are_shortened_to_fit_the_file_system_with_their_extension(alice_client, project, settings):
    # 120 four-byte characters are 480 bytes, more than a file system takes for one name (255).
    name = "𝄞" * 150 + ".txt"
    response = upload(alice_client, project, (name, b"words"))
    assert response.status_code == 200
    f = project.files.get()
    assert f.name.endswith("𝄞.txt") and len(f.name.encode()) <= 200
    assert (settings.MEDIA_ROOT / f.file.name).read_bytes() == b"words"


def test_download_is_an_attachment_that_never_renders(alice_client, project):
    upload(alice_client, project, ("page.txt", b"<html><script>alert(1)</script></html>"))
    f = project.files.get()
    response = alice_client.get(reverse("upload-download-file", args=[project.pk, f.pk]))
    assert response["Content-Disposition"].startswith('attachment; filename="page.txt"')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == b"<html><script>alert(1)</script></html>"


def test_delete_a_file(alice_client, project, settings):
    upload(alice_client, project, sample("cards-001", "txt"))
    f = project.files.get()
    path = settings.MEDIA_ROOT / f.file.name
    response = alice_client.post_form(reverse("upload-delete-file", args=[project.pk, f.pk]), {}, form_url=project.get_absolute_url())
    assert response.status_code == 302
    assert not project.files.exists() and not path.exists() and not path.parent.exists()


def test_the_project_page_lists_what_the_pipeline_accepts_without_touching_the_project(alice_client, project,
                                                                                       django_assert_num_queries):
    from upload.checks import accepted_extensions

    # The FA script's profiles, then their input templates; nothing of the project's files.
    with django_assert_num_queries(2):
        assert accepted_extensions(project) == ".dict, .flac, .txt, .wav"
    page = alice_client.get(project.get_absolute_url()).content.decode()
    assert "Accepted: .dict, .flac, .txt, .wav and .zip archives of them." in page


def test_a_file_goes_to_the_template_that_names_it_most_closely(alice_client, project):
    from html import unescape

    from scripts.models import InputTemplate

    profile = project.pipeline.fa_script.profiles.get()
    for order, (template_id, extension, filename) in enumerate(
            [("xml", "xml", ""), ("folia", "folia.xml", ""), ("notes", "", "notes.md")], start=10):
        InputTemplate.objects.create(profile=profile, template_id=template_id, format="PlainTextFormat", label=template_id,
                                     mimetype="text/plain", extension=extension, filename=filename, optional=True,
                                     unique=False, order=order)
    page = unescape(alice_client.get(project.get_absolute_url()).content.decode())
    assert "Accepted: notes.md (fixed name), .dict, .flac, .folia.xml, .txt, .wav, .xml and .zip archives of them." in page

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("in/e.TXT", "five of hearts")
        z.writestr("f.md", "notes")
    response = upload(alice_client, project, sample("cards-001", "wav"), sample("cards-001", "txt"),
                      ("b.folia.xml", b"<FoLiA/>"), ("c.XML", b"<x/>"), ("README", b"read me"), ("d.pdf.txt.md", b"%"),
                      ("more.zip", archive.getvalue()))
    assert [m for m in messages_of(response) if "Added" not in m] == []
    assert {f.name: f.template_id for f in project.files.all()} == {
        "cards-001.wav": "audio", "cards-001.txt": "transcript", "b.folia.xml": "folia", "c.XML": "xml",
        "README": "notes", "d.pdf.txt.md": "notes", "e.TXT": "transcript", "f.md": "notes",
    }


def test_deleting_a_file_removes_its_row_and_content_and_is_news_for_the_project(project, settings):
    from upload.services import Upload, delete_file

    upload = Upload(project)
    upload.add(SimpleUploadedFile(*sample("cards-001", "txt")))
    f = project.files.get()
    path = settings.MEDIA_ROOT / f.file.name
    Project.objects.filter(pk=project.pk).update(updated_at="2020-01-01T00:00:00Z")
    delete_file(f)
    assert not project.files.exists() and not path.exists() and not path.parent.exists()
    assert Project.objects.get(pk=project.pk).updated_at.year > 2020


def test_a_file_of_a_project_deleted_meanwhile_is_reported_gone(project):
    from upload.services import ProjectGone, Upload, delete_file, delete_project

    upload = Upload(project)
    upload.add(SimpleUploadedFile(*sample("cards-001", "txt")))
    f = project.files.get()
    delete_project(project)
    with pytest.raises(ProjectGone, match="^This project no longer exists: it was deleted.$"):
        delete_file(f)


# Archives


def make_zip(entries, symlink=None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_a_zip_of_pairs_is_unpacked_and_junk_skipped(alice_client, project):
    archive = make_zip(
        [("corpus/cards-001.wav", (DATA / "cards-001.wav").read_bytes()), ("corpus/cards-001.txt", b"ten of clubs"),
         ("__MACOSX/corpus/._cards-001.wav", b"junk"), ("corpus/.DS_Store", b"junk")]
    )
    response = upload(alice_client, project, ("corpus.zip", archive))
    assert messages_of(response) == [
        "Added 2 file(s): cards-001.wav, cards-001.txt",
        "corpus.zip: skipped 2 files that macOS or Windows add to archives, not recordings or texts "
        "(__MACOSX/, ._*, .DS_Store, Thumbs.db, desktop.ini)",
    ]
    assert sorted(project.files.values_list("name", flat=True)) == ["cards-001.txt", "cards-001.wav"]


def test_names_that_differ_in_letter_case_are_two_files_also_in_an_archive(alice_client, project):
    response = upload(alice_client, project, ("takes.zip", make_zip([("Take1.txt", b"one"), ("take1.txt", b"two")])))
    assert messages_of(response) == ["Added 2 file(s): Take1.txt, take1.txt"]


@pytest.mark.parametrize(
    "entries, symlink, message",
    [
        ([("ok.txt", b"x"), ("../../evil.txt", b"x")], None, "a path that leaves the archive"),
        ([("ok.txt", b"x"), ("/etc/evil.txt", b"x")], None, "an absolute path"),
        ([("ok.txt", b"x")], "link.txt", "a symbolic link"),
        ([("ok.txt", b"x"), ("inner.zip", b"PK")], None, "contains another archive"),
        ([("ok.txt", b"x"), ("zeros.txt", b"\x00" * 5_000_000)], None, "zip bomb"),
        ([("a/x.txt", b"x"), ("b/x.txt", b"y")], None, "two files named 'x.txt'"),
    ],
)
def test_a_zip_that_breaks_a_rule_is_refused_whole(alice_client, project, entries, symlink, message):
    response = upload(alice_client, project, ("bad.zip", make_zip(entries, symlink)))
    found = messages_of(response)
    assert any(message in m and "nothing of it was added" in m for m in found), found
    assert not project.files.exists()


def test_too_many_entries_and_fake_zips_are_refused(alice_client, project, settings):
    settings.UPLOAD_MAX_ARCHIVE_ENTRIES = 5
    response = upload(alice_client, project, ("many.zip", make_zip([(f"{i}.txt", b"x") for i in range(6)])))
    assert any("it has 6 entries; at most 5 are allowed" in m for m in messages_of(response))
    response = upload(alice_client, project, ("fake.zip", b"this is not a zip"))
    assert any("fake.zip: archive refused: it is not a valid zip archive" in m for m in messages_of(response))
    assert not project.files.exists()


def test_a_zip_whose_header_lies_about_sizes_is_stopped_while_unpacking(alice_client, project, settings):
    archive = bytearray(make_zip([("words.txt", b"hello world " * 100)]))
    # Patch the central directory's uncompressed size (offset 24 from its signature) to 10 bytes.
    central = archive.rfind(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (10).to_bytes(4, "little")
    response = upload(alice_client, project, ("liar.zip", bytes(archive)))
    assert any("liar.zip: archive refused:" in m for m in messages_of(response))
    assert not project.files.exists()
