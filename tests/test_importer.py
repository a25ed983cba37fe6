"""The importer reads any CLAM service into Script, Profile, templates and parameters."""

import json

import pytest
from django.db import connection

from scripts import importer
from scripts.models import Script
from tests.clamservers import PASSWORD, USER
from tests.helpers import ROOT, free_port

pytestmark = pytest.mark.django_db


def make_script(service_or_url, name="shapes", username=USER, password=PASSWORD):
    url = getattr(service_or_url, "url", service_or_url)
    script = Script(name=name, url=url, username=username)
    script.set_password(password)
    script.save()
    return script


def params(script):
    return {p.clam_id: p.specific for p in script.parameters.filter(input_template=None)}


def snapshot(script):
    """Everything an import writes, to compare before and after a failed import."""
    script.refresh_from_db()
    return (
        [
            (p.index, [vars_of(t) for t in p.input_templates.all()], [vars_of(t) for t in p.output_templates.all()])
            for p in script.profiles.all()
        ],
        sorted((p.clam_id, p.type, p.preset, str(p.specific.__dict__.get("value"))) for p in script.parameters.all()),
        script.service_name,
    )


def vars_of(obj):
    return {k: v for k, v in obj.__dict__.items() if not k.startswith("_")}


def test_import_reads_every_profile_template_and_parameter(shapes_a):
    script = make_script(shapes_a)
    assert importer.import_script(script) is None
    script.refresh_from_db()
    assert script.import_error == "" and script.imported_at
    assert script.service_name == "Shapes test service (a)"
    assert script.auth_scheme == "basic"

    first, second = script.profiles.all()
    text, audio = first.input_templates.all()
    assert (text.template_id, text.format, text.label, text.mimetype, text.extension) == (
        "text", "PlainTextFormat", "Some text", "text/plain", "txt",
    )
    assert (text.optional, text.unique, text.accept_archive) == (False, False, False)
    assert (audio.template_id, audio.format, audio.extension, audio.optional, audio.unique) == (
        "audio", "WaveAudioFormat", "wav", True, True,
    )
    template_params = {p.clam_id: p.specific for p in text.parameters.all()}
    assert set(template_params) == {"encoding", "language", "year"}
    assert template_params["encoding"].value == "utf-8"
    assert [(c.choice_id, c.label) for c in template_params["language"].choices.all()] == [
        ("en", "English"), ("nl", "Dutch"),
    ]
    assert template_params["language"].default == "nl"
    assert template_params["year"].default == 1811

    result, summary, errorlog = first.output_templates.all()  # CLAM adds errorlog itself
    assert (errorlog.template_id, errorlog.filename) == ("errorlog", "error.log")
    assert (result.template_id, result.extension, result.parent, result.unique) == ("result", "out", "text", False)
    assert (summary.template_id, summary.filename, summary.unique) == ("summary", "summary.txt", True)
    (bundle,) = second.input_templates.all()
    assert (bundle.format, bundle.extension, bundle.accept_archive, bundle.optional) == ("XMLFormat", "xml", True, True)
    assert [t.template_id for t in second.output_templates.all()] == ["merged", "errorlog"]

    p = params(script)
    assert set(p) == {"verbose", "engine", "author", "mode", "tiers", "beam", "threshold", "notes", "legacy"}
    assert {k: v.type for k, v in p.items()} == {
        "verbose": "boolean", "engine": "static", "author": "string", "mode": "choice", "tiers": "choice",
        "beam": "integer", "threshold": "float", "notes": "text", "legacy": "integer",
    }
    assert p["verbose"].default is True and p["verbose"].group == "General"
    assert p["engine"].value == "shapes-1.0"
    assert p["author"].default == "anonymous" and p["author"].required is True
    assert p["verbose"].required is False
    assert [(c.choice_id, c.label) for c in p["mode"].choices.all()] == [("fast", "Fast"), ("exact", "Exact")]
    assert p["mode"].default == "exact" and not p["mode"].multi
    assert p["tiers"].multi and p["tiers"].default == "w,p"
    assert p["beam"].default == 10 and p["beam"].group == "Numbers"
    assert (p["beam"].minimum, p["beam"].maximum) == (None, None)  # CLAM does not publish ranges
    assert p["threshold"].default == 0.25
    assert p["notes"].default == "none"
    assert not any(v.preset for v in p.values())
    assert all(v.value_for_clam() is None for v in p.values())


