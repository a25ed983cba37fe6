"""The researcher's form for starting an alignment, and the dictionary review."""

from django import forms
from django.conf import settings

from pipelines import review
from pipelines.services import clam_values, parameter_fields
from upload.services import human_size


class AlignmentForm(forms.Form):
    """Fields for the FA script's parameters that the administrator did not preset."""

    def __init__(self, *args, script, **kwargs):
        super().__init__(*args, **kwargs)
        self.parameters = {}
        for parameter, field in parameter_fields(script):
            self.fields[parameter.clam_id] = field
            self.parameters[parameter.clam_id] = parameter

    def clean(self):
        cleaned = super().clean()
        for clam_id, parameter in self.parameters.items():
            if getattr(parameter, "type", "") == "choice" and not parameter.multi and cleaned.get(clam_id) == "":
                cleaned[clam_id] = None
        return cleaned

    def clam_values(self):
        return clam_values((self.parameters[k], v) for k, v in self.cleaned_data.items())


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

    def clean(self):
        cleaned = super().clean()
        if len(cleaned.get("dictionary", "").encode()) > settings.REVIEW_MAX_DICTIONARY_BYTES:
            raise forms.ValidationError(dictionary_too_large_message())
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
