"""Pipelines: a forced-alignment script and a G2P script for one language, and how they connect."""

from django.core.exceptions import ValidationError
from django.db import models

from scripts.models import InputTemplate, OutputTemplate, Script


class Pipeline(models.Model):
    name = models.CharField(max_length=200, unique=True)
    language = models.CharField(max_length=50, help_text="e.g. en-us, nl")
    description = models.TextField(blank=True)
    fa_script = models.ForeignKey(
        Script, on_delete=models.PROTECT, related_name="fa_pipelines", verbose_name="forced-alignment script"
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

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.language})"

    def clean(self):
        errors = {}
        checks = [
            ("oov_output", self.fa_script_id, "the forced-alignment script"),
            ("fa_dictionary_input", self.fa_script_id, "the forced-alignment script"),
            ("g2p_input", self.g2p_script_id, "the G2P script"),
            ("dictionary_output", self.g2p_script_id, "the G2P script"),
        ]
        for field, script_id, owner in checks:
            template = getattr(self, field)
            if template is not None and template.profile.script_id != script_id:
                errors[field] = f"Choose a template of {owner}."
        g2p_fields = ["oov_output", "g2p_input", "dictionary_output", "fa_dictionary_input"]
        if self.g2p_script_id and any(getattr(self, f) is None for f in g2p_fields):
            for f in g2p_fields:
                if getattr(self, f) is None:
                    errors[f] = "Needed to connect the G2P script."
        if errors:
            raise ValidationError(errors)
