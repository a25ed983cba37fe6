from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm

from accounts.forms import LockLiftingAdminPasswordChangeForm
from accounts.models import User


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ["username", "email"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = UserCreationAdminForm
    change_password_form = LockLiftingAdminPasswordChangeForm
    list_display = (*DjangoUserAdmin.list_display, "email_verified")
    list_filter = (*DjangoUserAdmin.list_filter, "email_verified")
    readonly_fields = ("pending_sign_up",)
    fieldsets = (
        *DjangoUserAdmin.fieldsets[:2],
        ("Sign-up", {"fields": ("email_verified", "pending_sign_up")}),
        *DjangoUserAdmin.fieldsets[2:],
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),
    )
