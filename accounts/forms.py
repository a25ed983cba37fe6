"""Forms of the accounts app, rendered with crispy-forms (Bootstrap 5)."""

import hashlib
import logging
from datetime import timedelta

from axes.helpers import get_client_ip_address
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, UserCreationForm
from django.utils import timezone

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

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "A user with that e-mail address already exists. "
                "If it is yours, log in or reset your password."
            )
        return email


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label="Username or e-mail address",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form, sending at most so many mails per address and per client per hour.

    Every request is counted, for unknown addresses too, and the answer is the
    same whether or not a mail goes out: the form reveals nothing about accounts.
    """

    window = timedelta(hours=1)

    def save(self, *args, request=None, **kwargs):
        address = self.cleaned_data["email"].strip().lower()
        digest = hashlib.sha256(address.encode()).hexdigest()
        client_ip = get_client_ip_address(request) if request is not None else None
        since = timezone.now() - self.window
        PasswordResetRequest.objects.filter(created_at__lt=since).delete()
        recent = PasswordResetRequest.objects.filter(created_at__gte=since)
        too_many = (
            recent.filter(address_hash=digest).count() >= settings.PASSWORD_RESET_MAILS_PER_ADDRESS
            or (client_ip and recent.filter(client_ip=client_ip).count() >= settings.PASSWORD_RESET_MAILS_PER_IP)
        )
        PasswordResetRequest.objects.create(address_hash=digest, client_ip=client_ip or None)
        if too_many:
            log.warning("Password reset mail not sent: too many requests for this address or from %s", client_ip)
            return
        super().save(*args, request=request, **kwargs)
