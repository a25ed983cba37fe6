"""Shared test fixtures: the users every test needs, a CSRF-enforcing client, alice's project with a
run (`owned`), the CLAM services on 127.0.0.1 and the "English" pipeline on the bundled ones.

Helpers that are not fixtures (DATA, work_until, free_port) are in tests/helpers.py.
"""

import os
import re

import pytest
from django.test import Client

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    # A fast hasher: production uses Django's PBKDF2 (see test_settings.py).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The manifest storage needs collectstatic; test_site.py covers that path.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MEDIA_ROOT = tmp_path / "media"


def make_user(username, *, email=None, staff=False, superuser=False):
    from accounts.models import User

    return User.objects.create_user(
        username=username,
        email=email or f"{username}@example.org",
        password=PASSWORD,
        is_staff=staff or superuser,
        is_superuser=superuser,
    )


@pytest.fixture
def alice(db):
    """The owner in access-control tests."""
    return make_user("alice")


@pytest.fixture
def bob(db):
    """The other user, who must never see alice's things."""
    return make_user("bob")


@pytest.fixture
def admin_user(db):
    return make_user("admin", superuser=True)


class CsrfClient(Client):
    """A test client that enforces CSRF, as a browser session would meet it.

    `post_form` first GETs the page that holds the form (as a browser does)
    and sends the token it was given.
    """

    def __init__(self, **kwargs):
        super().__init__(enforce_csrf_checks=True, **kwargs)

    def csrf_token(self, url):
        response = self.get(url)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
        assert match, f"no CSRF token in the page at {url}"
        return match.group(1)

    def post_form(self, url, data, *, form_url=None, **kwargs):
        token = self.csrf_token(form_url or url)
        return self.post(url, {**data, "csrfmiddlewaretoken": token}, **kwargs)


@pytest.fixture
def csrf_client():
    return CsrfClient()


@pytest.fixture
def alice_client(alice):
    client = CsrfClient()
    client.force_login(alice)
    return client


@pytest.fixture
def owned(alice):
    """Alice's project with two files and a run under review whose first pass has one result."""
    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from pipelines.models import Run
    from scripts.models import Process
    from tests.factories import GRID, make_project, wav_bytes

    project = make_project(alice)
    client = CsrfClient()
    client.force_login(alice)
    client.post_form(
        reverse("upload-add-files", args=[project.pk]),
        {"files": [SimpleUploadedFile("a.txt", b"ten of clubs"), SimpleUploadedFile("a.wav", wav_bytes())]},
        form_url=project.get_absolute_url(),
    )
    process = Process.objects.create(
        script=project.pipeline.fa_script, output_folder=f"{project.folder}/runs/x/fa", status="done",
        outputs=["a.TextGrid"],
    )
    folder = default_storage.path(process.output_folder)
    os.makedirs(folder)
    with open(os.path.join(folder, "a.TextGrid"), "w") as f:
        f.write(GRID)
    # The pipeline takes a reviewed dictionary, so that the owner can submit the review.
    project.pipeline.fa_dictionary_input = project.pipeline.fa_script.profiles.get().input_templates.get(
        template_id="dictionary")
    project.pipeline.save(update_fields=["fa_dictionary_input"])
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage="review", fa_process=process,
                             dictionary="a AH\n")
    return project, project.files.get(name="a.txt"), run


@pytest.fixture(scope="session")
def fa_service(tmp_path_factory):
    """The bundled forced-alignment service, running on 127.0.0.1."""
    from tests.clamservers import start_bundled_service, stop_service

    service = start_bundled_service("forced_alignment", tmp_path_factory.mktemp("fa"))
    yield service
    stop_service(service)


@pytest.fixture(scope="session")
def g2p_service(tmp_path_factory):
    """The bundled G2P service, running on 127.0.0.1."""
    from tests.clamservers import start_bundled_service, stop_service

    service = start_bundled_service("g2p", tmp_path_factory.mktemp("g2p"))
    yield service
    stop_service(service)


def _shapes_service(tmp_path_factory, variant):
    from tests.clamservers import start_bundled_service

    return start_bundled_service(
        "custom", tmp_path_factory.mktemp(f"shapes{variant}"), settings="tests.clamconfigs.shapes",
        env={"SHAPES_VARIANT": variant},
    )


@pytest.fixture(scope="session")
def shapes_a(tmp_path_factory):
    """A small CLAM service with every shape the importer reads (tests/clamconfigs/shapes.py)."""
    from tests.clamservers import stop_service

    service = _shapes_service(tmp_path_factory, "a")
    yield service
    stop_service(service)


@pytest.fixture(scope="session")
def shapes_b(tmp_path_factory):
    """The same service after a release that added, removed and changed things."""
    from tests.clamservers import stop_service

    service = _shapes_service(tmp_path_factory, "b")
    yield service
    stop_service(service)


@pytest.fixture(scope="session")
def clam_demo(tmp_path_factory):
    """CLAM's own demo services (the `clam` package's config/ folder) as foreign services on 127.0.0.1:
    `clam_demo("textstats")` starts that one the first time a test asks for it; all stop at the end."""
    from tests.clamservers import start_demo_service, stop_service

    started = {}

    def service(demo):
        if demo not in started:
            started[demo] = start_demo_service(demo, tmp_path_factory.mktemp(f"demo-{demo}"))
        return started[demo]

    yield service
    for running in started.values():
        stop_service(running)


@pytest.fixture
def english(fa_service, g2p_service, monkeypatch):
    """The "English" pipeline of a fresh install, on the bundled services (FA, then G2P for unknown words)."""
    from pipelines.bundled import setup
    from scripts.models import Pipeline
    from tests.clamservers import PASSWORD, USER

    monkeypatch.setenv("CLAM_SERVICES_USER", USER)
    monkeypatch.setenv("CLAM_SERVICES_PASSWORD", PASSWORD)
    assert setup(fa_service.url, g2p_service.url) == []
    return Pipeline.objects.get(name="English")


@pytest.fixture
def fault_server():
    from tests.faultserver import FaultServer

    server = FaultServer().start()
    yield server
    server.stop()
