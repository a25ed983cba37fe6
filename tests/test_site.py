"""The site frame: pages, static files served locally, no CDN."""

import re

import pytest
from django.urls import reverse

from tests.helpers import clean_env, manage

pytestmark = pytest.mark.django_db


def test_home_page_explains_equestria(client):
    page = client.get(reverse("home")).content.decode()
    assert "TextGrids" in page


def test_pages_load_css_and_js_only_from_this_site(client):
    page = client.get(reverse("accounts-login")).content.decode()
    assets = re.findall(r'(?:href|src)="([^"]+\.(?:css|js))"', page)
    assert any("bootstrap.min.css" in a for a in assets)
    assert any("bootstrap.bundle.min.js" in a for a in assets)
    assert all(a.startswith("/static/") for a in assets), assets


def test_media_is_not_served_directly(client, settings):
    secret = settings.MEDIA_ROOT / "projects" / "x.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("private")
    for url in ("/media/projects/x.txt", "/projects/x.txt", "/static/../media/projects/x.txt"):
        response = client.get(url)
        assert b"private" not in b"".join(getattr(response, "streaming_content", [response.content]))


def test_collectstatic_builds_the_manifest_that_production_serves(tmp_path):
    env = clean_env(tmp_path)
    result = manage(["collectstatic", "--noinput", "--verbosity", "0"], env)
    assert result.returncode == 0, result.stderr
    static = tmp_path / "var" / "static"
    assert (static / "staticfiles.json").exists()
    assert list((static / "bootstrap" / "css").glob("bootstrap.min.*.css"))
    # The result editor's library, from node_modules (bin/setup's npm ci), with its plugins.
    assert list((static / "wavesurfer").glob("wavesurfer.min.*.js"))
    assert list((static / "wavesurfer" / "plugins").glob("regions.min.*.js"))
