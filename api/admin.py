from django.contrib import admin

from api.models import Token


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    """Staff may see and revoke researchers' tokens; a token is made only by its owner, on the tokens page."""

    list_display = ("name", "user", "created", "expiry", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__username")
    fields = ("name", "user", "created", "expiry", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
