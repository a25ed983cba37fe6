"""Page query counts do not grow with the number of projects, files or runs."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipelines.models import Run
from scripts.models import Process
from tests.factories import make_fa_pipeline
from upload.models import Project, ProjectFile

pytestmark = pytest.mark.django_db


def fill(project, files, runs):
    start = project.files.count()
    ProjectFile.objects.bulk_create(
        ProjectFile(project=project, name=f"f{start + i}.{'wav' if i % 2 else 'txt'}", file=f"x/f{i}", size=10,
                    template_id="audio" if i % 2 else "transcript", kind="audio" if i % 2 else "transcript",
                    duration=1.0 if i % 2 else None, sample_rate=16000 if i % 2 else None, channels=1)
        for i in range(files)
    )
    for _ in range(runs):
        process = Process.objects.create(script=project.pipeline.fa_script, output_folder="x", status="done")
        Run.objects.create(project=project, pipeline=project.pipeline, stage="done", fa_process=process)


def count(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_project_list_queries_do_not_grow_with_projects_and_files(alice, alice_client):
    pipeline = make_fa_pipeline()
    for i in range(3):
        fill(Project.objects.create(owner=alice, name=f"a{i}", pipeline=pipeline), files=4, runs=1)
    few = count(alice_client, reverse("upload-project-list"))
    for i in range(30):
        fill(Project.objects.create(owner=alice, name=f"b{i}", pipeline=pipeline), files=20, runs=2)
    # Session, user, projects with counts, their files' templates, the scripts' profiles and templates.
    assert count(alice_client, reverse("upload-project-list")) == few <= 8


def test_project_page_queries_do_not_grow_with_files_and_runs(alice, alice_client):
    project = Project.objects.create(owner=alice, name="p", pipeline=make_fa_pipeline())
    fill(project, files=4, runs=1)
    few = count(alice_client, project.get_absolute_url())
    fill(project, files=200, runs=20)
    assert count(alice_client, project.get_absolute_url()) == few
