"""Damaged and unreadable zip archives are refused with a message; the rest of the upload is kept.

The archives are made here with zipfile and then damaged byte by byte, as a
disk, a network or another program damages them.
"""

import io
import logging
import random
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import make_project, wav_bytes

pytestmark = pytest.mark.django_db

# Varied words, so that the compression ratio stays that of real text (far below the zip bomb limit).
TEXT = " ".join(random.Random(13).choice(["ten", "of", "clubs", "queen", "hearts", "jack", "spades"]) + str(i)
                for i in range(1000)).encode()
DAMAGED = "is damaged and cannot be unpacked (its compressed data or checksum is wrong); make the archive again and upload it"


def make_zip(method=zipfile.ZIP_DEFLATED, entries=(("words.txt", TEXT),)):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return bytearray(buffer.getvalue())


def data_offset(archive):
    """Where the first member's compressed data starts (after its local header)."""
    name_length, extra_length = struct.unpack("<HH", archive[26:30])
    return 30 + name_length + extra_length


def central(archive):
    return archive.index(b"PK\x01\x02")


def broken_stream(method):
    archive = make_zip(method)
    start = data_offset(archive)
    archive[start + 3 : start + 13] = b"\xff" * 10
    return archive


def wrong_crc():
    archive = make_zip(zipfile.ZIP_STORED)
    archive[data_offset(archive)] ^= 0x01
    return archive


