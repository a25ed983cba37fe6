"""CLAM servers ("scripts") and what the importer reads from them.

A Script is one CLAM webservice. Its profiles, input and output templates and
parameters are written by `scripts.importer` from the live server; the
administrator only sets presets (the values Equestria sends) and ranges the
server does not publish.
"""

import math
import re
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from scripts import crypto
from scripts.filenames import has_extension


class ScriptManager(models.Manager):
    def get_by_natural_key(self, name):
        return self.get(name=name)


class ProfileManager(models.Manager):
    def get_by_natural_key(self, script_name, index):
        return self.get(script__name=script_name, index=index)


class TemplateManager(models.Manager):
    def get_by_natural_key(self, script_name, index, template_id):
        return self.get(profile__script__name=script_name, profile__index=index, template_id=template_id)


# Natural keys (names, not ids) let fixtures/clam.json refer to the bundled
# Scripts and templates without overwriting rows an administrator created.


def same_language(a, b):
    """Whether two language codes name one language: "nl" and "NL", "en" and "en-us" (not "en-us" and "en-gb")."""
    a, b = a.strip().lower().replace("_", "-"), b.strip().lower().replace("_", "-")
    return a == b or a.split("-")[0] == b or b.split("-")[0] == a


class Script(models.Model):
    class AuthScheme(models.TextChoices):
        BASIC = "basic", "HTTP basic"
        DIGEST = "digest", "HTTP digest"
        NONE = "none", "none"

    name = models.CharField(max_length=200, unique=True)
    url = models.URLField(
        "base URL",
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="The CLAM service's address, e.g. https://clam.example.org/aligner/",
    )
    username = models.CharField(max_length=200, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    description = models.TextField(blank=True)
    auth_scheme = models.CharField(
        max_length=10, choices=AuthScheme.choices, default=AuthScheme.BASIC, editable=False
    )
    service_name = models.CharField("name on the server", max_length=300, blank=True, editable=False)
    clam_version = models.CharField(max_length=50, blank=True, editable=False)
    imported_at = models.DateTimeField("last imported", null=True, blank=True, editable=False)
    import_error = models.TextField("last import error", blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScriptManager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    LANGUAGE_PARAMETER = "language"  # the clam id under which the bundled services (and many others) take one

    def language(self):
        """The language this Script works in by its "language" parameter (the administrator's preset, else the
        service's default), or None when it has none (a service that says nothing of a language)."""
        for parameter in self.parameters.filter(clam_id=self.LANGUAGE_PARAMETER, input_template__isnull=True):
            specific = parameter.specific
            value = specific.value if parameter.preset else getattr(specific, "default", None)
            return str(value) if value not in (None, "") else None
        return None

    def save(self, *args, **kwargs):
        if not self.url.endswith("/"):
            self.url += "/"
        super().save(*args, **kwargs)

    def set_password(self, plaintext):
        self.password_encrypted = crypto.encrypt(plaintext) if plaintext else ""

    def get_password(self):
        """The plaintext password ('' if none); raises crypto.PasswordUnreadable."""
        return crypto.decrypt(self.password_encrypted) if self.password_encrypted else ""

    @property
    def password_readable(self):
        try:
            self.get_password()
        except crypto.PasswordUnreadable:
            return False
        return True

    def natural_key(self):
        return (self.name,)

    def clam_client(self):
        """A `clam` client for this server with its credentials (the client has no timeouts:
        use scripts.clam for requests that must not hang)."""
        from clam.common.client import CLAMClient

        password = self.get_password()
        return CLAMClient(
            self.url,
            self.username or None,
            password or None,
            basicauth=self.auth_scheme != self.AuthScheme.DIGEST,
        )


class Profile(models.Model):
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="profiles")
    index = models.PositiveIntegerField(help_text="Position of the profile on the server, from 0.")

    objects = ProfileManager()

    class Meta:
        ordering = ["script", "index"]
        constraints = [models.UniqueConstraint(fields=["script", "index"], name="scripts_profile_unique_index")]

    def __str__(self):
        return f"{self.script} profile {self.index + 1}"

    def natural_key(self):
        return (*self.script.natural_key(), self.index)

    natural_key.dependencies = ["scripts.script"]


class InputTemplate(models.Model):
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="input_templates")
    template_id = models.CharField(max_length=200)
    format = models.CharField(max_length=200)
    label = models.CharField(max_length=500)
    mimetype = models.CharField(max_length=200, blank=True)
    extension = models.CharField(max_length=50, blank=True)
    optional = models.BooleanField(default=False)
    unique = models.BooleanField(default=True)
    accept_archive = models.BooleanField(default=False)
    filename = models.CharField(
        max_length=500, blank=True, help_text="The fixed name the service stores the file under, whatever it was called."
    )
    converters = models.JSONField(
        default=list, blank=True, help_text="[[id, label]]: other formats the service converts into this one on upload."
    )
    constraints = models.JSONField(
        default=list, blank=True,
        help_text='[{"type": "require" or "forbid", "tests": [[key, operator, value]]}]: what the service checks '
        "in the file's metadata.",
    )
    order = models.PositiveIntegerField(default=0)

    objects = TemplateManager()

    class Meta:
        ordering = ["profile", "order"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "template_id"], name="scripts_inputtemplate_unique_id")
        ]

    def __str__(self):
        return f"{self.label} ({self.template_id})"

    def natural_key(self):
        return (*self.profile.natural_key(), self.template_id)

    natural_key.dependencies = ["scripts.profile"]

    def matches_name(self, name):
        """Whether a file called `name` is for this template by its name: any name when the service gives the
        file a fixed one, else its extension, multi-part ones (".folia.xml") whole; case does not matter."""
        if self.filename:
            return True
        return has_extension(name, self.extension)

    def constraint_text(self):
        """The constraints as a line for the administrator: "requires pos-annotation exists True"; a constraint's
        tests are any-of (CLAM's Constraint.test)."""
        verbs = {"require": "requires", "forbid": "forbids"}
        return "; ".join(
            f"{verbs.get(c.get('type'), c.get('type'))} " + " or ".join(" ".join(map(str, t)) for t in c.get("tests", []))
            for c in self.constraints
        )

    def converter_text(self):
        return "; ".join(self.converter_lines())

    def converter_lines(self):
        """The converters for the administrator, with the files Equestria takes each for (its guess from the id and
        label, `converted_extensions`): "Extract text from PDF (pdf2txt): .pdf files"."""
        def files(converter_id):
            extensions = self.converted_extensions(converter_id)
            if extensions is None:
                return "files of any name (not recognised: the service judges them)"
            return ", ".join(f".{e}" for e in extensions) + " files"

        return [f"{label} ({converter_id}): {files(converter_id)}" for converter_id, label in self.converters]

    def converter_label(self, converter_id):
        """The label of one of this template's converters (its id when the service no longer declares it)."""
        return next((label for cid, label in self.converters if cid == converter_id), converter_id)

    def converted_extensions(self, converter_id):
        """The lower-case extensions of the files `converter_id` converts into this template's format, or None for
        files of any name (a converter Equestria does not recognise: the service judges the file)."""
        return converted_extensions(converter_id, self.converter_label(converter_id), self.extension)

    def converter_takes(self, converter_id, name):
        """Whether a file called `name` is one that `converter_id` converts for this template."""
        extensions = self.converted_extensions(converter_id)
        if extensions is None:
            return True
        name = name.lower()
        return any(name.endswith("." + e) and len(name) > len(e) + 1 for e in extensions)


