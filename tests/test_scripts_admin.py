"""Scripts in the Django admin: saving imports, presets inline, connection test, encrypted passwords."""

import re
import threading

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db import connections as db_connections
from django.urls import reverse

from scripts.models import Script
from tests.clamservers import PASSWORD, USER
from tests.helpers import clean_env, free_port, manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user):
    from tests.conftest import CsrfClient

    client = CsrfClient()
    client.force_login(admin_user)
    return client


def add_script(client, url, password=PASSWORD, name="Shapes", username=USER):
    return client.post_form(
        reverse("admin:scripts_script_add"),
        {"name": name, "url": url, "username": username, "password": password, "description": ""},
        follow=True,
    )


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_adding_a_script_imports_it_and_shows_profiles_and_parameters(admin_client, shapes_a):
    response = add_script(admin_client, shapes_a.url)
    assert any("Imported “Shapes” from its server: 2 profile(s), 9 parameter(s)" in m for m in messages_of(response))
    script = Script.objects.get()
    page = admin_client.get(reverse("admin:scripts_script_change", args=[script.pk])).content.decode()
    for text in ("Some text", "summary.txt", "XML bundle", "Boolean parameters", "Choice parameters",
                 "fast: Fast; exact: Exact", "several of: w: Words", "Integer parameters", "Static parameters",
                 "shapes-1.0", "set (encrypted)"):
        assert text in page, text
    assert PASSWORD not in page


def _inline_data(page):
    """The change form's current values, as a browser would submit them."""
    data = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page):
        data[name] = value
    for match in re.finditer(r'<input([^>]*)>', page):
        attrs = match.group(1)
        name = re.search(r'name="([^"]+)"', attrs)
        if name and 'type="checkbox"' in attrs:
            data.pop(name.group(1), None)
            if "checked" in attrs:
                data[name.group(1)] = "on"
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        data[name] = body.strip()
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        data[name] = selected.group(1) if selected else ""
    data.pop("csrfmiddlewaretoken", None)
    data.pop("password", None)
    return data


def _field(page, clam_id, field):
    """The form field name of `field` in the inline row of global parameter `clam_id`."""
    from scripts.models import BaseParameter

    pk = BaseParameter.objects.get(clam_id=clam_id, input_template=None).pk
    for row, value in re.findall(r'name="([\w-]+-\d+)-baseparameter_ptr" value="(\d+)"', page):
        if int(value) == pk:
            return f"{row}-{field}"
    raise AssertionError(f"no inline row for {clam_id}")


