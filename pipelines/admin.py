from django.contrib import admin, messages

from pipelines.models import Notification, RecordingOutcome, Run
from scripts.models import Pipeline


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    # Why a pipeline is not offered is in the warnings above the list: a column would be too wide to read.
    list_display = ["name", "kind", "language", "approximate", "fa_script", "g2p_script", "offered"]
    list_filter = ["kind", "language"]
    search_fields = ["name", "language", "description"]
    autocomplete_fields = []
    fieldsets = [
        (None, {"fields": ["name", "kind", "language", "approximate", "description"]}),
        ("Scripts", {"fields": ["fa_script", "g2p_script"]}),
        (
            "How the scripts connect",
            {
                "fields": ["oov_output", "g2p_input", "dictionary_output", "fa_dictionary_input"],
                "description": "Templates of the scripts above, as imported from their servers.",
            },
        ),
        ("Dictionary review", {"fields": ["phone_set"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).with_parts()

    def get_readonly_fields(self, request, obj=None):
        # A project's runs are read as its pipeline's kind says (results of one service, or alignments): switching
        # it would hide finished results.
        if obj is not None and obj.projects.exists():
            return ["kind"]
        return []

    @admin.display(boolean=True, description="offered to researchers")
    def offered(self, pipeline):
        return not pipeline.problems()

    def _warn(self, request, broken):
        # On the pages an administrator looks at, not only in `manage.py check`: researchers are not offered
        # these pipelines, and their projects cannot start an alignment.
        for pipeline, problems in broken:
            self.message_user(
                request,
                f"Pipeline “{pipeline.name}” is not offered to researchers, and its projects cannot start an "
                f"alignment: {'; '.join(problems)}.",
                messages.WARNING,
            )

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            self._warn(request, Pipeline.objects.broken())
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            pipeline = Pipeline.objects.with_parts().filter(pk=object_id).first() if object_id.isdigit() else None
            if pipeline is not None and (problems := pipeline.problems()):
                self._warn(request, [(pipeline, problems)])
            if pipeline is not None and (used := pipeline.projects.count()):
                self.message_user(
                    request,
                    f"The kind of “{pipeline.name}” cannot change: {used} project{'s' if used != 1 else ''} use"
                    f"{'' if used != 1 else 's'} it, and their results are read as its kind says. To offer the other "
                    "kind, add a new pipeline.",
                    messages.INFO,
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name in ("oov_output", "g2p_input", "dictionary_output", "fa_dictionary_input"):
            field.queryset = field.queryset.select_related("profile__script")
            field.label_from_instance = lambda t: f"{t.profile.script}: {t.label} ({t.template_id})"
        return field


class RecordingOutcomeInline(admin.TabularInline):
    """Each recording's outcome, for staff who follow up a researcher's question about a run."""

    model = RecordingOutcome
    extra = 0
    can_delete = False
    fields = ["recording", "transcript", "status", "code", "message", "textgrid", "unknown_words", "warnings"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Read-only: runs are written by the worker; the processes' logs are in the Process admin."""

    list_display = ["__str__", "stage", "created_at", "finished_at"]
    list_filter = ["stage"]
    list_select_related = ["project"]
    search_fields = ["project__name", "project__owner__username"]
    inlines = [RecordingOutcomeInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Run._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The mails about runs, for staff to see which were not sent (the reason is in the worker's log)."""

    list_display = ["run", "event", "outcome", "created_at", "sent_at"]
    list_filter = ["outcome", "event"]
    list_select_related = ["run__project"]
    search_fields = ["run__project__name", "run__project__owner__username"]
    fields = list_display
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
