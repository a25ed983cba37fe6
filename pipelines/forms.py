"""The researcher's form for starting an alignment, and the dictionary review."""

from django import forms

from pipelines.services import clam_values, parameter_fields


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
    dictionary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "class": "font-monospace", "spellcheck": "false"}),
        help_text="One pronunciation per line: the word, then its phones separated by spaces. "
        "Add a line for another variant; delete lines you do not want.",
    )

    def __init__(self, *args, phone_set="", **kwargs):
        super().__init__(*args, **kwargs)
        self.phone_set = phone_set

    def clean_dictionary(self):
        from pipelines.services import validate_dictionary

        try:
            return validate_dictionary(self.cleaned_data["dictionary"], self.phone_set)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
