"""The admin site, with one guard Django's own lacks.

A changelist action posted with ids that are not ids of the model (a crafted
or stale form) makes Django's admin fail with a server error while it filters
the selection; here it is answered like an empty selection, with a message.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import ValidationError
from django.shortcuts import redirect


class EquestriaAdminSite(admin.AdminSite):
    def admin_view(self, view, cacheable=False):
        wrapped = super().admin_view(view, cacheable)
        model_admin = getattr(view, "__self__", None)
        if not isinstance(model_admin, admin.ModelAdmin) or view.__name__ != "changelist_view":
            return wrapped

        def checked(request, *args, **kwargs):
            if request.method == "POST" and not _valid_ids(model_admin.model, request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)):
                messages.warning(request, "The selected items do not exist (any more). No items have been changed.")
                return redirect(request.get_full_path())
            return wrapped(request, *args, **kwargs)

        return checked


def _valid_ids(model, ids):
    try:
        for value in ids:
            # run_validators: an integer beyond the database's range fails too.
            model._meta.pk.run_validators(model._meta.pk.to_python(value))
    except ValidationError:
        return False
    return True


class EquestriaAdminConfig(AdminConfig):
    default_site = "equestria.admin.EquestriaAdminSite"
