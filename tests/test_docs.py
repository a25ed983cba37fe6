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
