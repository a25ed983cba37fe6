from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views
from accounts.forms import (
    ConfirmingSetPasswordForm,
    LockLiftingPasswordChangeForm,
    LoginForm,
    ThrottledPasswordResetForm,
)

urlpatterns = [
    path("settings/", views.account_settings, name="accounts-settings"),
    path("signup/", views.signup, name="accounts-signup"),
    path("signup/sent/", views.signup_sent, name="accounts-signup-sent"),
    path("confirm/resend/", views.resend_confirmation, name="accounts-confirm-resend"),
    path("confirm/resend/sent/", views.resend_sent, name="accounts-confirm-resend-sent"),
    path("confirm/<uidb64>/<token>/", views.confirm_email, name="accounts-confirm-email"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html",
            authentication_form=LoginForm,
            redirect_authenticated_user=True,
        ),
        name="accounts-login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="accounts-logout"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            form_class=LockLiftingPasswordChangeForm,
            success_url=reverse_lazy("accounts-password-change-done"),
        ),
        name="accounts-password-change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_change_done.html"),
        name="accounts-password-change-done",
    ),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            form_class=ThrottledPasswordResetForm,
            subject_template_name="emails/password-reset-subject.txt",
            email_template_name="emails/password-reset-body.txt",
            success_url=reverse_lazy("accounts-password-reset-sent"),
        ),
        name="accounts-password-reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_sent.html"),
        name="accounts-password-reset-sent",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            form_class=ConfirmingSetPasswordForm,
            success_url=reverse_lazy("accounts-password-reset-complete"),
        ),
        name="accounts-password-reset-confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="accounts-password-reset-complete",
    ),
]
