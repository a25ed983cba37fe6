"""Migrations that move data between apps keep it: issue 15 moved Pipeline from `pipelines` to `scripts`.

Each test migrates the real test database back to the schema before the move, writes rows there with
the models of that time, migrates forward (and back), and looks at the same rows. Transactional, because
SQLite changes its schema only outside a transaction; the database is left fully migrated.
"""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The schema just before the move (scripts 0005, upload 0002, pipelines 0004).
BEFORE_THE_MOVE = [
    ("scripts", "0004_worker_heartbeat"),
    ("pipelines", "0003_outcomes"),
    ("upload", "0001_initial"),
]


def _migrate(targets):
    """Migrate to `targets` (other apps stay at their latest) and return the models of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()  # reload what is applied now
    apps = {app for app, _ in targets}
    state = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in apps] + targets
    return executor.loader.project_state(state).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _write_the_old_rows(apps):
    """An English pipeline wired to its templates, a project and a run on it, and staff's permission on it."""
    Script = apps.get_model("scripts", "Script")
    Profile = apps.get_model("scripts", "Profile")
    InputTemplate = apps.get_model("scripts", "InputTemplate")
    OutputTemplate = apps.get_model("scripts", "OutputTemplate")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")

    fa = Script.objects.create(name="Aligner", url="http://127.0.0.1:1/")
    g2p = Script.objects.create(name="G2P", url="http://127.0.0.1:2/")
    fa_profile = Profile.objects.create(script=fa, index=0)
    g2p_profile = Profile.objects.create(script=g2p, index=0)
    pipeline = apps.get_model("pipelines", "Pipeline").objects.create(
        name="English", language="en-us", description="old row", phone_set="AA AE",
        fa_script=fa, g2p_script=g2p,
        oov_output=OutputTemplate.objects.create(profile=fa_profile, template_id="oov", format="F", label="OOV"),
        g2p_input=InputTemplate.objects.create(profile=g2p_profile, template_id="words", format="F", label="Words"),
        dictionary_output=OutputTemplate.objects.create(profile=g2p_profile, template_id="dict", format="F", label="Dict"),
        fa_dictionary_input=InputTemplate.objects.create(profile=fa_profile, template_id="dict", format="F", label="Dict"),
    )
    owner = apps.get_model("accounts", "User").objects.create(username="alice", email="alice@example.org")
    project = apps.get_model("upload", "Project").objects.create(owner=owner, name="Interviews", pipeline=pipeline)
    run = apps.get_model("pipelines", "Run").objects.create(project=project, pipeline=pipeline)

    # A database migrated before the move has the content type under `pipelines`, and staff's
    # permissions (and the admin's history) point at it.
    ContentType.objects.filter(app_label="scripts", model="pipeline").delete()
    content_type, _ = ContentType.objects.get_or_create(app_label="pipelines", model="pipeline")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="change_pipeline", defaults={"name": "Can change pipeline"}
    )
    Group.objects.create(name="Pipeline editors").permissions.add(permission)
    return {"pipeline": pipeline.pk, "project": project.pk, "run": run.pk, "content_type": content_type.pk,
            "fa": fa.pk, "g2p": g2p.pk, "templates": (pipeline.oov_output_id, pipeline.g2p_input_id,
                                                       pipeline.dictionary_output_id, pipeline.fa_dictionary_input_id)}


def _assert_the_rows_survived(apps, app_label, ids):
    pipeline = apps.get_model(app_label, "Pipeline").objects.get()
    assert (pipeline.pk, pipeline.name, pipeline.language, pipeline.description, pipeline.phone_set) == (
        ids["pipeline"], "English", "en-us", "old row", "AA AE")
    assert (pipeline.fa_script_id, pipeline.g2p_script_id) == (ids["fa"], ids["g2p"])
    assert (pipeline.oov_output_id, pipeline.g2p_input_id, pipeline.dictionary_output_id,
            pipeline.fa_dictionary_input_id) == ids["templates"]
    assert pipeline.fa_script.name == "Aligner"  # the foreign keys lead to the rows, not only hold their ids
    project = apps.get_model("upload", "Project").objects.get(pk=ids["project"])
    run = apps.get_model("pipelines", "Run").objects.get(pk=ids["run"])
    assert project.pipeline == pipeline and run.pipeline == pipeline
    assert list(pipeline.projects.all()) == [project] and list(pipeline.runs.all()) == [run]
    content_type = apps.get_model("contenttypes", "ContentType").objects.get(pk=ids["content_type"])
    assert (content_type.app_label, content_type.model) == (app_label, "pipeline")
    group = apps.get_model("auth", "Group").objects.get(name="Pipeline editors")
    assert [(p.content_type_id, p.codename) for p in group.permissions.all()] == [
        (ids["content_type"], "change_pipeline")]
    connection.check_constraints()  # no foreign key points nowhere


