"""The Pipeline admin after Pipeline moved from `pipelines` to `scripts` (issue 15)."""

import pytest
from django.test import Client

from tests.factories import make_fa_pipeline


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_pipeline_admin_lists_and_edits_pipelines_under_scripts(admin_client):
    pipeline = make_fa_pipeline()
    listing = admin_client.get("/admin/scripts/pipeline/")
    assert listing.status_code == 200
    assert "English" in listing.text
    change = admin_client.get(f"/admin/scripts/pipeline/{pipeline.pk}/change/")
    assert change.status_code == 200
    assert "How the scripts connect" in change.text


@pytest.mark.parametrize("old, new", [
    ("/admin/pipelines/pipeline/", "/admin/scripts/pipeline/"),
    ("/admin/pipelines/pipeline/7/change/", "/admin/scripts/pipeline/7/change/"),
    ("/admin/pipelines/pipeline/?q=English", "/admin/scripts/pipeline/?q=English"),
])
def test_the_old_pipeline_admin_urls_redirect_to_the_new_ones(admin_client, old, new):
    response = admin_client.get(old)
    assert (response.status_code, response["Location"]) == (302, new)


def test_an_administrator_sets_the_phone_set_that_reviews_are_checked_against(admin_client):
    pipeline = make_fa_pipeline()
    url = f"/admin/scripts/pipeline/{pipeline.pk}/change/"
    assert 'name="phone_set"' in admin_client.get(url).text
    response = admin_client.post(url, {
        "name": "English", "kind": "alignment", "language": "en-us", "description": "", "fa_script": pipeline.fa_script_id,
        "g2p_script": "", "oov_output": "", "g2p_input": "", "dictionary_output": "", "fa_dictionary_input": "",
        "phone_set": "AA AE P OW N IY",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    pipeline.refresh_from_db()
    assert pipeline.phone_set == "AA AE P OW N IY"
