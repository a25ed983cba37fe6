"""Administration of CLAM scripts: saving a Script imports its service description.

Profiles and templates are shown read-only on the Script page (the importer
owns them); parameters are edited inline, one table per type, where the
administrator sets presets and ranges.
"""

import background_task.admin  # noqa: F401  registers the queue's admin first, so ours can replace it
from background_task.models import CompletedTask, Task
from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef
from django.template.loader import render_to_string
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from scripts import importer, workers
from scripts.forms import ScriptForm
from scripts.models import (
    Process,
    BooleanParameter,
    ChoiceParameter,
    FloatParameter,
    IntegerParameter,
    Script,
    StaticParameter,
    StringParameter,
    TextParameter,
    Worker,
)


class _ParameterInline(admin.TabularInline):
    fk_name = "script"
    extra = 0
    can_delete = False
    show_change_link = False
    readonly_fields = ["name", "clam_id", "scope", "description", "required"]
    fields = ["name", "clam_id", "scope", "description", "required", "preset", "value"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="applies to")
    def scope(self, parameter):
        if parameter.input_template_id:
            return f"input template “{parameter.input_template.template_id}”"
        return parameter.group or "global"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("input_template")


class BooleanParameterInline(_ParameterInline):
    model = BooleanParameter
    verbose_name_plural = "Boolean parameters"


class StringParameterInline(_ParameterInline):
    model = StringParameter
    fields = _ParameterInline.fields + ["max_length"]
    verbose_name_plural = "String parameters"


class TextParameterInline(_ParameterInline):
    model = TextParameter
    verbose_name_plural = "Text parameters"


class ChoiceParameterInline(_ParameterInline):
    model = ChoiceParameter
    readonly_fields = _ParameterInline.readonly_fields + ["choice_list"]
    fields = ["name", "clam_id", "scope", "description", "required", "choice_list", "preset", "value"]
    verbose_name_plural = "Choice parameters"

    @admin.display(description="choices (id: label)")
    def choice_list(self, parameter):
        prefix = "several of: " if parameter.multi else ""
        return prefix + "; ".join(f"{c.choice_id}: {c.label}" for c in parameter.choices.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("choices")


class IntegerParameterInline(_ParameterInline):
    model = IntegerParameter
    fields = _ParameterInline.fields + ["minimum", "maximum"]
    verbose_name_plural = "Integer parameters"


class FloatParameterInline(_ParameterInline):
    model = FloatParameter
    fields = _ParameterInline.fields + ["minimum", "maximum"]
    verbose_name_plural = "Float parameters"


class StaticParameterInline(_ParameterInline):
    model = StaticParameter
    readonly_fields = _ParameterInline.readonly_fields + ["value"]
    fields = ["name", "clam_id", "scope", "description", "value"]
    verbose_name_plural = "Static parameters (never sent)"


class ImportStateFilter(admin.SimpleListFilter):
    title = "import state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("ok", "imported"), ("error", "last import failed"), ("never", "never imported")]

    def queryset(self, request, queryset):
        if self.value() == "ok":
            return queryset.filter(import_error="", imported_at__isnull=False)
        if self.value() == "error":
            return queryset.exclude(import_error="")
        if self.value() == "never":
            return queryset.filter(imported_at__isnull=True)
        return queryset


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    form = ScriptForm
    list_display = ["name", "url", "service_name", "state", "imported_at", "parameter_count"]
    list_filter = [ImportStateFilter, "auth_scheme", "imported_at"]
    search_fields = ["name", "url", "description", "service_name", "username"]
    actions = ["reimport", "check_connection"]
    readonly_fields = ["password_state", "service_name", "clam_version", "auth_scheme", "imported_at", "import_error", "profile_summary"]
    inlines = [
        BooleanParameterInline,
        ChoiceParameterInline,
        StringParameterInline,
        TextParameterInline,
        IntegerParameterInline,
        FloatParameterInline,
        StaticParameterInline,
    ]

    class Media:
        # A stylesheet, not style attributes: the Content-Security-Policy refuses inline style.
        css = {"all": ["css/admin.css"]}

    def get_fieldsets(self, request, obj=None):
        connection = ("Connection", {"fields": ["name", "url", "username", "password", "clear_password", "description"]})
        if obj is None:
            return [connection]
        connection[1]["fields"].insert(3, "password_state")
        return [
            connection,
            ("Import", {"fields": ["service_name", "clam_version", "auth_scheme", "imported_at", "import_error"]}),
            ("Profiles and templates (read from the server)", {"fields": ["profile_summary"]}),
        ]

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_parameter_count=Count("parameters"))

    @admin.display(description="parameters", ordering="_parameter_count")
    def parameter_count(self, script):
        return script._parameter_count

    @admin.display(description="state")
    def state(self, script):
        if script.import_error:
            return "import failed"
        return "imported" if script.imported_at else "never imported"

    @admin.display(description="stored password")
    def password_state(self, script):
        if not script.password_encrypted:
            return "none"
        if not script.password_readable:
            return "cannot be decrypted with the current keys — enter the password again"
        return "set (encrypted)"

    @admin.display(description="profiles")
    def profile_summary(self, script):
        profiles = script.profiles.prefetch_related("input_templates__parameters", "output_templates")
        return render_to_string("admin/scripts/_profile_summary.html", {"profiles": profiles})

    @method_decorator(sensitive_post_parameters("password"))
    def changeform_view(self, request, *args, **kwargs):
        # Keeps the CLAM password out of error reports, should saving ever fail.
        response = super().changeform_view(request, *args, **kwargs)
        # The import runs here, after the admin's transaction has committed: inside it, the service's
        # answer (seconds, up to the CLAM timeouts) was awaited holding SQLite's write lock, and every
        # worker's heartbeat and every upload waited for it. Its message still reaches the next page:
        # the messages middleware stores them once the response leaves this view.
        script = getattr(request, "_equestria_script_to_import", None)
        if script is not None:
            self._import(request, script)
        return response

    def save_related(self, request, form, formsets, change):
        # Import only after the inline parameter rows are saved (changeform_view, once they are committed):
        # those rows were loaded before this request's import, so saving them afterwards would write stale
        # fields back and re-insert parameters the import removed. Importing last keeps the edited presets
        # that still fit the service and drops those that no longer do.
        super().save_related(request, form, formsets, change)
        request._equestria_script_to_import = form.instance

    def _import(self, request, script):
        error = importer.import_script(script)
        if error and importer.unusable(error):
            self.message_user(request, f"“{script}” was saved, but not imported: {error}.", messages.ERROR)
        elif error:
            self.message_user(
                request,
                f"“{script}” was saved, but its service could not be read: {error}. "
                "The previous import (if any) is unchanged.",
                messages.ERROR,
            )
        else:
            counts = f"{script.profiles.count()} profile(s), {script.parameters.filter(input_template=None).count()} parameter(s)"
            self.message_user(request, f"Imported “{script}” from its server: {counts}.", messages.SUCCESS)

    @admin.action(description="Re-import from the server")
    def reimport(self, request, queryset):
        for script in queryset:
            self._import(request, script)

    @admin.action(description="Test connection")
    def check_connection(self, request, queryset):
        for script in queryset:
            ok, message = importer.check_connection(script)
            self.message_user(request, f"{script}: {message}", messages.SUCCESS if ok else messages.ERROR)