def test_reimport_keeps_valid_presets_and_drops_the_rest(shapes_a, shapes_b):
    script = make_script(shapes_a)
    assert importer.import_script(script) is None
    p = params(script)
    for clam_id, value in {"mode": "fast", "tiers": "w,s", "beam": 42, "author": "alice", "verbose": False}.items():
        p[clam_id].value = value
        p[clam_id].preset = True
        p[clam_id].full_clean()
        p[clam_id].save()
    p["beam"].minimum, p["beam"].maximum = 1, 100
    p["beam"].save()
    template_ids_before = {t.template_id: t.pk for t in script.profiles.get(index=0).input_templates.all()}

    script.url = shapes_b.url
    script.save()
    assert importer.import_script(script) is None
    p = params(script)
    assert "legacy" not in p and "new_flag" in p
    assert [c.choice_id for c in p["mode"].choices.all()] == ["exact", "careful"]
    assert (p["mode"].preset, p["mode"].value) == (False, "exact")  # "fast" is gone
    assert (p["tiers"].preset, p["tiers"].value_for_clam()) == (True, "w,s")
    assert (p["beam"].preset, p["beam"].value, p["beam"].minimum, p["beam"].maximum) == (True, 42, 1, 100)
    assert p["author"].value_for_clam() == "alice"
    assert p["verbose"].value_for_clam() == "False"
    assert script.profiles.count() == 1
    # Templates are updated in place, so what refers to them (pipelines) stays valid.
    assert {t.template_id: t.pk for t in script.profiles.get(index=0).input_templates.all()} == template_ids_before


def test_bundled_services_import(fa_service, g2p_service):
    fa = make_script(fa_service, name="fa")
    g2p = make_script(g2p_service, name="g2p")
    assert importer.import_script(fa) is None
    assert importer.import_script(g2p) is None
    templates = {t.template_id: t for t in fa.profiles.get().input_templates.all()}
    assert set(templates) == {"audio", "audio_flac", "transcript", "transcript_textgrid", "transcript_eaf", "dictionary"}
    assert templates["dictionary"].unique and templates["dictionary"].optional
    # A recording comes with one kind of transcript or another (issue 17): none is required on its own.
    for kind in ("transcript", "transcript_textgrid", "transcript_eaf"):
        assert templates[kind].optional and not templates[kind].unique, kind
    assert (templates["transcript_textgrid"].extension, templates["transcript_textgrid"].format) == (
        "TextGrid", "TextGridFormat")
    # The fixture that a fresh install loads before the import holds what the import gives.
    fixture = {f["fields"]["template_id"]: f["fields"] for f in json.loads((ROOT / "fixtures" / "clam.json").read_text())
               if f["model"] == "scripts.inputtemplate" and f["fields"]["profile"][0].startswith("Bundled forced")}
    assert {tid: (t.format, t.label, t.mimetype, t.extension, t.optional, t.unique, t.order)
            for tid, t in templates.items()} == {
        tid: (f["format"], f["label"], f["mimetype"], f["extension"], f["optional"], f["unique"], f["order"])
        for tid, f in fixture.items()}
    assert {o.template_id for o in fa.profiles.get().output_templates.all()} >= {"textgrid", "oov", "log"}
    fa_params = params(fa)
    assert [(c.choice_id, c.label) for c in fa_params["textgrid_format"].choices.all()] == [
        ("long", "Long text format"), ("short", "Short text format"),
    ]
    assert fa_params["chunk_seconds"].default == 5.0 and fa_params["phone_tier"].default is True
    # English and every language mapped to its acoustic model (issue 18).
    assert {c.choice_id for c in params(g2p)["language"].choices.all()} == {"en-us", "nl", "de", "fr", "es", "it"}


