"""Runs of a project's Pipeline (scripts.models.Pipeline) and what became of each recording."""

import uuid

from django.conf import settings
from django.db import models


class Run(models.Model):
    """One alignment of a project: FA, then (for OOV words) G2P, review, and FA again."""

    class Stage(models.TextChoices):
        ALIGNING = "aligning", "aligning"
        TRANSCRIBING = "transcribing", "finding pronunciations for unknown words"
        REVIEW = "review", "waiting for your review of the pronunciations"
        REALIGNING = "realigning", "aligning again with your pronunciations"
        DONE = "done", "done"
        # Finished, but at least one recording was not aligned: results exist, and so do reasons to look.
        PROBLEMS = "problems", "done with problems"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    ACTIVE = (Stage.ALIGNING, Stage.TRANSCRIBING, Stage.REALIGNING)
    # Finished with results to show (all of them aligned, or not all).
    COMPLETE = (Stage.DONE, Stage.PROBLEMS)
    FINISHED = (Stage.DONE, Stage.PROBLEMS, Stage.FAILED, Stage.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("upload.Project", on_delete=models.CASCADE, related_name="runs")
    pipeline = models.ForeignKey("scripts.Pipeline", on_delete=models.PROTECT, related_name="runs")
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.ALIGNING)
    parameters = models.JSONField(default=dict, help_text="Values the researcher chose for the FA script.")
    fa_process = models.ForeignKey("scripts.Process", on_delete=models.SET_NULL, null=True, related_name="+")
    g2p_process = models.ForeignKey("scripts.Process", on_delete=models.SET_NULL, null=True, related_name="+")
    realign_process = models.ForeignKey("scripts.Process", on_delete=models.SET_NULL, null=True, related_name="+")
    oov_words = models.JSONField(default=list)
    dictionary = models.TextField(blank=True, help_text="Proposed (then reviewed) pronunciations.")
    skipped_words = models.JSONField(
        default=list, help_text="Unknown words the researcher chose to leave out in the review."
    )
    everything_realigned_because = models.TextField(
        blank=True, help_text="Why the alignment after the review was given every recording (\"\": only those that "
        "need the reviewed pronunciations, or no such alignment)."
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.project} run {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def folder(self):
        return f"{self.project.folder}/runs/{self.pk}"

    @property
    def active(self):
        return self.stage in self.ACTIVE

    @property
    def complete(self):
        return self.stage in self.COMPLETE

    @property
    def result_process(self):
        """The process whose outputs are this run's results and its outcomes' TextGrids.

        The realignment once it succeeded; until then (and when it failed or was cancelled) the
        first pass, whose TextGrids of recordings without unknown words are already useful. The realignment
        aligns only the recordings that needed the review; its folder also holds the first pass's outputs of the
        others and a report of all (pipelines.outcomes.merge_first_pass), so that this one process has them all.
        """
        if self.realign_process is not None and self.realign_process.status == "done":
            return self.realign_process
        return self.fa_process

    @property
    def current_process(self):
        return {
            self.Stage.ALIGNING: self.fa_process,
            self.Stage.TRANSCRIBING: self.g2p_process,
            self.Stage.REALIGNING: self.realign_process,
        }.get(self.stage)


class RecordingOutcome(models.Model):
    """What happened to one recording in a run: its result or the reason it has none."""

    class Status(models.TextChoices):
        ALIGNED = "aligned", "aligned"
        WARNINGS = "warnings", "aligned with warnings"
        WAITING = "waiting", "waits for your review"  # first pass: has unknown words, run goes to review
        NOT_ALIGNED = "not_aligned", "not aligned"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="outcomes")
    recording = models.CharField(max_length=150, help_text="The audio file's name (or the transcript's, if no audio).")
    transcript = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    code = models.CharField(max_length=40, blank=True)
    message = models.TextField(blank=True, help_text="Plain words, shown to the researcher.")
    textgrid = models.CharField(max_length=200, blank=True, help_text="Name among the result process's outputs.")
    unknown_words = models.JSONField(default=list)
    warnings = models.JSONField(default=list)
    # Read once from the result when the outcome is recorded (by the worker), so that the run page reads no
    # TextGrid: {"words": [{"label", "confidence", "at", "time"}], "count": n} (pipelines.outcomes.words_to_check).
    # None: recorded before this was kept, or no result; the run page reads those results itself.
    to_check = models.JSONField(null=True, blank=True, default=None,
                                help_text="The result's least confident words, as the run page lists them.")

    class Meta:
        ordering = ["recording"]
        constraints = [
            models.UniqueConstraint(fields=["run", "recording"], name="pipelines_outcome_unique_recording"),
        ]

    def __str__(self):
        return f"{self.recording}: {self.get_status_display()}"

    @property
    def has_result(self):
        return self.status in (self.Status.ALIGNED, self.Status.WARNINGS) and bool(self.textgrid)


class ResultVersion(models.Model):
    """A corrected TextGrid of one recording's result, saved from the result editor or the API.

    The automatic result (the service's output) is version 0 and has no row: it is never overwritten. Each save
    is the next number; pipelines.versions.latest is the one reader of "the latest version".
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="versions")
    # The process whose output it corrects: a run waiting for review shows (and lets the researcher correct) the
    # first pass's results; once realigned, its new results start again from version 0.
    process = models.ForeignKey("scripts.Process", on_delete=models.CASCADE, related_name="+")
    result = models.CharField(max_length=200, help_text="The result TextGrid's name among the run's outputs.")
    number = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    textgrid = models.FileField(max_length=500, help_text="The saved TextGrid, under the run's folder.")

    class Meta:
        ordering = ["process", "result", "number"]
        constraints = [
            # Two saves on the same base: the second is refused (pipelines.versions.save), never lost silently.
            models.UniqueConstraint(fields=["process", "result", "number"], name="pipelines_version_unique_number"),
        ]

    def __str__(self):
        return f"{self.result} version {self.number}"


class Notification(models.Model):
    """The mail to a run's owner about one event of the run: it needs the review, or it ended.

    Created in the transaction that moves the run to that stage, with the task that sends it; the row is unique
    per (run, event) and the task claims it with a conditional update, so that a step or a task that runs twice
    (tasks run at least once) never mails twice.
    """

    class Event(models.TextChoices):
        REVIEW = "review", "needs your review"
        DONE = "done", "done"
        PROBLEMS = "problems", "done with problems"
        FAILED = "failed", "failed"

    class Outcome(models.TextChoices):
        QUEUED = "queued", "queued"
        # Claimed by a task; still so if its worker stopped while sending: it is not sent again (it may have gone).
        SENDING = "sending", "being sent (still so: the worker stopped while sending it)"
        SENT = "sent", "sent"
        OFF = "off", "not sent: the owner turned these mails off"
        NO_ADDRESS = "no_address", "not sent: the owner has no e-mail address"
        INACTIVE = "inactive", "not sent: the owner's account is inactive"
        FAILED = "failed", "not sent: the mail server failed (see the log)"
        # A review mail waits RUN_REVIEW_MAIL_DELAY_SECONDS: a script (or the researcher) that reviewed by then
        # needs no reminder.
        NOT_NEEDED = "not_needed", "not sent: the run was no longer waiting for the review"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=20, choices=Event.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the worker took it up.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "event"], name="pipelines_notification_once_per_event"),
        ]

    def __str__(self):
        return f"{self.run}: {self.get_event_display()} ({self.outcome})"
