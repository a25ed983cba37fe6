"""Forms of the accounts app, rendered with crispy-forms (Bootstrap 5)."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from accounts.models import User


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
