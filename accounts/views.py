"""Sign up and confirm the address; the rest of the account pages are Django's auth views (see urls.py)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services
from accounts.forms import AccountSettingsForm, ResendConfirmationForm, SignUpForm

# Said when a link cannot be sent now; every request counts, for addresses without an account too,
# so these reveal nothing about accounts.
TOO_SOON = {
    "interval": "A link was sent to this address less than {minutes} ago. Wait a little, then ask again.",
    "address": "Several links were sent to this address in the last hour. Try again in an hour.",
    "ip": "Too many links were asked for from your network in the last hour. Try again in an hour.",
}


@sensitive_post_parameters("password1", "password2")
def signup(request):
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is closed on this server.")
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.sign_up(form, request)
        except services.UsernameTaken:
            form.add_error("username", "A user with that username already exists.")
        else:
            # The same answer whether or not the address has an account.
            request.session["mail_sent_to"] = form.cleaned_data["email"]
            return redirect("accounts-signup-sent")
    return render(request, "accounts/signup.html", {"form": form})


def signup_sent(request):
    return render(request, "accounts/signup_sent.html", {"address": request.session.get("mail_sent_to")})


def confirm_email(request, uidb64, token):
    """The link in the confirmation mail: a page with a button, so a mail scanner's GET confirms nothing."""
    user = services.user_for_confirmation(uidb64, token)
    if user is None:
        return render(request, "accounts/confirm_email.html", {"validlink": False})
    if request.method == "POST":
        services.confirm_email(user)
        messages.success(request, "Your e-mail address is confirmed. Log in to start.")
        return redirect("accounts-login")
    return render(request, "accounts/confirm_email.html", {"validlink": True, "address": user.email})


def resend_confirmation(request):
    form = ResendConfirmationForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    if request.method == "POST" and form.is_valid():
        address = form.cleaned_data["email"]
        reason = services.resend_confirmation(address, request)
        if reason:
            minutes = max(1, settings.CONFIRMATION_MAIL_INTERVAL_SECONDS // 60)
            form.add_error(
                "email", TOO_SOON[reason].format(minutes="a minute" if minutes == 1 else f"{minutes} minutes")
            )
        else:
            request.session["mail_sent_to"] = address
            return redirect("accounts-confirm-resend-sent")
    return render(request, "accounts/confirm_resend.html", {"form": form})


def resend_sent(request):
    return render(request, "accounts/confirm_resend_sent.html", {"address": request.session.get("mail_sent_to")})


@login_required
def account_settings(request):
    form = AccountSettingsForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save(commit=False).save(update_fields=form.Meta.fields)
        messages.success(request, "Your settings are saved.")
        return redirect("accounts-settings")
    return render(request, "accounts/settings.html", {"form": form})