FAULTS = {
    "refused": ("refused", "connection refused"),
    "hang": ("hang/", "did not answer within 1 s"),
    "trickle": ("trickle/", "took longer than 2 s to send its answer"),
    "html": ("html/", "not a CLAM service description"),
    "truncated": ("truncated/", "not well-formed XML"),
    "error500": ("error500/", "internal error (HTTP 500)"),
    "notfound": ("missing/", "404"),
    "huge": ("huge/", "larger than"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failed_import_keeps_the_previous_one_and_records_why(shapes_a, fault_server, settings, fault):
    settings.CLAM_READ_TIMEOUT = 1
    settings.CLAM_TOTAL_TIMEOUT = 2
    settings.CLAM_MAX_XML_BYTES = 1024 * 1024
    script = make_script(shapes_a)
    assert importer.import_script(script) is None
    before = snapshot(script)

    path, expected = FAULTS[fault]
    script.url = f"http://127.0.0.1:{free_port()}/" if fault == "refused" else fault_server.url + path
    script.save()
    error = importer.import_script(script)
    assert error and expected in error
    script.refresh_from_db()
    assert script.import_error == error
    assert snapshot(script) == before


def test_wrong_password_is_reported_and_changes_nothing(shapes_a):
    script = make_script(shapes_a)
    assert importer.import_script(script) is None
    before = snapshot(script)
    script.set_password("wrong")
    script.save()
    assert "rejected the credentials (HTTP 401)" in importer.import_script(script)
    assert snapshot(script) == before
    script.username = ""
    script.save()
    assert "requires a username and password" in importer.import_script(script)


def test_external_entities_are_not_resolved(fault_server):
    script = make_script(fault_server.url + "xxe/", username="", password="")
    importer.import_script(script)
    with connection.cursor() as cursor:
        for table in ("scripts_script", "scripts_inputtemplate"):
            cursor.execute(f"SELECT * FROM {table}")
            assert "root:" not in repr(cursor.fetchall())


def test_credentials_never_follow_a_redirect_to_another_host(fault_server):
    from tests.faultserver import FaultServer

    other = FaultServer().start()
    try:
        fault_server.redirect_target = other.url
        script = make_script(fault_server.url + "redirect/", password="s3cret")
        error = importer.import_script(script)
        assert "redirects to 127.0.0.1" in error and "does not send credentials to another host" in error
        assert other.authorizations == []
    finally:
        other.stop()


def test_a_write_that_fails_half_way_leaves_the_previous_import(shapes_a, shapes_b, monkeypatch):
    script = make_script(shapes_a)
    assert importer.import_script(script) is None
    before = snapshot(script)
    calls = []

    def fail_on_global_parameters(script, infos, input_template=None):
        calls.append(input_template)
        if input_template is None:
            raise RuntimeError("disk on fire")
        return original(script, infos, input_template)

    original = importer._write_parameters
    monkeypatch.setattr(importer, "_write_parameters", fail_on_global_parameters)
    script.url = shapes_b.url
    script.save()
    error = importer.import_script(script)
    assert error == "an unexpected error occurred while importing; the server log has the details"
    assert calls  # the failure happened after part of the new import was written
    script.url = shapes_a.url
    script.save()
    assert snapshot(script)[:2] == before[:2]


def test_choice_and_number_presets_are_validated(shapes_a):
    from django.core.exceptions import ValidationError

    script = make_script(shapes_a)
    importer.import_script(script)
    p = params(script)
    p["mode"].value, p["mode"].preset = "turbo", True
    with pytest.raises(ValidationError, match="turbo is not a choice"):
        p["mode"].full_clean()
    p["tiers"].value, p["tiers"].preset = "w,x", True
    with pytest.raises(ValidationError, match="x is not a choice"):
        p["tiers"].full_clean()
    p["beam"].minimum, p["beam"].maximum, p["beam"].value = 1, 100, 101
    with pytest.raises(ValidationError, match="at most 100"):
        p["beam"].full_clean()
    p["threshold"].value, p["threshold"].preset = float("nan"), True
    with pytest.raises(ValidationError, match="finite"):
        p["threshold"].full_clean()


def test_a_404_names_the_whole_address_with_its_path(fault_server):
    script = make_script(fault_server.url + "clam/textstats/", username="", password="")
    url = fault_server.url + "clam/textstats/"
    assert importer.import_script(script) == f"{url} answered 404 Not Found"
    assert importer.check_connection(script) == (False, f"{url} answered 404 Not Found")


def test_a_server_that_keeps_the_admin_waiting_is_given_up_within_the_admins_limit(fault_server, settings):
    # Each wait is within the request limits (a byte every 0.25 s; the server holds "hang/" 20 s),
    # the whole is not: the admin's own limit ends it.
    settings.CLAM_READ_TIMEOUT = 30
    settings.CLAM_TOTAL_TIMEOUT = 30
    settings.CLAM_ADMIN_TIMEOUT = 1
    for path in ("trickle/", "hang/"):
        script = make_script(fault_server.url + path, name=path, username="", password="")
        assert importer.import_script(script) == (
            f"{fault_server.url}{path} did not answer completely within 1 s, Equestria's limit for the admin "
            "(CLAM_ADMIN_TIMEOUT); it accepts connections, but does not answer as a CLAM service would"
        )


def test_https_to_a_plain_http_server_says_so(fault_server, settings):
    settings.CLAM_READ_TIMEOUT = 1
    port = fault_server.server_address[1]
    script = make_script(f"https://127.0.0.1:{port}/clam/", username="", password="")
    expected = (
        f"https://127.0.0.1:{port}/clam/ does not answer in HTTPS, but a plain-HTTP server answers at that address: "
        f"if the service has no HTTPS, use http://127.0.0.1:{port}/clam/"
    )
    assert importer.import_script(script) == expected
    assert importer.check_connection(script) == (False, expected)


def test_credentials_written_into_an_https_url_never_go_to_the_plain_http_server(fault_server, settings):
    # Django's URLValidator accepts user:password@ in a URL; requests would send them as Basic auth (in clear
    # text over plain HTTP) to the server that is asked whether it answers in plain HTTP.
    settings.CLAM_READ_TIMEOUT = 1
    port = fault_server.server_address[1]
    script = make_script(f"https://alice:s3cret@127.0.0.1:{port}/clam/", username="", password="")
    expected = (
        f"https://127.0.0.1:{port}/clam/ does not answer in HTTPS, but a plain-HTTP server answers at that address: "
        f"if the service has no HTTPS, use http://127.0.0.1:{port}/clam/"
    )
    error = importer.import_script(script)
    assert fault_server.authorizations == [("/clam/", None)]
    assert error == expected
    assert importer.check_connection(script) == (False, expected)


def test_no_plain_http_server_is_asked_once_the_admins_time_is_up(settings):
    from tests.faultserver import SilentServer

    # The HTTPS attempt waits for the server's TLS answer until the admin's limit; asking the same
    # port in plain HTTP afterwards would keep the page waiting beyond it.
    settings.CLAM_ADMIN_TIMEOUT = 1
    settings.CLAM_CONNECT_TIMEOUT = 5
    settings.CLAM_READ_TIMEOUT = 5
    server = SilentServer().start()
    try:
        url = f"https://127.0.0.1:{server.port}/clam/"
        error = importer.import_script(make_script(url, username="", password=""))
    finally:
        server.stop()
    assert error == (
        f"{url} did not answer completely within 1 s, Equestria's limit for the admin (CLAM_ADMIN_TIMEOUT); it "
        "accepts connections, but does not answer as a CLAM service would"
    )
    assert len(server.received) == 1 and server.received[0].startswith(b"\x16\x03")  # a TLS hello, no plain GET


def test_a_server_that_closes_the_connection_at_once_is_named_with_its_path():
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def close_each():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.close()

    thread = threading.Thread(target=close_each, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/clam/"
        error = importer.import_script(make_script(url, username="", password=""))
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
    assert error.startswith(f"{url} closed the connection without answering ("), error


def test_a_reimport_that_would_remove_a_template_a_pipeline_uses_says_which(shapes_a, shapes_b):
    from scripts.models import OutputTemplate, Pipeline

    script = make_script(shapes_a)
    assert importer.import_script(script) is None
    # Release b drops the second profile, whose output "merged" the pipeline lists its OOV words in.
    merged = OutputTemplate.objects.get(profile__script=script, template_id="merged")
    Pipeline.objects.create(name="Shapes", language="en", fa_script=script, oov_output=merged)
    before = snapshot(script)
    script.url = shapes_b.url
    script.save()
    assert importer.import_script(script) == (
        "the service no longer declares the output template “merged”, which pipeline “Shapes” uses as “FA output "
        "listing OOV words”: choose another template in the pipeline first (or delete the pipeline); the previous "
        "import is kept meanwhile"
    )
    assert snapshot(script)[0] == before[0]
