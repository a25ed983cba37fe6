"""Admin forms of the scripts app."""

from django import forms

from scripts.models import Script


class ScriptForm(forms.ModelForm):
    url = forms.URLField(
        label="Base URL",
        max_length=500,
        assume_scheme="https",
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