# CLAM's converter classes (clam.common.converters), recognised by the id and label a service gives them (its XML
# names no class): what each converts from. A character-encoding converter takes texts of the template's own
# extension in another encoding; PDFtoTextConverter runs pdftotext, MSWordConverter catdoc (Word 97–2003 .doc, not
# .docx). Any other converter takes files of any name.
_CONVERTER_KINDS = [
    ("pdf", re.compile(r"pdf", re.IGNORECASE), ["pdf"]),
    # Whole words and ids only: "Join lines broken mid-word" is no Word converter.
    ("word", re.compile(r"msword|catdoc|\bdoc(conv)?\b|\bword[ _-]?(document|file|97|2003)|\bms[ _-]?word\b|"
                        r"\bfrom (ms[ _-]?)?word\b|^word$", re.IGNORECASE), ["doc"]),
    ("encoding", re.compile(r"latin|encoding|charset|iso-?8859|windows-?125\d|cp-?125\d|utf-?16|ascii|ansi",
                            re.IGNORECASE), None),
]


def converter_kind(converter_id, label):
    """"pdf", "word", "encoding" (a CLAM CharEncodingConverter), or "" for a converter Equestria does not know."""
    for kind, pattern, _ in _CONVERTER_KINDS:
        if pattern.search(converter_id) or pattern.search(label):
            return kind
    return ""


