"""Mails about runs (pipelines.notifications): once per event although steps and tasks run at least once, to
the owner only while "e-mail me about my runs" is on (the settings page, /api/v1/me/), a failing mail server
never failing the run. The worker's step (services.on_process_finished) is called as the worker calls it; the
queued mail task is run by django-background-tasks' own runner. Mail goes to Django's test outbox, or to a
port on 127.0.0.1 where nothing listens. The review mail's delay (RUN_REVIEW_MAIL_DELAY_SECONDS) is not waited for:
its task is made due, as the clock would make it."""

import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from background_task.models import Task
from background_task.tasks import tasks
from django.core import mail
from django.core.mail.backends import locmem as locmem_backend
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pipelines import notifications, services
from pipelines.models import Notification, Run
from scripts.models import Process
from tests.test_api import _waiting_for_review, api, token_for
from tests.test_outcomes import GRID, aligning_run, entry, finish, report

pytestmark = pytest.mark.django_db
TASK = "pipelines.notifications.send_run_mail"


def run_mail_tasks(*, later=False):
    """Run every due mail task, as a worker would (other tasks, e.g. a realignment's steps, stay queued); how many ran.

    `later`: once the review mail's delay has passed (its task made due now)."""
    if later:
        Task.objects.filter(task_name=TASK).update(run_at=timezone.now())
    ran = 0
    for _ in range(100):  # a failing task is put off, so this ends anyway
        task = Task.objects.filter(task_name=TASK, run_at__lte=timezone.now()).order_by("run_at", "pk").first()
        if task is None or not task.lock("test worker"):
            break
        tasks.run_task(task)
        ran += 1
    return ran


def review_run(alice):
    """A run that the worker's step has just moved to the review (one unknown word)."""
    run = aligning_run(alice, "a", {})
    g2p = Process.objects.create(script=run.pipeline.fa_script, status=Process.Status.DONE,
                                 output_folder=f"{run.project.folder}/runs/t/g2p")
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.TRANSCRIBING, g2p_process=g2p, oov_words=["pony"])
    finish(g2p)
    run.refresh_from_db()
    assert run.stage == Run.Stage.REVIEW
    return run


def done_run(alice):
    run = aligning_run(alice, "a", {"a.TextGrid": GRID, "report.json": report(entry("a.wav"))})
    finish(run.fa_process)
    run.refresh_from_db()
    assert run.stage == Run.Stage.DONE
    return run


def test_a_run_that_ends_mails_its_owner_once_with_a_link_to_the_run_even_when_the_step_runs_twice(alice):
    run = done_run(alice)
    finish(run.fa_process)  # the step again, as a task that ran twice would

    assert Task.objects.filter(task_name=TASK).count() == 1
    assert run_mail_tasks() == 1
    [sent] = mail.outbox
    assert sent.to == [alice.email]
    assert sent.subject == "Equestria: your run of “Austen” is done"
    assert f"http://127.0.0.1:8000/projects/{run.project_id}/runs/{run.pk}/" in sent.body
    assert "http://127.0.0.1:8000/accounts/settings/" in sent.body
    assert Notification.objects.get(run=run).outcome == "sent"


def test_the_mail_task_run_twice_sends_once(alice):
    run = done_run(alice)
    notification = Notification.objects.get(run=run)
    notifications.send_run_mail(notification.pk)  # delivered a second time (at-least-once)
    notifications.notify(run, Run.Stage.DONE)  # and the event recorded again: nothing new
    assert Task.objects.filter(task_name=TASK).count() == 2
    assert run_mail_tasks() == 2
    assert len(mail.outbox) == 1


def test_the_link_is_under_the_configured_site_url(alice, settings):
    settings.EQUESTRIA_SITE_URL = "https://equestria.example.org"
    run = done_run(alice)
    run_mail_tasks()
    assert f"https://equestria.example.org/projects/{run.project_id}/runs/{run.pk}/" in mail.outbox[0].body


def test_a_run_that_needs_the_review_and_then_ends_with_problems_mails_for_each(alice):
    run = review_run(alice)
    run_mail_tasks(later=True)
    assert [m.subject for m in mail.outbox] == ["Equestria: your run of “Austen” needs your review"]
    assert "found words the aligner does not know (1)" in mail.outbox[0].body

    realign = Process.objects.create(script=run.pipeline.fa_script, status=Process.Status.FAILED,
                                     output_folder=f"{run.project.folder}/runs/t/fa2", error="the service stopped")
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.REALIGNING, realign_process=realign)
    finish(realign)
    run_mail_tasks()
    assert mail.outbox[1].subject == "Equestria: your run of “Austen” failed"
    assert sorted(Notification.objects.filter(run=run).values_list("event", flat=True)) == ["failed", "review"]


def test_a_cancelled_run_sends_nothing(alice):
    run = aligning_run(alice, "a", {}, status=Process.Status.RUNNING)
    services.cancel(run)
    assert Run.objects.get(pk=run.pk).stage == Run.Stage.CANCELLED
    assert run_mail_tasks() == 0 and not Notification.objects.exists()