def test_presets_are_set_inline_and_validated_per_type(admin_client, shapes_a):
    add_script(admin_client, shapes_a.url)
    script = Script.objects.get()
    url = reverse("admin:scripts_script_change", args=[script.pk])
    page = admin_client.get(url).content.decode()
    data = _inline_data(page)
    data[_field(page, "mode", "value")] = "turbo"
    data[_field(page, "mode", "preset")] = "on"
    response = admin_client.post_form(url, data)
    assert response.status_code == 200
    assert "turbo is not a choice; choose from exact, fast." in response.content.decode()

    data[_field(page, "mode", "value")] = "fast"
    data[_field(page, "beam", "value")] = "500"
    data[_field(page, "beam", "maximum")] = "100"
    data[_field(page, "beam", "preset")] = "on"
    response = admin_client.post_form(url, data)
    assert "Must be at most 100." in response.content.decode()

    data[_field(page, "beam", "value")] = "50"
    response = admin_client.post_form(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    parameters = {p.clam_id: p.specific for p in script.parameters.filter(input_template=None)}
    assert parameters["mode"].value_for_clam() == "fast"
    assert parameters["beam"].value_for_clam() == "50"
    # Saving re-imported, and the presets survived it.
    script.refresh_from_db()
    assert script.import_error == ""


@pytest.mark.django_db(transaction=True)
def test_the_import_waits_for_the_service_outside_the_admins_transaction(admin_client, shapes_a, monkeypatch):
    """On SQLite the admin's transaction holds the write lock: awaiting the service inside it stalled every
    worker's heartbeat and every upload for as long as the service took to answer."""
    from scripts import importer

    seen = []
    real_describe = importer.describe

    def describe(script):
        seen.append(connection.in_atomic_block)
        # Another writer (a worker's heartbeat, an upload) gets through while the service is being asked.
        written = []
        writer = threading.Thread(target=lambda: (written.append(Script.objects.filter(pk=script.pk).update(
            description="written meanwhile")), db_connections.close_all()))
        writer.start()
        writer.join(timeout=30)
        assert written == [1]
        return real_describe(script)

    monkeypatch.setattr(importer, "describe", describe)
    response = add_script(admin_client, shapes_a.url)
    assert seen == [False]
    assert any("Imported “Shapes” from its server: 2 profile(s)" in m for m in messages_of(response))
    assert Script.objects.get().profiles.count() == 2


def test_saving_inline_edits_imports_after_them_when_the_server_changed(admin_client, shapes_a, shapes_b):
    add_script(admin_client, shapes_a.url)
    script = Script.objects.get()
    url = reverse("admin:scripts_script_change", args=[script.pk])
    page = admin_client.get(url).content.decode()
    data = _inline_data(page)
    data[_field(page, "beam", "value")] = "50"
    data[_field(page, "beam", "preset")] = "on"
    assert admin_client.post_form(url, data).status_code == 302

    # The service behind the script's address is upgraded to release b (here: a second service),
    # while the administrator's page still shows the parameters of release a.
    Script.objects.filter(pk=script.pk).update(url=shapes_b.url)
    page = admin_client.get(url).content.decode()
    data = _inline_data(page)
    data[_field(page, "beam", "value")] = "60"
    data[_field(page, "legacy", "value")] = "7"  # release b removed this parameter
    data[_field(page, "legacy", "preset")] = "on"
    data[_field(page, "mode", "value")] = "fast"  # release b no longer offers this choice
    data[_field(page, "mode", "preset")] = "on"
    response = admin_client.post_form(url, data, follow=True)
    assert "Imported “Shapes” from its server: 1 profile(s), 9 parameter(s)." in messages_of(response)

    parameters = script.parameters.filter(input_template=None).order_by("order")
    # The order (and every other field) is release b's: no inline row wrote release a's back.
    assert [p.clam_id for p in parameters] == [
        "verbose", "engine", "author", "mode", "tiers", "new_flag", "beam", "threshold", "notes",
    ]
    specific = {p.clam_id: p.specific for p in parameters}
    assert specific["beam"].preset and specific["beam"].value_for_clam() == "60"
    assert not specific["mode"].preset and specific["mode"].value == "exact"  # the new release's default
    assert [c.choice_id for c in specific["mode"].choices.all()] == ["exact", "careful"]


def test_saving_with_a_stopped_server_keeps_the_script_and_says_why(admin_client, shapes_a):
    add_script(admin_client, shapes_a.url)
    script = Script.objects.get()
    url = reverse("admin:scripts_script_change", args=[script.pk])
    data = _inline_data(admin_client.get(url).content.decode())
    data["url"] = f"http://127.0.0.1:{free_port()}/"
    response = admin_client.post_form(url, data, follow=True)
    assert any(
        "could not be read: cannot connect to http://127.0.0.1" in m and "connection refused" in m
        for m in messages_of(response)
    )
    script.refresh_from_db()
    assert "connection refused" in script.import_error
    assert script.profiles.count() == 2
    changelist = admin_client.get(reverse("admin:scripts_script_changelist") + "?state=error").content.decode()
    assert "import failed" in changelist


def test_test_connection_action_reports_each_outcome(admin_client, shapes_a, fault_server):
    ok = Script.objects.create(name="ok", url=shapes_a.url, username=USER)
    ok.set_password(PASSWORD)
    ok.save()
    wrong = Script.objects.create(name="wrong", url=shapes_a.url, username=USER)
    wrong.set_password("nope")
    wrong.save()
    html = Script.objects.create(name="html", url=fault_server.url + "html/")
    down = Script.objects.create(name="down", url=f"http://127.0.0.1:{free_port()}/")
    response = admin_client.post_form(
        reverse("admin:scripts_script_changelist"),
        {"action": "check_connection", "_selected_action": [s.pk for s in (ok, wrong, html, down)]},
        follow=True,
    )
    found = "\n".join(messages_of(response))
    assert "ok: reachable: CLAM service “Shapes test service (a)”" in found
    assert "wrong: http://127.0.0.1" in found and "rejected the credentials" in found
    assert "html: " in found and "not a CLAM service" in found
    assert "down: cannot connect" in found


def test_reimport_action(admin_client, shapes_a):
    script = Script.objects.create(name="s", url=shapes_a.url, username=USER)
    script.set_password(PASSWORD)
    script.save()
    response = admin_client.post_form(
        reverse("admin:scripts_script_changelist"),
        {"action": "reimport", "_selected_action": [script.pk]},
        follow=True,
    )
    assert any("Imported “s”" in m for m in messages_of(response))
    assert script.profiles.count() == 2


def test_url_must_be_http_or_https(admin_client):
    for url in ("ftp://example.org/", "file:///etc/passwd"):
        response = add_script(admin_client, url)
        assert "Enter a valid URL." in response.content.decode(), url
    response = add_script(admin_client, "javascript:alert(1)")
    assert "Enter the whole address, starting with http:// or https://" in response.content.decode()
    assert not Script.objects.exists()


def test_a_url_without_a_scheme_is_refused_not_guessed(admin_client, shapes_a):
    from html import unescape

    address = shapes_a.url.removeprefix("http://")
    response = add_script(admin_client, address)
    assert (
        f"Enter the whole address, starting with http:// or https:// (e.g. http://{address}): "
        "Equestria does not guess which of the two the service speaks."
    ) in unescape(response.content.decode())
    assert not Script.objects.exists()


def test_a_preset_of_an_input_templates_parameter_is_saved_as_it_is_sent_with_the_uploads(admin_client, shapes_a):
    from html import unescape

    from scripts.models import BaseParameter

    add_script(admin_client, shapes_a.url)
    script = Script.objects.get()
    url = reverse("admin:scripts_script_change", args=[script.pk])
    page = admin_client.get(url).content.decode()
    data = _inline_data(page)
    year = BaseParameter.objects.get(clam_id="year", input_template__isnull=False)
    row = next(r for r, v in re.findall(r'name="([\w-]+-\d+)-baseparameter_ptr" value="(\d+)"', page) if int(v) == year.pk)
    data[f"{row}-value"] = "1811"
    data[f"{row}-preset"] = "on"
    response = admin_client.post_form(url, data)
    assert response.status_code == 302, unescape(response.content.decode())
    saved = BaseParameter.objects.get(pk=year.pk)
    assert saved.preset and saved.specific.value == 1811


def test_a_boolean_preset_of_unknown_is_refused(admin_client, shapes_a):
    from html import unescape

    add_script(admin_client, shapes_a.url)
    script = Script.objects.get()
    url = reverse("admin:scripts_script_change", args=[script.pk])
    page = admin_client.get(url).content.decode()
    data = _inline_data(page)
    data[_field(page, "verbose", "value")] = "unknown"
    data[_field(page, "verbose", "preset")] = "on"
    response = admin_client.post_form(url, data)
    assert response.status_code == 200
    assert (
        "Choose Yes or No to preset: “Unknown” sends nothing, so the service's default would apply."
        in unescape(response.content.decode())
    )
    assert not script.parameters.get(clam_id="verbose").preset

    data[_field(page, "verbose", "value")] = "false"
    assert admin_client.post_form(url, data).status_code == 302
    assert script.parameters.get(clam_id="verbose").specific.value_for_clam() == "False"


def test_password_is_stored_encrypted_and_never_shown(admin_client, shapes_a):
    add_script(admin_client, shapes_a.url, password=PASSWORD)
    script = Script.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM scripts_script")
        assert PASSWORD not in repr(cursor.fetchall())
    assert script.get_password() == PASSWORD
    assert script.clam_client().index().system_id == "shapes"  # the client authenticates with it

    # Leaving the field empty keeps the password.
    url = reverse("admin:scripts_script_change", args=[script.pk])
    page = admin_client.get(url).content.decode()
    assert PASSWORD not in page and script.password_encrypted not in page
    admin_client.post_form(url, _inline_data(page))
    script.refresh_from_db()
    assert script.get_password() == PASSWORD


def test_a_password_encrypted_with_a_lost_key_asks_to_enter_it_again(admin_client, shapes_a, settings):
    add_script(admin_client, shapes_a.url)
    script = Script.objects.get()
    settings.CLAM_PASSWORD_KEYS = [Fernet.generate_key().decode()]
    url = reverse("admin:scripts_script_change", args=[script.pk])
    page = admin_client.get(url).content.decode()
    assert "cannot be decrypted with the current keys — enter the password again" in page
    response = admin_client.post_form(url, _inline_data(page), follow=True)
    assert any("cannot be decrypted with the configured keys" in m for m in messages_of(response))
    data = _inline_data(admin_client.get(url).content.decode())
    data["password"] = PASSWORD
    response = admin_client.post_form(url, data, follow=True)
    assert any("Imported “Shapes”" in m for m in messages_of(response))


def test_keys_rotate_and_old_rows_stay_readable(settings, shapes_a):
    old_key, new_key = settings.CLAM_PASSWORD_KEYS[0], Fernet.generate_key().decode()
    script = Script(name="s", url=shapes_a.url, username=USER)
    script.set_password(PASSWORD)
    script.save()
    settings.CLAM_PASSWORD_KEYS = [new_key, old_key]
    assert Script.objects.get().get_password() == PASSWORD
    call_command("rotate_clam_passwords")
    settings.CLAM_PASSWORD_KEYS = [new_key]
    assert Script.objects.get().get_password() == PASSWORD


def test_production_without_a_password_key_stops_start_up(tmp_path):
    env = clean_env(tmp_path, HTTPS="true", SECRET_KEY="x" * 60)
    result = manage(["check"], env)
    assert result.returncode != 0
    assert "scripts.E001" in result.stderr and "No key to encrypt CLAM passwords with." in result.stderr
    result = manage(["check"], {**env, "CLAM_PASSWORD_KEYS": "not-a-key"})
    assert "scripts.E002" in result.stderr


def test_non_staff_and_anonymous_cannot_reach_the_script_admin(alice, client):
    from tests.conftest import CsrfClient

    url = reverse("admin:scripts_script_changelist")
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    other = CsrfClient()
    other.force_login(alice)
    assert other.get(url).status_code == 302


def test_staff_without_permission_gets_403(db):
    from tests.conftest import CsrfClient, make_user

    staff = make_user("clerk", staff=True)
    client = CsrfClient()
    client.force_login(staff)
    assert client.get(reverse("admin:scripts_script_changelist")).status_code == 403


def test_import_scripts_command(shapes_a, capsys):
    script = Script(name="s", url=shapes_a.url, username=USER)
    script.set_password(PASSWORD)
    script.save()
    call_command("import_scripts")
    assert "s: imported 9 parameters" in capsys.readouterr().out


def test_processes_are_listed_read_only_for_troubleshooting(admin_client):
    from scripts.models import Process

    script = Script.objects.create(name="s", url="http://127.0.0.1:9/")
    process = Process.objects.create(script=script, output_folder="x", status="failed", error="server exploded")
    page = admin_client.get(reverse("admin:scripts_process_changelist") + "?q=exploded").content.decode()
    assert str(process.pk) in page
    assert admin_client.get(reverse("admin:scripts_process_add")).status_code == 403
    page = admin_client.get(reverse("admin:scripts_process_change", args=[process.pk])).content.decode()
    assert "server exploded" in page and 'name="_save"' not in page


def test_the_process_page_says_what_its_log_holds(admin_client):
    """The log holds error.log after a success but CLAM's status messages after a failure: the label says so."""
    from html import unescape

    from scripts.models import Process

    script = Script.objects.create(name="s", url="http://127.0.0.1:9/")
    process = Process.objects.create(script=script, output_folder="x", status="done", log="warning: slow disk")
    page = unescape(admin_client.get(reverse("admin:scripts_process_change", args=[process.pk])).content.decode())
    assert "Job log:" in page and "warning: slow disk" in page
    assert (
        "After a job that succeeded: the end of its error.log (what the job wrote to standard error). "
        "After one that failed: CLAM's status messages; its error.log is then in “technical detail”." in page
    )
    assert "CLAM's log" not in page
