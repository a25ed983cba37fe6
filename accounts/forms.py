"""Forms of the accounts app, rendered with crispy-forms (Bootstrap 5)."""

import logging

from axes.helpers import get_client_ip_address
from django import forms
from django.conf import settings
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
    UserCreationForm,
)

from accounts import services
from accounts.models import PasswordResetRequest, User

log = logging.getLogger(__name__)


class SignUpForm(UserCreationForm):
    class Meta:
        model = User
        fields = ["username", "email"]
        help_texts = {"email": "Used to reset your password. Never shown to other users."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True

    def clean_username(self):
        username = super().clean_username()
        if username and services.username_held_by_declined_sign_up(username):
            raise forms.ValidationError(self.instance.unique_error_message(User, ["username"]))
        return username

    def clean_email(self):
        return User.objects.normalize_email(self.cleaned_data["email"])

    def _get_validation_exclusions(self):
        # The form must not say that an address has an account: sign_up()
        # mails its owner instead, so the model's unique check on it is skipped.
        return super()._get_validation_exclusions() | {"email"}


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label="Username or e-mail address",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    unconfirmed = False

    def confirm_login_allowed(self, user):
        # Reached only with the right password, so saying this reveals
        # nothing to someone who does not know it. A declined sign-up with
        # its password arrives here too, as an unsaved unconfirmed account
        # (see UsernameOrEmailBackend), so it is answered the same.
        super().confirm_login_allowed(user)
        if not user.email_verified:
            self._refuse_unconfirmed()

    def _refuse_unconfirmed(self):
        self.unconfirmed = True
        raise forms.ValidationError(
            "Confirm your e-mail address first: follow the link in the mail we sent when you signed up.",
            code="unconfirmed",
        )


class ResendConfirmationForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class LiftsLockoutMixin:
    """A form that sets a password and then lifts the account's login lock-out (services.lift_lockout)."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            services.lift_lockout(user)
        return user


class ConfirmingSetPasswordForm(LiftsLockoutMixin, SetPasswordForm):
    """Setting a password through a reset link proves the mailbox too, so it confirms the address."""

    def save(self, commit=True):
        self.user.email_verified = True
        return super().save(commit=commit)


class LockLiftingPasswordChangeForm(LiftsLockoutMixin, PasswordChangeForm):
    pass


class LockLiftingAdminPasswordChangeForm(LiftsLockoutMixin, AdminPasswordChangeForm):
    pass


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form, sending at most so many mails per address and per client per hour.

    Every request is counted, for unknown addresses too, and the answer is the
    same whether or not a mail goes out: the form reveals nothing about accounts.
    """

    def save(self, *args, request=None, **kwargs):
        client_ip = get_client_ip_address(request) if request is not None else None
        too_many = services.throttle_mail(
            PasswordResetRequest,
            self.cleaned_data["email"],
            client_ip,
            per_address=settings.PASSWORD_RESET_MAILS_PER_ADDRESS,
            per_ip=settings.PASSWORD_RESET_MAILS_PER_IP,
            count_refused=True,
        )
        if too_many:
            log.warning("Password reset mail not sent: too many requests for this address or from %s", client_ip)
            return
        super().save(*args, request=request, **kwargs)


class AccountSettingsForm(forms.ModelForm):
    """What a researcher sets for their own account (the API's /api/v1/me/ takes the same fields)."""

    class Meta:
        model = User
        fields = ["notify_runs"]