@pytest.mark.django_db(transaction=True)
def test_moving_pipeline_to_scripts_keeps_rows_foreign_keys_and_permissions():
    latest = _latest()
    try:
        ids = _write_the_old_rows(_migrate(BEFORE_THE_MOVE))
        _assert_the_rows_survived(_migrate(latest), "scripts", ids)
    finally:
        _migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_moving_pipeline_back_to_pipelines_keeps_rows_foreign_keys_and_permissions():
    latest = _latest()
    try:
        ids = _write_the_old_rows(_migrate(BEFORE_THE_MOVE))
        _migrate(latest)
        _assert_the_rows_survived(_migrate(BEFORE_THE_MOVE), "pipelines", ids)
    finally:
        _migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_the_moved_pipeline_works_through_todays_models():
    """Rows written before the move are read and followed by the application's own models."""
    from pipelines.models import Run
    from scripts.models import Pipeline
    from upload.models import Project

    latest = _latest()
    try:
        ids = _write_the_old_rows(_migrate(BEFORE_THE_MOVE))
        _migrate(latest)
        pipeline = Pipeline.objects.get(pk=ids["pipeline"])
        assert str(pipeline) == "English (en-us)"
        assert Project.objects.get(pk=ids["project"]).pipeline == pipeline
        assert Run.objects.get(pk=ids["run"]).pipeline == pipeline
        assert Pipeline.objects.get_by_natural_key("English") == pipeline
    finally:
        _migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_the_label_of_a_files_conversion_is_filled_where_its_service_still_declares_it():
    """upload 0004: files that had a conversion chosen before its label was kept get it from their Script's input
    template, the one of their pipeline (another Script may call the same id otherwise); a converter the service no
    longer declares has no label to take, and the file keeps its id."""
    latest = _latest()
    try:
        apps = _migrate([("upload", "0003_projectfile_converter")])
        Script = apps.get_model("scripts", "Script")
        InputTemplate = apps.get_model("scripts", "InputTemplate")
        ProjectFile = apps.get_model("upload", "ProjectFile")
        owner = apps.get_model("accounts", "User").objects.create(username="alice", email="alice@example.org")
        projects = []
        for name, label in (("Converting", "Convert from Latin-1"), ("Other", "Latin-1 → UTF-8")):
            script = Script.objects.create(name=name, url=f"http://127.0.0.1:1/{name}/")
            profile = apps.get_model("scripts", "Profile").objects.create(script=script, index=0)
            InputTemplate.objects.create(profile=profile, template_id="textinput", format="F", label="Text",
                                         converters=[["latin1", label], ["pdfconv", "Convert from PDF"]])
            pipeline = apps.get_model("scripts", "Pipeline").objects.create(name=name, kind="single",
                                                                            fa_script=script)
            projects.append(apps.get_model("upload", "Project").objects.create(owner=owner, name=name,
                                                                               pipeline=pipeline))
        rows = [(projects[0], "a.txt", "latin1"), (projects[0], "b.txt", "cp1250"), (projects[0], "c.txt", ""),
                (projects[1], "d.txt", "latin1")]
        for project, name, converter in rows:
            ProjectFile.objects.create(project=project, name=name, file=f"x/{name}", template_id="textinput",
                                       kind="transcript", converter=converter, size=1)

        apps = _migrate(latest)
        files = apps.get_model("upload", "ProjectFile").objects.order_by("name")
        assert [(f.name, f.converter, f.converter_label) for f in files] == [
            ("a.txt", "latin1", "Convert from Latin-1"), ("b.txt", "cp1250", ""), ("c.txt", "", ""),
            ("d.txt", "latin1", "Latin-1 → UTF-8")]
    finally:
        _migrate(latest)
