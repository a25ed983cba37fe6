"""The "API tokens" page of an account: create a token (its key shown once, on the answer to the form),
list them, revoke one. The key itself is never stored: knox keeps its SHA-512 digest (api.models.Token)."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from api.models import Token

EXPIRY = {"": None, "7": timedelta(days=7), "30": timedelta(days=30), "90": timedelta(days=90),
          "365": timedelta(days=365)}
# Enough for every laptop and server of a researcher; a script that makes tokens in a loop is stopped here.
MAX_TOKENS = 50


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “laptop” or “lab server”.")
    expires = forms.ChoiceField(
        label="Expires", required=False,
        choices=[("", "never"), ("7", "in 7 days"), ("30", "in 30 days"), ("90", "in 90 days"), ("365", "in a year")],
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.", code="required")
        if Token.objects.filter(user=self.user, name__iexact=name).exists():
            raise forms.ValidationError("You already have a token with this name.", code="duplicate_name")
        return name

    def clean(self):
        if Token.objects.filter(user=self.user).count() >= MAX_TOKENS:
            raise forms.ValidationError(f"You have {MAX_TOKENS} tokens, the most an account may have; revoke the ones "
                                        "you no longer use first.")
        return super().clean()


def _get_token_for_user(request, token_id):
    return get_object_or_404(Token, public_id=token_id, user=request.user)


@never_cache
@login_required
def token_list(request):
    form = TokenForm(request.POST or None, user=request.user)
    created = None
    if request.method == "POST" and form.is_valid():
        created, key = Token.objects.create(user=request.user, expiry=EXPIRY[form.cleaned_data["expires"]],
                                            name=form.cleaned_data["name"])
        created.key = key  # shown on this answer only: never stored, never in a message or the session
        form = TokenForm(user=request.user)
    tokens = list(Token.objects.filter(user=request.user))
    return render(request, "api/tokens.html", {"form": form, "tokens": tokens, "created": created})


@login_required
@require_POST
def revoke_token(request, token_id):
    token = _get_token_for_user(request, token_id)
    token.delete()
    messages.success(request, f"Token “{token.name}” revoked: scripts that use it are refused from now on.")
    return redirect("api-token-list")


urlpatterns = [
    path("", token_list, name="api-token-list"),
    path("<uuid:token_id>/revoke/", revoke_token, name="api-revoke-token"),
]
