"""The researcher's form for starting an alignment, and the dictionary review."""

from django import forms
from django.conf import settings

from pipelines import review
from scripts.models import BaseParameter
from upload.checks import human_size


class AlignmentForm(forms.Form):
    """Fields for the FA script's parameters that the administrator did not preset: its global ones, and (with
    `templates`) those of its input templates, one value per template for every file of it."""

    def __init__(self, *args, script, templates=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.parameters = {}
        for parameter, field in parameter_fields(script):
            self.fields[parameter.clam_id] = field
            self.parameters[parameter.clam_id] = parameter
        self.template_parameters = {}  # {field name: (template id, parameter)}
        for template, parameter, field in (template_parameter_fields(script) if templates else []):
            name = template_field_name(template.template_id, parameter.clam_id)
            self.fields[name] = field
            self.template_parameters[name] = (template.template_id, parameter)

    @property
    def needs_values(self):
        """Whether a field must be filled in (the settings are shown open, so the browser can point at it)."""
        return any(field.required for field in self.fields.values())

    def clean(self):
        cleaned = super().clean()
        for clam_id, parameter in self.parameters.items():
            if getattr(parameter, "type", "") == "choice" and not parameter.multi and cleaned.get(clam_id) == "":
                cleaned[clam_id] = None
        return cleaned

    def clam_values(self):
        """The values the researcher gave, as CLAM wants them; an empty field sends nothing (the preset or
        the server's default applies)."""
        values = {}
        for clam_id, value in self.cleaned_data.items():
            if value is None or value == "" or clam_id not in self.parameters:
                continue
            values[clam_id] = self.parameters[clam_id].to_clam(value)
        return values

    def template_values(self):
        """{template id: {parameter id: value}} the researcher gave for the input templates' parameters, as CLAM
        wants them (sent with each upload of a file of that template); an empty field sends nothing."""
        values = {}
        for name, (template_id, parameter) in self.template_parameters.items():
            value = self.cleaned_data.get(name)
            if value is None or value == "":
                continue
            values.setdefault(template_id, {})[parameter.clam_id] = parameter.to_clam(value)
        return values


def template_field_name(template_id, clam_id):
    return f"{template_id}__{clam_id}"


def parameter_fields(script):
    """(parameter, form field) for each global, non-preset, non-static parameter of a script."""
    return [(p, _field(p)) for p in _specific(
        script.parameters.filter(input_template=None, preset=False).exclude(type=BaseParameter.Type.STATIC))]


def template_parameter_fields(script):
    """(input template, parameter, form field) for each non-preset, non-static parameter of the script's input
    templates: the researcher gives one value per template, sent with every file of it."""
    parameters = script.parameters.filter(input_template__isnull=False, preset=False).exclude(
        type=BaseParameter.Type.STATIC).select_related("input_template__profile").order_by(
        "input_template__profile__index", "input_template__order", "order")
    fields = []
    for p in _specific(parameters):
        field = _field(p)
        field.label = f"{p.name} (of each “{p.input_template.label}” file)"
        fields.append((p.input_template, p, field))
    return fields


def _specific(parameters):
    for base in parameters:
        p = base.specific
        if base.input_template_id:
            p.input_template = base.input_template
        yield p


def _field(p):
    """The form field for a parameter's value (its type's row)."""
    # A value the service requires and has no default for must be given here, rather than heard of from the
    # service after the upload (a choice's "— (not set)" option, below, is the same case).
    common = {"label": p.name, "help_text": p.description,
              "required": p.required and p.type != BaseParameter.Type.BOOLEAN and getattr(p, "default", None) in (None, "")}
    if p.type == BaseParameter.Type.BOOLEAN:
        field = forms.BooleanField(initial=p.default, **common)
    elif p.type == BaseParameter.Type.CHOICE:
        choices = [(c.choice_id, c.label) for c in p.choices.all()]
        if p.multi:
            field = forms.MultipleChoiceField(choices=choices, initial=p.default.split(","), **common)
        else:
            if not p.default:
                # The service chooses nothing itself, so neither does the form: a first option shown as
                # chosen would be sent as the researcher's choice.
                choices = [("", "— (not set)"), *choices]
            field = forms.ChoiceField(choices=choices, initial=p.default, **common)
    elif p.type == BaseParameter.Type.INTEGER:
        field = forms.IntegerField(initial=p.default, min_value=p.minimum, max_value=p.maximum, **common)
    elif p.type == BaseParameter.Type.FLOAT:
        field = forms.FloatField(initial=p.default, min_value=p.minimum, max_value=p.maximum, **common)
    elif p.type == BaseParameter.Type.STRING:
        field = forms.CharField(initial=p.default, max_length=p.max_length or settings.PARAMETER_MAX_CHARACTERS, **common)
    else:
        field = forms.CharField(initial=p.default, max_length=settings.PARAMETER_MAX_CHARACTERS,
                                widget=forms.Textarea(attrs={"rows": 3}), **common)
    return field


class DictionaryForm(forms.Form):
    """The reviewed pronunciations; every problem is shown at once (pipelines.review)."""

    dictionary = forms.CharField(
        required=False,  # an empty dictionary gets review's own message, naming the words it leaves out
        widget=forms.Textarea(attrs={"rows": 12, "class": "font-monospace", "spellcheck": "false"}),
        help_text="One pronunciation per line: the word, then its phones separated by spaces. "
        "Add a line for another variant (word(2) …); delete lines you do not want.",
    )
    skip_missing = forms.BooleanField(
        required=False,
        label="Align without these words: leave out the recordings that contain them",
        help_text="Those recordings are then listed as not aligned, with the reason.",
    )

    def __init__(self, *args, phone_set="", unknown_words=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.phone_set = phone_set
        self.unknown_words = list(unknown_words)
        self.missing = []  # unknown words the submitted dictionary leaves out

    @property
    def needs_values(self):
        """Whether a field must be filled in (the settings are shown open, so the browser can point at it)."""
        return any(field.required for field in self.fields.values())

    def clean(self):
        cleaned = super().clean()
        if len(cleaned.get("dictionary", "").encode()) > settings.REVIEW_MAX_DICTIONARY_BYTES:
            raise forms.ValidationError(dictionary_too_large_message(), code="too_large")
        try:
            checked, missing = review.check_review(
                cleaned.get("dictionary", ""), self.phone_set, self.unknown_words, cleaned.get("skip_missing", False)
            )
        except review.DictionaryRefused as exc:
            self.missing = exc.missing
            raise forms.ValidationError(exc.problems) from None
        cleaned["dictionary"] = checked.text
        self.missing = missing
        return cleaned


def dictionary_too_large_message():
    return (
        f"The dictionary is larger than {human_size(settings.REVIEW_MAX_DICTIONARY_BYTES)}; keep only the lines for "
        "the words of this run (the aligner already knows all other words)."
    )