def converted_extensions(converter_id, label, template_extension):
    """InputTemplate.converted_extensions, for a converter's id and label and its template's extension."""
    kind = converter_kind(converter_id, label)
    if not kind:
        return None
    extensions = dict((k, e) for k, _, e in _CONVERTER_KINDS)[kind]
    if extensions is None:  # another encoding of the template's own files
        return [template_extension.lower()] if template_extension else None
    return extensions


class OutputTemplate(models.Model):
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="output_templates")
    template_id = models.CharField(max_length=200)
    format = models.CharField(max_length=200)
    label = models.CharField(max_length=500)
    mimetype = models.CharField(max_length=200, blank=True)
    extension = models.CharField(max_length=50, blank=True)
    filename = models.CharField(max_length=500, blank=True)
    parent = models.CharField(max_length=200, blank=True, help_text="Input template the output derives from.")
    unique = models.BooleanField(default=True)
    condition = models.JSONField(
        default=list, blank=True,
        help_text='Empty: always produced. Else only when every entry holds: {"if": [[parameter, operator, value]], '
        '"holds": true} (false: when the condition does not hold, the "else" of CLAM\'s parametercondition).',
    )
    order = models.PositiveIntegerField(default=0)

    objects = TemplateManager()

    class Meta:
        ordering = ["profile", "order"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "template_id"], name="scripts_outputtemplate_unique_id")
        ]

    def __str__(self):
        return f"{self.label} ({self.template_id})"

    def natural_key(self):
        return (*self.profile.natural_key(), self.template_id)

    natural_key.dependencies = ["scripts.profile"]

    def matches_name(self, name):
        """Whether the output `name` is of this template: its fixed name (in any case), else its extension, as an
        input template's (upload.checks.template_for chooses among several)."""
        if self.filename:
            return self.filename.lower() == name.lower()
        return has_extension(name, self.extension)

    def condition_text(self):
        """When the service produces this output, for the administrator: "only when createlexicon equals True"."""
        if not self.condition:
            return ""
        parts = []
        for entry in self.condition:
            clauses = " and ".join(_clause_text(*clause) for clause in entry.get("if", []))
            parts.append(clauses if entry.get("holds", True) else f"not ({clauses})")
        return "only when " + " and ".join(parts)


_OPERATORS = {
    "equals": "is", "notequals": "is not", "lessthan": "<", "lessequalthan": "≤", "greaterthan": ">",
    "greaterequalthan": "≥", "contains": "contains",
}


def _clause_text(parameter, operator, value):
    if operator == "set":
        return f"{parameter} is set" if value in ("True", "1", "true", "yes") else f"{parameter} is not set"
    return f"{parameter} {_OPERATORS.get(operator, operator)} {value}"


class BaseParameter(models.Model):
    """A CLAM parameter: global (input_template empty) or of one input template.

    The value lives in the row of the subclass for its type (`specific`).
    With `preset` on, Equestria sends that value; otherwise the server's
    default applies.
    """

    class Type(models.TextChoices):
        BOOLEAN = "boolean", "Boolean"
        STATIC = "static", "Static"
        STRING = "string", "String"
        CHOICE = "choice", "Choice"
        TEXT = "text", "Text"
        INTEGER = "integer", "Integer"
        FLOAT = "float", "Float"

    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="parameters")
    input_template = models.ForeignKey(
        InputTemplate, on_delete=models.CASCADE, null=True, blank=True, related_name="parameters"
    )
    group = models.CharField(max_length=200, blank=True)
    clam_id = models.CharField("CLAM id", max_length=200)
    name = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=10, choices=Type.choices, editable=False)
    required = models.BooleanField(default=False)
    preset = models.BooleanField(
        default=False, help_text="Send this value to CLAM; otherwise the server's default applies."
    )
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["script", "input_template", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["script", "clam_id"],
                condition=models.Q(input_template__isnull=True),
                name="scripts_parameter_unique_global_id",
            ),
            models.UniqueConstraint(
                fields=["input_template", "clam_id"],
                condition=models.Q(input_template__isnull=False),
                name="scripts_parameter_unique_template_id",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.clam_id})"

    @property
    def specific(self):
        """This parameter as the model of its type."""
        return getattr(self, f"{self.type}parameter")

    def value_for_clam(self):
        """The administrator's preset as CLAM wants it, or None to send nothing (the server's default applies).

        Call it on the row of the parameter's type (`specific`).
        """
        return self.to_clam(self.value) if self.preset else None

    def to_clam(self, value):
        """A value of this parameter's type (the preset, or what the researcher's form field cleaned) as
        the string CLAM wants, or None to send nothing. One conversion for both, so a value means the
        same to the service whoever chose it."""
        return None


