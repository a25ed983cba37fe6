from django.contrib import admin

from pipelines.models import Pipeline


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "fa_script", "g2p_script"]
    list_filter = ["language"]
    search_fields = ["name", "language", "description"]
    autocomplete_fields = []
    fieldsets = [
        (None, {"fields": ["name", "language", "description"]}),
        ("Scripts", {"fields": ["fa_script", "g2p_script"]}),
        (
            "How the scripts connect",
            {
                "fields": ["oov_output", "g2p_input", "dictionary_output", "fa_dictionary_input"],
                "description": "Templates of the scripts above, as imported from their servers.",
            },
        ),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name in ("oov_output", "g2p_input", "dictionary_output", "fa_dictionary_input"):
            field.queryset = field.queryset.select_related("profile__script")
            field.label_from_instance = lambda t: f"{t.profile.script}: {t.label} ({t.template_id})"
        return field
