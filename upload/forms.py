"""Forms for projects and uploads."""

from django import forms

from scripts.models import Pipeline
from upload.models import Project


# Said by the new-project page and the API when there is no pipeline to create a project for.
NO_PIPELINES = ("No pipelines are set up on this server yet, so there is nothing to align with. Ask your "
                "administrator to define one (Admin → Pipelines).")


class _UniqueNameMixin:
    # The model's constraint covers (owner, name), but owner is not a form
    # field, so ModelForm validation skips it: check here for a clear message.
    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Project.objects.filter(owner=self.instance.owner, name__iexact=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("You already have a project with this name.", code="duplicate_name")
        return name


class ProjectForm(_UniqueNameMixin, forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "pipeline"]
        help_texts = {"pipeline": "What your files go through: forced alignment in a language (recordings with their "
                                  "transcripts), or a service run on your files."}

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.owner = owner
        # Only pipelines that can run (scripts.models.Pipeline.problems): a broken one would fail at the start.
        self.fields["pipeline"].queryset = Pipeline.objects.offered().select_related("fa_script")
        self.fields["pipeline"].empty_label = None
        self.fields["pipeline"].label_from_instance = Pipeline.choice_label
        # Pipelines are listed by name; the first with the language's own acoustic model is the default.
        self.fields["pipeline"].initial = self.fields["pipeline"].queryset.filter(approximate=False).first()


class RenameProjectForm(_UniqueNameMixin, forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name"]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class UploadForm(forms.Form):
    files = forms.FileField(
        widget=MultipleFileInput(attrs={"multiple": True}),
        help_text="Audio files with their transcripts (same name, .txt), or a .zip of them.",
    )
    replace = forms.BooleanField(required=False, label="Replace files that have the same name")