def _check_range(value, minimum, maximum):
    if value is None:
        return
    if minimum is not None and value < minimum:
        raise ValidationError({"value": f"Must be at least {minimum}."})
    if maximum is not None and value > maximum:
        raise ValidationError({"value": f"Must be at most {maximum}."})


class BooleanParameter(BaseParameter):
    default = models.BooleanField(null=True, blank=True, editable=False)
    value = models.BooleanField(null=True, blank=True)

    def clean(self):
        if self.preset and self.value is None:
            raise ValidationError(
                {"value": "Choose Yes or No to preset: “Unknown” sends nothing, so the service's default would apply."}
            )

    def to_clam(self, value):
        if value is None:
            return None
        return "True" if value else "False"


class StaticParameter(BaseParameter):
    """Stored for reference; never sent to CLAM."""

    value = models.TextField(blank=True)


class StringParameter(BaseParameter):
    default = models.CharField(max_length=1000, blank=True, editable=False)
    value = models.CharField(max_length=1000, blank=True)
    max_length = models.PositiveIntegerField(null=True, blank=True)

    def clean(self):
        if self.max_length is not None and len(self.value) > self.max_length:
            raise ValidationError({"value": f"At most {self.max_length} characters."})

    def to_clam(self, value):
        return value


class TextParameter(BaseParameter):
    default = models.TextField(blank=True, editable=False)
    value = models.TextField(blank=True)

    def to_clam(self, value):
        return value


class ChoiceParameter(BaseParameter):
    multi = models.BooleanField("multiple choice", default=False, editable=False)
    default = models.CharField(max_length=1000, blank=True, editable=False)
    value = models.CharField(
        max_length=1000, blank=True, help_text="A choice id; for multiple choice, ids separated by commas."
    )

    def selected(self):
        return [v.strip() for v in self.value.split(",") if v.strip()] if self.multi else [self.value]

    def clean(self):
        if not self.value and not self.preset:
            return
        allowed = {c.choice_id for c in self.choices.all()}
        wrong = [v for v in self.selected() if v not in allowed]
        if wrong or (not self.multi and not self.value):
            raise ValidationError(
                {"value": f"{', '.join(wrong) or 'Nothing'} is not a choice; choose from {', '.join(sorted(allowed))}."}
            )

    def value_for_clam(self):
        return self.to_clam(self.selected()) if self.preset else None

    def to_clam(self, value):
        """Choice ids, joined with commas for a multiple choice."""
        if isinstance(value, (list, tuple)):
            return ",".join(value)
        return value


class ParameterChoice(models.Model):
    parameter = models.ForeignKey(ChoiceParameter, on_delete=models.CASCADE, related_name="choices")
    choice_id = models.CharField(max_length=200)
    label = models.CharField(max_length=500)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["parameter", "order"]

    def __str__(self):
        return f"{self.label} ({self.choice_id})"


class IntegerParameter(BaseParameter):
    default = models.BigIntegerField(null=True, blank=True, editable=False)
    value = models.BigIntegerField(null=True, blank=True)
    minimum = models.BigIntegerField(null=True, blank=True, help_text="CLAM does not publish ranges; set one here.")
    maximum = models.BigIntegerField(null=True, blank=True)

    def clean(self):
        _check_range(self.value, self.minimum, self.maximum)
        if self.preset and self.value is None:
            raise ValidationError({"value": "Enter a value to preset."})

    def to_clam(self, value):
        return None if value is None else str(value)