def test_nothing_is_mailed_to_an_owner_who_turned_the_mails_off(alice, alice_client):
    response = alice_client.post_form(reverse("accounts-settings"), {})  # the box unticked
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.notify_runs is False
    run = done_run(alice)
    run_mail_tasks()
    assert mail.outbox == []
    assert Notification.objects.get(run=run).outcome == "off"


def test_a_mail_server_that_fails_is_logged_shown_to_staff_and_the_run_stays_done(alice, admin_user, settings, caplog):
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    run = done_run(alice)
    assert run_mail_tasks() == 1
    assert "Could not send the run-ended mail" in caplog.text
    assert Notification.objects.get(run=run).outcome == "failed"
    assert Run.objects.get(pk=run.pk).stage == Run.Stage.DONE
    assert not Task.objects.filter(task_name=TASK).exists()  # not tried again (and again)
    staff = Client()
    staff.force_login(admin_user)
    page = staff.get(reverse("admin:pipelines_notification_changelist")).content.decode()
    assert "not sent: the mail server failed (see the log)" in page


def test_the_settings_page_shows_the_choice_on_by_default_and_needs_a_login(alice_client, client):
    response = client.get(reverse("accounts-settings"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts-login"))
    page = alice_client.get(reverse("accounts-settings")).content.decode()
    assert "E-mail me about my runs" in page and 'name="notify_runs"' in page and "checked" in page
    assert "Settings" in alice_client.get(reverse("home")).content.decode()


def test_the_api_reads_and_changes_the_setting(alice):
    client = api(token_for(alice))
    assert client.get(reverse("api-me")).json() == {"username": "alice", "email": alice.email, "notify_runs": True}
    response = client.patch(reverse("api-me"), json.dumps({"notify_runs": False}), content_type="application/json")
    assert response.json()["notify_runs"] is False
    alice.refresh_from_db()
    assert alice.notify_runs is False
    for body, detail in (({"notify_runs": "no"}, "Send each setting as true or false, e.g. {\"notify_runs\": false}."),
                         ({"email": "x@example.org"}, "Only notify_runs can be changed here, not email.")):
        response = client.patch(reverse("api-me"), json.dumps(body), content_type="application/json")
        assert (response.status_code, response.json()) == (400, {"code": "invalid", "detail": detail})


def test_a_subject_shows_the_projects_name_as_it_was_typed(alice):
    run = aligning_run(alice, "a", {})
    run.project.name = "Tom & Jerry's"
    run.project.save()
    g2p = Process.objects.create(script=run.pipeline.fa_script, status=Process.Status.DONE,
                                 output_folder=f"{run.project.folder}/runs/t/g2p")
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.TRANSCRIBING, g2p_process=g2p, oov_words=["pony"])
    finish(g2p)
    run_mail_tasks(later=True)
    realign = Process.objects.create(script=run.pipeline.fa_script, status=Process.Status.FAILED,
                                     output_folder=f"{run.project.folder}/runs/t/fa2", error="the service stopped")
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.REALIGNING, realign_process=realign)
    finish(realign)
    run_mail_tasks()
    assert [m.subject for m in mail.outbox] == ["Equestria: your run of “Tom & Jerry's” needs your review",
                                                "Equestria: your run of “Tom & Jerry's” failed"]


class PeekingBackend(locmem_backend.EmailBackend):
    """Django's test outbox, noting each run mail's outcome while it is being sent."""

    seen = []

    def send_messages(self, messages):
        PeekingBackend.seen.append(list(Notification.objects.values_list("outcome", flat=True)))
        return super().send_messages(messages)


def test_a_mail_is_marked_sent_only_once_it_was_sent(alice, settings):
    settings.EMAIL_BACKEND = "tests.test_notifications.PeekingBackend"
    PeekingBackend.seen = []
    run = done_run(alice)
    assert run_mail_tasks() == 1
    assert PeekingBackend.seen == [["sending"]]  # claimed, so that a second task does nothing, but not yet sent
    assert Notification.objects.get(run=run).outcome == "sent" and len(mail.outbox) == 1


@pytest.mark.parametrize(("change", "outcome"), [({"email": ""}, "no_address"), ({"is_active": False}, "inactive")])
def test_an_owner_without_an_address_or_inactive_has_an_outcome_of_its_own(alice, change, outcome):
    type(alice).objects.filter(pk=alice.pk).update(**change)
    run = done_run(alice)
    run_mail_tasks()
    assert mail.outbox == []
    assert Notification.objects.get(run=run).outcome == outcome


