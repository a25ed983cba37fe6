"""Projects and the files researchers upload into them."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower, Now
from django.urls import reverse

from scripts.models import Pipeline
from upload.names import stem_of


# Functions (project -> reason or None) that say a project's files must not
# change right now; `pipelines` registers one while an alignment runs. A
# registry keeps the dependency pointing from pipelines to upload.
BUSY_CHECKS = []
# Functions (project -> its Processes that have not finished); `pipelines` registers
# one, so that deleting a project can stop its runs (the same direction as above).
ACTIVE_PROCESSES = []
# Functions (project, name of a file just deleted -> "" or what that means for its runs, e.g. one waiting for the
# review); `pipelines` registers one, and the delete's message says it.
DELETION_NOTES = []


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField("last activity", auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                "owner", Lower("name"), name="upload_project_unique_name_per_owner",
                violation_error_message="You already have a project with this name.",
            )
        ]
        indexes = [
            # The project list: one owner's projects, newest activity first.
            models.Index(fields=["owner", "-updated_at"], name="upload_project_owner_recent"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("upload-project", args=[self.pk])

    @property
    def folder(self):
        """The project's folder in the storage: everything of the project lives below it."""
        return f"projects/{self.pk}"

    def busy_reason(self):
        """Why the project's files cannot change now, or None."""
        for check in BUSY_CHECKS:
            reason = check(self)
            if reason:
                return reason
        return None

    def touch(self):
        Project.objects.filter(pk=self.pk).update(updated_at=Now())


def _file_path(instance, filename):
    # One folder per file: two files can never collide in the storage, and the
    # database's unique (project, name) decides which upload of a name wins.
    return f"{instance.project.folder}/files/{instance.pk}/{instance.name}"


class ProjectFile(models.Model):
    class Kind(models.TextChoices):
        AUDIO = "audio", "audio"
        TRANSCRIPT = "transcript", "transcript"
        DICTIONARY = "dictionary", "dictionary"
        OTHER = "other", "other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=150)
    file = models.FileField(upload_to=_file_path, max_length=400)
    template_id = models.CharField(
        "input template", max_length=200, help_text="The FA script's input template this file is for."
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    converter = models.CharField(
        "conversion", max_length=200, blank=True,
        help_text="The id of the input template's converter the service runs on this file when it receives it (the "
        "researcher chose it at upload); empty: the file is sent as it is.",
    )
    # Kept with the id: a re-import of a service that no longer declares the converter takes its label with it, and
    # the pages would have only the id ("latin1") to say which conversion was chosen.
    converter_label = models.CharField(
        "conversion's label", max_length=500, blank=True,
        help_text="The label the service gave the conversion when the researcher chose it (“Convert from Latin-1”).",
    )
    size = models.BigIntegerField()
    duration = models.FloatField("duration (s)", null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="upload_file_unique_name")]

    def __str__(self):
        return self.name

    @property
    def stem(self):
        return stem_of(self.name)