class FloatParameter(BaseParameter):
    default = models.FloatField(null=True, blank=True, editable=False)
    value = models.FloatField(null=True, blank=True)
    minimum = models.FloatField(null=True, blank=True, help_text="CLAM does not publish ranges; set one here.")
    maximum = models.FloatField(null=True, blank=True)

    def clean(self):
        if self.value is not None and not math.isfinite(self.value):
            raise ValidationError({"value": "Must be a finite number."})
        _check_range(self.value, self.minimum, self.maximum)
        if self.preset and self.value is None:
            raise ValidationError({"value": "Enter a value to preset."})

    def to_clam(self, value):
        return None if value is None else repr(float(value))


PARAMETER_MODELS = {
    BaseParameter.Type.BOOLEAN: BooleanParameter,
    BaseParameter.Type.STATIC: StaticParameter,
    BaseParameter.Type.STRING: StringParameter,
    BaseParameter.Type.CHOICE: ChoiceParameter,
    BaseParameter.Type.TEXT: TextParameter,
    BaseParameter.Type.INTEGER: IntegerParameter,
    BaseParameter.Type.FLOAT: FloatParameter,
}


class Process(models.Model):
    """One run of a CLAM script: "run this script on these files with these values, outputs here".

    Everything the worker needs to continue after a crash is in this row.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        UPLOADING = "uploading", "uploading"
        RUNNING = "running", "running"
        DOWNLOADING = "downloading", "downloading"
        DONE = "done", "done"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    script = models.ForeignKey(Script, on_delete=models.PROTECT, related_name="processes")
    clam_project = models.CharField(max_length=100, editable=False)
    inputs = models.JSONField(default=list, help_text="[{storage_name, name, template, metadata: {parameter: value} of its input template}]")
    parameters = models.JSONField(default=dict, help_text="The values sent to CLAM.")
    output_folder = models.CharField(max_length=400, help_text="Storage folder the outputs are moved into.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    completion = models.PositiveSmallIntegerField(default=0)
    message = models.CharField("CLAM's status message", max_length=1000, blank=True)
    error = models.TextField("reason of failure", blank=True)
    detail = models.TextField("technical detail", blank=True)
    log = models.TextField(
        "job log",
        blank=True,
        help_text="After a job that succeeded: the end of its error.log (what the job wrote to standard error). "
        "After one that failed: CLAM's status messages; its error.log is then in “technical detail”.",
    )
    outputs = models.JSONField(default=list, help_text="Names of the downloaded output files.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Attempts of the current step.")
    poll_interval = models.FloatField(default=0.2)
    lease_until = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=64, blank=True, help_text="The worker working on a step of it.")
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "processes"  # Django would add an "s": "processs"
        ordering = ["-created_at"]
        indexes = [
            # Queue health and "processes still running": by status, oldest first.
            models.Index(fields=["status", "created_at"], name="scripts_process_status"),
        ]

    def __str__(self):
        return f"{self.script} {self.status} ({self.pk})"

    def save(self, *args, **kwargs):
        if not self.clam_project:
            # Deterministic, so a retried start after a crash reuses (never duplicates) the CLAM project.
            # CLAM accepts only letters and digits in project ids.
            self.clam_project = f"equestria{self.pk.hex}"
        super().save(*args, **kwargs)

    @property
    def finished(self):
        return self.status in self.FINISHED


class Worker(models.Model):
    """A running `manage.py process_tasks`, as long as it says so (scripts.workers).

    `name` is what the task queue records as a task's holder (Task.locked_by); a worker whose
    `seen_at` is older than WORKER_STALE_SECONDS is dead, and its task and process are taken over.
    """

    name = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["started_at"]

    def __str__(self):
        return self.name


# A Pipeline wires Scripts' templates into forced alignment with G2P for one language. It sits
# with the Scripts, below `upload` (a Project names its Pipeline) and `pipelines` (which runs it).


class PipelineQuerySet(models.QuerySet):
    def with_parts(self):
        """Pipelines with what `problems()` reads, in one query."""
        return self.select_related(
            "fa_script", "g2p_script", "oov_output__profile", "g2p_input__profile", "dictionary_output__profile",
            "fa_dictionary_input__profile",
        ).annotate(
            _fa_has_profiles=models.Exists(Profile.objects.filter(script=models.OuterRef("fa_script"))),
            _g2p_has_profiles=models.Exists(Profile.objects.filter(script=models.OuterRef("g2p_script"))),
        )

    def offered(self):
        """The pipelines researchers may choose and run: those without `problems()`."""
        return self.filter(pk__in=[p.pk for p in self.with_parts() if not p.problems()])

    def broken(self):
        """[(pipeline, problems)] of the pipelines researchers are not offered."""
        return [(p, problems) for p in self.with_parts() if (problems := p.problems())]


class PipelineManager(models.Manager.from_queryset(PipelineQuerySet)):
    def get_by_natural_key(self, name):
        return self.get(name=name)


class Pipeline(models.Model):
    class Kind(models.TextChoices):
        ALIGNMENT = "alignment", "forced alignment with G2P"
        SINGLE = "single", "run one service"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(
        max_length=20, choices=Kind.choices, default=Kind.ALIGNMENT,
        help_text="“Run one service”: researchers upload files for the input templates of the script below, run it "
        "and get every output file; the G2P script and the connections are then left empty.",
    )
    language = models.CharField(max_length=50, blank=True, help_text="e.g. en-us, nl (may be empty for “run one service”)")
    description = models.TextField(blank=True)
    fa_script = models.ForeignKey(
        Script, on_delete=models.PROTECT, related_name="fa_pipelines", verbose_name="forced-alignment script",
        help_text="For “run one service”: the service it runs.",
    )
    g2p_script = models.ForeignKey(
        Script, on_delete=models.PROTECT, related_name="g2p_pipelines", null=True, blank=True,
        verbose_name="G2P script",
    )
    oov_output = models.ForeignKey(
        OutputTemplate, on_delete=models.PROTECT, related_name="+", null=True, blank=True,
        verbose_name="FA output listing OOV words",
    )
    g2p_input = models.ForeignKey(
        InputTemplate, on_delete=models.PROTECT, related_name="+", null=True, blank=True,
        verbose_name="G2P input taking the word list",
    )
    dictionary_output = models.ForeignKey(
        OutputTemplate, on_delete=models.PROTECT, related_name="+", null=True, blank=True,
        verbose_name="G2P output with the dictionary",
    )
    fa_dictionary_input = models.ForeignKey(
        InputTemplate, on_delete=models.PROTECT, related_name="+", null=True, blank=True,
        verbose_name="FA input taking a dictionary",
    )
    phone_set = models.TextField(
        blank=True,
        help_text="Phones the aligner knows, separated by spaces; reviewed pronunciations are checked "
        "against them. Empty: any phones.",
    )
    approximate = models.BooleanField(
        "approximate acoustic model", default=False,
        help_text="The aligner has no acoustic model of this language and maps its phones to another "
        "language's (as the bundled aligner does for every language but English); the new-project page says so.",
    )

    objects = PipelineManager()

    class Meta:
        ordering = ["name"]
        # The table keeps the name it had when Pipeline lived in `pipelines` (moved by
        # scripts/migrations/0005_pipeline.py without touching the database).
        db_table = "pipelines_pipeline"

    def __str__(self):
        return f"{self.name} ({self.language})" if self.language else self.name  # a one-service pipeline may have none

    def natural_key(self):
        return (self.name,)

    natural_key.dependencies = ["scripts.inputtemplate", "scripts.outputtemplate"]

    @property
    def single(self):
        """Whether this pipeline runs one service (any CLAM service) rather than forced alignment with G2P."""
        return self.kind == self.Kind.SINGLE

    @property
    def run_noun(self):
        """What researchers call a start of this pipeline, on pages and in messages: an "alignment", or a "run" of
        one service."""
        return "run" if self.single else "alignment"

    def choice_label(self):
        """How the new-project page names the pipeline: its language and whether its acoustic model is the
        language's own; or, for one service, that it runs it."""
        if self.single:
            return f"{self.name} — runs the service “{self.fa_script}” on your files"
        model = "approximate: phones mapped to another language's acoustic model" if self.approximate \
            else "native acoustic model"
        return f"{self.name} — aligns {self.language}, {model}"

    def problems(self):
        """Why researchers cannot use this pipeline (empty when they can), for the administrator: a Script
        without profiles (never imported, or only unsuccessfully), or templates that do not connect."""
        problems = []
        role = "script" if self.single else "forced-alignment script"
        scripts = [(role, self.fa_script, getattr(self, "_fa_has_profiles", None))]
        if self.g2p_script_id:
            scripts.append(("G2P script", self.g2p_script, getattr(self, "_g2p_has_profiles", None)))
        for role, script, has_profiles in scripts:
            if has_profiles is None:
                has_profiles = script.profiles.exists()
            if not has_profiles:
                why = (
                    f"its last import failed ({script.import_error})" if script.import_error
                    else "it was never imported (saving it in the admin imports it)"
                )
                problems.append(f"its {role} “{script}” has no profiles: {why}")
        for field, template, script_id, owner in self._foreign_templates():
            label = self._meta.get_field(field).verbose_name
            whose = f"of {owner}" if script_id else f"of {owner}, and the pipeline has none"
            problems.append(f"“{label}” ({template.template_id}) is not a template {whose}")
        for field in self._empty_for_g2p():
            problems.append(f"“{self._meta.get_field(field).verbose_name}” is empty, and the G2P script needs it")
        for field in self._set_for_single():
            problems.append(f"“{self._meta.get_field(field).verbose_name}” is set, but a pipeline that runs one service "
                            "uses no G2P script or connections")
        return problems

    def _set_for_single(self):
        """The fields of forced alignment with G2P that a one-service pipeline has set (and would silently ignore)."""
        if not self.single:
            return []
        return [field for field in ["g2p_script", *self.TEMPLATE_FIELDS] if getattr(self, f"{field}_id") is not None]

    TEMPLATE_FIELDS = ["oov_output", "g2p_input", "dictionary_output", "fa_dictionary_input"]

    def _empty_for_g2p(self):
        """The template fields left empty although there is a G2P script: it needs all four to be connected.
        One rule for `problems()` (pipelines saved before it) and `clean()` (the admin's form)."""
        if not self.g2p_script_id or self.single:  # a one-service pipeline has none of them (_set_for_single)
            return []
        return [field for field in self.TEMPLATE_FIELDS if getattr(self, f"{field}_id") is None]

    def _foreign_templates(self):
        """[(field, template, id of the script it must belong to, that script's role)] of the templates chosen
        from another script than their field's (or from a G2P script the pipeline does not have)."""
        if self.single:
            return []  # its templates must all be empty (_set_for_single)
        owners = [
            ("oov_output", self.fa_script_id, "the forced-alignment script"),
            ("fa_dictionary_input", self.fa_script_id, "the forced-alignment script"),
            ("g2p_input", self.g2p_script_id, "the G2P script"),
            ("dictionary_output", self.g2p_script_id, "the G2P script"),
        ]
        return [
            (field, template, script_id, owner)
            for field, script_id, owner in owners
            if (template := getattr(self, field)) is not None and template.profile.script_id != script_id
        ]

    def clean(self):
        errors = {}
        for field, _, _, owner in self._foreign_templates():
            errors[field] = f"Choose a template of {owner}."
        for field in self._empty_for_g2p():
            errors[field] = "Needed to connect the G2P script."
        for field in self._set_for_single():
            errors[field] = "Leave this empty: a pipeline that runs one service uses only its script."
        if not self.single and not self.language:
            errors["language"] = "A forced-alignment pipeline needs the language it aligns."
        for field in ("fa_script", "g2p_script"):
            script = getattr(self, field) if getattr(self, f"{field}_id") else None
            language = script.language() if script is not None else None
            if language and self.language and not same_language(language, self.language):
                errors[field] = (
                    f"This Script works in “{language}” (its “language” parameter), not in “{self.language}”: "
                    f"choose one whose language is preset to {self.language} (the bundled setup makes one per language "
                    "of EQUESTRIA_BUNDLED_LANGUAGES), preset its language on its page, or change this pipeline's "
                    "language.")
        if errors:
            raise ValidationError(errors)