def test_the_review_mail_waits_and_is_not_sent_when_the_review_was_answered_meanwhile(alice, settings):
    settings.RUN_REVIEW_MAIL_DELAY_SECONDS = 300
    before = timezone.now()
    run = review_run(alice)
    [task] = Task.objects.filter(task_name=TASK)
    assert task.run_at >= before + timedelta(seconds=300)
    assert run_mail_tasks() == 0  # not yet due

    # The folder client's --review accept, a second later.
    _waiting_for_review(run)
    url = reverse("api-run-review", args=[run.project_id, run.pk])
    response = api(token_for(alice)).post(url, json.dumps({"dictionary": "pony P OW N IY\n"}),
                                          content_type="application/json")
    assert response.status_code == 200, response.content
    assert Run.objects.get(pk=run.pk).stage == Run.Stage.REALIGNING

    assert run_mail_tasks(later=True) == 1
    assert mail.outbox == []
    notification = Notification.objects.get(run=run, event="review")
    assert notification.outcome == "not_needed"
    assert notification.get_outcome_display() == "not sent: the run was no longer waiting for the review"
    notifications.send_run_mail(notification.pk)  # delivered again (at-least-once): still nothing
    notifications.notify(run, Run.Stage.REVIEW)
    assert run_mail_tasks(later=True) == 1 and mail.outbox == []
    assert Notification.objects.get(run=run, event="review").outcome == "not_needed"


def test_the_review_mail_goes_once_when_the_run_still_waits_after_the_delay(alice, settings):
    settings.RUN_REVIEW_MAIL_DELAY_SECONDS = 300
    run = review_run(alice)
    notification = Notification.objects.get(run=run)
    notifications.send_run_mail(notification.pk, schedule=300)  # a second task of the same event
    assert run_mail_tasks() == 0
    assert run_mail_tasks(later=True) == 2
    assert [m.subject for m in mail.outbox] == ["Equestria: your run of “Austen” needs your review"]
    assert Notification.objects.get(pk=notification.pk).outcome == "sent"


def test_a_review_mail_of_a_run_cancelled_in_the_review_is_not_sent(alice):
    run = review_run(alice)
    services.cancel(run)
    assert run_mail_tasks(later=True) == 1
    assert mail.outbox == []
    assert Notification.objects.get(run=run).outcome == "not_needed"


def test_without_a_delay_the_review_mail_is_due_at_once(alice, settings):
    settings.RUN_REVIEW_MAIL_DELAY_SECONDS = 0
    review_run(alice)
    assert run_mail_tasks() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two connections at once: the PostgreSQL pass")
def test_a_review_mail_claimed_by_one_task_is_not_settled_by_another_waiting_for_its_row(alice):
    with transaction.atomic():  # as the worker's step runs
        run = review_run(alice)
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.REALIGNING)  # the review answered
    notification = Notification.objects.get(run=run)
    locked, go, errors = threading.Event(), threading.Event(), []

    def first_task():  # claims the mail and holds its row until told to go on
        try:
            with transaction.atomic():
                Notification.objects.filter(pk=notification.pk).update(outcome=Notification.Outcome.SENDING)
                locked.set()
                go.wait(timeout=30)
        finally:
            connections.close_all()

    def second_task():
        try:
            notifications.send_run_mail.now(notification.pk)
        except Exception as exc:  # noqa: BLE001 — shown by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=first_task)
    first.start()
    assert locked.wait(timeout=30)
    second = threading.Thread(target=second_task)
    second.start()
    # Until the second task waits for the row (at most 30 s).
    for _ in range(300):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                break
        time.sleep(0.1)
    go.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert not first.is_alive() and not second.is_alive() and errors == []
    assert Notification.objects.get(pk=notification.pk).outcome == "sending"  # the first task's, to settle


@pytest.mark.parametrize(("outputs", "stage", "said"), [
    (["a.counts"], "done with problems", "Not every file was used; the run page says which, and why."),
    ([], "failed", "The run page says why.")], ids=["problems", "failed"])
def test_the_ended_mail_of_a_run_of_one_service_speaks_of_its_files_not_of_recordings(alice, outputs, stage, said):
    from tests.factories import make_project
    from tests.test_one_script import run_folder_of, single_pipeline

    project = make_project(alice, pipeline=single_pipeline())
    # b.pdf was left out: the service could not convert it (scripts.runner notes it with the input).
    process = Process.objects.create(
        script=project.pipeline.fa_script, status=Process.Status.DONE, output_folder=f"{project.folder}/runs/t/fa",
        outputs=outputs, inputs=[{"name": "a.txt", "template": "text"},
                                 {"name": "b.pdf", "template": "text", "not_converted": "b.pdf: not converted"}])
    run_folder_of(process).mkdir(parents=True)
    for name in outputs:
        (run_folder_of(process) / name).write_bytes(b"3\n")
    run = Run.objects.create(project=project, pipeline=project.pipeline, fa_process=process)
    finish(process)

    assert run_mail_tasks() == 1
    [message] = mail.outbox
    assert message.subject == f"Equestria: your run of “Austen” {'failed' if stage == 'failed' else 'is ' + stage}"
    first = message.body.split("\n\n")[1]
    assert first == f"the run of your project “Austen” {'failed' if stage == 'failed' else 'is ' + stage}. {said}"
    assert Run.objects.get(pk=run.pk).stage == ("failed" if stage == "failed" else "problems")
