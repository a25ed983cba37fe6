"""A researcher creates a project, uploads sample pairs, sees them paired, deletes one, in a real browser."""

import pytest

from tests.factories import make_fa_pipeline
from tests.helpers import DATA
from upload.models import ProjectFile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_project_upload_pairs_and_delete_one(page, live_server, alice):
    from tests.conftest import PASSWORD

    make_fa_pipeline()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()

    page.goto(live_server.url + "/projects/")
    page.get_by_role("link", name="New project").click()
    page.fill("#id_name", "Sense and Sensibility")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert "Project “Sense and Sensibility” created." in page.content()
    assert "Still missing before alignment can start" in page.content()

    files = [str(DATA / f"austen-{n}.{ext}") for n in ("0870", "0880", "0890") for ext in ("wav", "txt")]
    page.set_input_files("#id_files", files)
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    content = page.content()
    assert "Added 6 file(s)" in content
    assert "Ready to align" in content
    assert content.count("with austen-08") == 6
    assert "7.10 s · 16000 Hz" in content

    # Deleting asks first (static/js/confirm.js): saying no keeps the file, yes deletes it.
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete austen-0880.txt").click()
    assert questions == ["Delete austen-0880.txt? This cannot be undone."]
    assert ProjectFile.objects.count() == 6
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Delete austen-0880.txt").click()
    assert "austen-0880.txt deleted." in page.content()
    assert "no transcript" in page.content()
    assert ProjectFile.objects.count() == 5


def test_files_dropped_on_the_upload_area_are_uploaded(page, live_server, alice):
    """Drag and drop (static/js/upload.js): a real drop event carrying files, as the browser makes it."""
    import base64

    from tests.conftest import PASSWORD
    from upload.models import Project

    project = Project.objects.create(owner=alice, name="Dropped", pipeline=make_fa_pipeline())
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + project.get_absolute_url())

    files = [{"name": p.name, "data": base64.b64encode(p.read_bytes()).decode()}
             for p in (DATA / "cards-001.wav", DATA / "cards-001.txt")]
    transfer = page.evaluate_handle(
        """files => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name));
            }
            return transfer;
        }""",
        files,
    )
    page.dispatch_event("#drop-zone", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": transfer})
    with page.expect_navigation():
        page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    content = page.content()
    assert "Added 2 file(s)" in content
    assert "with cards-001.txt" in content
    assert sorted(project.files.values_list("name", flat=True)) == ["cards-001.txt", "cards-001.wav"]


def test_a_page_opened_before_the_move_to_projects_still_uploads_and_deletes(page, live_server, alice):
    """Forms that post to the old /upload/… URLs (issue 15) are sent on with their files (308), in Chromium."""
    from tests.conftest import PASSWORD
    from upload.models import Project

    project = Project.objects.create(owner=alice, name="Old tab", pipeline=make_fa_pipeline())
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + f"/upload/{project.pk}/?from=bookmark")
    assert page.url == live_server.url + f"/projects/{project.pk}/?from=bookmark"

    def post_to_the_old_urls():
        moved = page.evaluate(
            """() => [...document.querySelectorAll("form")]
                .filter(form => form.action.includes("/files/"))
                .map(form => form.action = form.action.replace("/projects/", "/upload/"))"""
        )
        assert moved and all("/upload/" in action for action in moved)

    post_to_the_old_urls()
    page.set_input_files("#id_files", [str(DATA / "cards-001.wav"), str(DATA / "cards-001.txt")])
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    assert "Added 2 file(s)" in page.content()
    assert sorted(project.files.values_list("name", flat=True)) == ["cards-001.txt", "cards-001.wav"]

    post_to_the_old_urls()
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Delete cards-001.txt").click()
    assert "cards-001.txt deleted." in page.content()
    assert list(project.files.values_list("name", flat=True)) == ["cards-001.wav"]