@admin.register(Process)
class ProcessAdmin(admin.ModelAdmin):
    """Runs of CLAM scripts, read-only: what the worker did, for troubleshooting."""

    list_display = ["pk", "script", "status", "completion", "attempts", "created_at", "finished_at"]
    list_filter = ["status", "script", "created_at"]
    search_fields = ["pk", "clam_project", "error", "message"]
    date_hierarchy = "created_at"
    list_select_related = ["script"]

    change_list_template = "admin/scripts/process/change_list.html"

    def get_urls(self):
        from django.urls import path

        view = self.admin_site.admin_view(self.queue_health_view)
        return [path("queue-health/", view, name="scripts_process_queue_health"), *super().get_urls()]

    def queue_health_view(self, request):
        """The `queue_health` command's figures as a page, for staff who may view processes."""
        from django.core.exceptions import PermissionDenied
        from django.template.response import TemplateResponse

        from scripts.health import queue_health

        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Queue health",
            "opts": self.model._meta,
            "health": queue_health(),
        }
        return TemplateResponse(request, "admin/scripts/process/queue_health.html", context)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Process._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    """The running `process_tasks` workers and those that died without saying so, read-only (scripts.workers)."""

    list_display = ["name", "hostname", "pid", "started_at", "seen_at", "alive"]
    list_filter = ["hostname"]
    search_fields = ["name", "hostname"]

    @admin.display(boolean=True, description="alive")
    def alive(self, worker):
        return worker.seen_at >= workers.stale_before()

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Worker._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The rows are the workers' own record; a dead one's says what it left behind, and goes after a day.
        return False


class TaskAdmin(background_task.admin.TaskAdmin):
    """The queue's own task list, whose "locked_by_pid_running" looked for the holder's pid on the web
    server's machine: wrong for workers elsewhere, and our holders are worker names, not pids."""

    list_display = [
        "task_name", "task_params", "run_at", "priority", "attempts", "has_error", "locked_by", "holder_alive",
    ]

    def get_queryset(self, request):
        live = workers.live_workers().filter(name=OuterRef("locked_by"))
        return super().get_queryset(request).annotate(_holder_alive=Exists(live))

    @admin.display(boolean=True, description="holder alive")
    def holder_alive(self, task):
        return task._holder_alive if task.locked_by else None


class CompletedTaskAdmin(background_task.admin.CompletedTaskAdmin):
    """Completed tasks have no holder any more; when the queue gave up on one is what matters."""

    list_display = ["task_name", "task_params", "run_at", "attempts", "has_error", "failed_at", "locked_by"]
    list_filter = ["failed_at"]


admin.site.unregister([Task, CompletedTask])
admin.site.register(Task, TaskAdmin)
admin.site.register(CompletedTask, CompletedTaskAdmin)
