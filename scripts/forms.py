"""Admin forms of the scripts app."""

from django import forms

from scripts.models import Script

NO_SCHEME = (
    "Enter the whole address, starting with http:// or https:// (e.g. http://{value}): "
    "Equestria does not guess which of the two the service speaks."
)


class SchemeURLField(forms.URLField):
    """A URL field that refuses an address without http:// or https:// instead of adding one: a guessed
    https:// to a plain-HTTP service only times out, and the message then blames the server."""

    def to_python(self, value):
        value = forms.CharField.to_python(self, value)
        if value and "://" not in value:
            raise forms.ValidationError(NO_SCHEME.format(value=value.removeprefix("//")), code="no_scheme")
        return super().to_python(value)


class ScriptForm(forms.ModelForm):
    url = SchemeURLField(
        label="Base URL",
        max_length=500,
        assume_scheme="https",  # never applies (to_python refuses first); silences Django's deprecation warning
        help_text=Script._meta.get_field("url").help_text,
    )
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the current password.",
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")

    class Meta:
        model = Script
        fields = ["name", "url", "username", "password", "clear_password", "description"]

    def save(self, commit=True):
        script = super().save(commit=False)
        if self.cleaned_data.get("clear_password"):
            script.set_password("")
        elif self.cleaned_data.get("password"):
            script.set_password(self.cleaned_data["password"])
        if commit:
            script.save()
        return script
