"""The developers' map (docs/developers/README.md) names every URL and command, so it stays one hop."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

from tests.helpers import ROOT

MAP = ROOT / "docs" / "developers" / "README.md"


def url_names(patterns=None):
    names = set()
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            if p.app_name != "admin":  # the admin's own URLs: one row, "/admin/…"
                names |= url_names(p.url_patterns)
        elif isinstance(p, URLPattern) and p.name:
            names.add(p.name)
    return names


def test_every_url_name_is_in_the_developers_map():
    text = MAP.read_text()
    assert {name for name in url_names() if f"`{name}`" not in text} == set()


def test_every_management_command_of_equestria_is_in_the_developers_map():
    text = MAP.read_text()
    commands = {path.stem for path in ROOT.glob("*/management/commands/*.py") if not path.stem.startswith("_")}
    assert commands and {c for c in commands if f"`manage.py {c}" not in text} == set()


def test_the_docs_link_only_to_files_in_the_repository():
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).resolve().exists(), f"{page.relative_to(ROOT)} links to {target}"
            assert (page.parent / target).resolve().is_relative_to(ROOT), f"{page.relative_to(ROOT)} links outside"


def test_no_doc_points_outside_the_repository():
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        assert "../shared/" not in page.read_text(), page.relative_to(ROOT)


# Apps from the lowest to the highest: code imports only downward (docs/architecture.md).
APP_ORDER = ["accounts", "scripts", "upload", "pipelines"]


def test_every_migration_that_depends_upward_is_the_explained_history_of_the_pipeline_move():
    from django.db.migrations.loader import MigrationLoader

    upward = set()
    for (app, name), migration in MigrationLoader(None, ignore_no_migrations=True).disk_migrations.items():
        for dep_app, dep_name in migration.dependencies:
            if app in APP_ORDER and dep_app in APP_ORDER and APP_ORDER.index(dep_app) > APP_ORDER.index(app):
                upward.add((app, name[:4], dep_app, dep_name[:4]))
    # A new one is a mistake: a new migration depends only downward.
    assert upward == {("scripts", "0005", "pipelines", "0003"), ("upload", "0001", "pipelines", "0001")}
    text = (ROOT / "docs" / "architecture.md").read_text()
    explained = text[text.index("**The migrations still depend both ways, on purpose.**"):]
    explained = " ".join(explained.split("\n\n")[0].split())
    for app, number, dep_app, dep_number in upward | {("pipelines", "0004", "upload", "0002")}:
        assert re.search(rf"`{app}` {number} \([^)]*\) depends on `{dep_app}` {dep_number}\b|"
                         rf"`{app}` {number} depends on `{dep_app}` {dep_number}\b", explained), (app, number)