def cut_short():
    # The second half of the member's data is missing; its headers still give the full size.
    archive = make_zip()
    size = struct.unpack("<I", archive[central(archive) + 20 : central(archive) + 24])[0]
    start = data_offset(archive)
    del archive[start + size // 2 : start + size]
    end = archive.index(b"PK\x05\x06")
    directory = struct.unpack("<I", archive[end + 16 : end + 20])[0]
    archive[end + 16 : end + 20] = struct.pack("<I", directory - (size - size // 2))
    return archive


def half_member():
    # The headers say the member ends half-way through its compressed data.
    archive = make_zip()
    size = struct.unpack("<I", archive[central(archive) + 20 : central(archive) + 24])[0]
    for at in (18, central(archive) + 20):
        archive[at : at + 4] = struct.pack("<I", size // 2)
    return archive


def broken_lzma_properties():
    archive = make_zip(zipfile.ZIP_LZMA)
    start = data_offset(archive)
    archive[start + 4 : start + 9] = b"\xff" * 5
    return archive


def with_method(method):
    archive = make_zip(zipfile.ZIP_STORED)
    for at in (8, central(archive) + 10):
        archive[at : at + 2] = struct.pack("<H", method)
    return archive


def encrypted():
    archive = make_zip(zipfile.ZIP_STORED)
    for at in (6, central(archive) + 8):
        archive[at] |= 0x01
    return archive


def renamed_local_header():
    archive = make_zip(zipfile.ZIP_STORED)
    archive[30] = ord("x")  # first letter of the name in the local header only
    return archive


def upload(client, project, *files):
    data = {"files": [SimpleUploadedFile(name, bytes(content)) for name, content in files]}
    response = client.post_form(
        reverse("upload-add-files", args=[project.pk]), data, form_url=project.get_absolute_url(), follow=True
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize(
    "archive, message",
    [
        (broken_stream(zipfile.ZIP_DEFLATED), f"'words.txt' {DAMAGED}"),
        (broken_stream(zipfile.ZIP_BZIP2), f"'words.txt' {DAMAGED}"),
        (broken_stream(zipfile.ZIP_LZMA), f"'words.txt' {DAMAGED}"),
        (broken_lzma_properties(), f"'words.txt' {DAMAGED}"),
        (wrong_crc(), f"'words.txt' {DAMAGED}"),
        (cut_short(), f"'words.txt' {DAMAGED}"),
        (half_member(), f"'words.txt' {DAMAGED}"),
        (renamed_local_header(), f"'words.txt' {DAMAGED}"),
        (encrypted(), "'words.txt' is protected by a password; make the archive again without one"),
        (with_method(9), "'words.txt' is compressed with a method this site cannot unpack (deflate64); "
                         "make the archive again with the usual “deflate” compression"),
        (with_method(99), "'words.txt' is compressed with a method this site cannot unpack (method 99); "
                          "make the archive again with the usual “deflate” compression"),
        (make_zip()[:40], "it is not a valid zip archive (or it is damaged)"),
    ],
    ids=["deflate", "bzip2", "lzma", "lzma-properties", "crc", "cut-short", "half-member", "local-header",
         "encrypted", "deflate64", "unknown-method", "truncated-file"],
)
def test_a_damaged_archive_is_refused_by_name_and_the_other_files_are_kept(alice, alice_client, archive, message):
    project = make_project(alice)
    found = upload(alice_client, project, ("a.wav", wav_bytes()), ("corpus.zip", archive), ("a.txt", b"ten of clubs"))
    assert f"corpus.zip: archive refused: {message}; nothing of it was added" in found
    assert "Added 2 file(s): a.wav, a.txt" in found
    assert sorted(project.files.values_list("name", flat=True)) == ["a.txt", "a.wav"]


def test_an_archive_that_is_damaged_after_good_members_keeps_none_of_them(alice, alice_client):
    good = ("a.txt", b"ten of clubs")
    archive = make_zip(zipfile.ZIP_DEFLATED, [good, ("words.txt", TEXT)])
    # Damage the second member's data only.
    second = archive.index(b"PK\x03\x04", 4)
    name_length, extra_length = struct.unpack("<HH", archive[second + 26 : second + 30])
    start = second + 30 + name_length + extra_length
    archive[start + 3 : start + 13] = b"\xff" * 10
    project = make_project(alice)
    found = upload(alice_client, project, ("corpus.zip", archive))
    assert found == [f"corpus.zip: archive refused: 'words.txt' {DAMAGED}; nothing of it was added"]
    assert not project.files.exists()


def test_an_unexpected_error_with_one_file_keeps_the_others(alice, alice_client, monkeypatch, caplog):
    # Mocked: a failure nothing here can cause for real (the point is what happens to the other files).
    from upload import services

    real = services.check_content

    def failing(path, name, kind, **options):
        if name == "a.txt":
            raise KeyError("boom")
        return real(path, name, kind, **options)

    monkeypatch.setattr(services, "check_content", failing)
    project = make_project(alice)
    with caplog.at_level(logging.ERROR, logger="upload.services"):
        found = upload(alice_client, project, ("a.txt", b"ten of clubs"), ("a.wav", wav_bytes()))
    assert ("a.txt: this file could not be added because of an error on the server (it is logged for the "
            "administrators); nothing of it was added; try it again later") in found
    assert "Added 1 file(s): a.wav" in found
    assert "KeyError" in caplog.text


def test_an_unexpected_error_inside_an_archive_keeps_nothing_of_the_archive(alice, alice_client, monkeypatch):
    # Mocked, as above: the members before the failing one must not stay behind half-added.
    from upload import services

    real = services.check_content

    def failing(path, name, kind, **options):
        if name == "b.txt":
            raise KeyError("boom")
        return real(path, name, kind, **options)

    monkeypatch.setattr(services, "check_content", failing)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.wav", wav_bytes())
        z.writestr("a.txt", "ten of clubs")
        z.writestr("b.txt", "two of hearts")
    project = make_project(alice)
    found = upload(alice_client, project, ("corpus.zip", archive.getvalue()), ("c.txt", b"three"))
    assert sorted(found) == [
        "Added 1 file(s): c.txt",
        "corpus.zip: this file could not be added because of an error on the server (it is logged for the "
        "administrators); nothing of it was added; try it again later",
    ]
    assert list(project.files.values_list("name", flat=True)) == ["c.txt"]
