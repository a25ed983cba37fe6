"""Log in with either the username or the e-mail address; one lock-out counter per account."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import check_password, make_password

from accounts import services
from accounts.models import identified_by

_dummy_hash = None


def _check(password, encoded):
    """check_password, against a hash of nothing when there is none, so it costs the same either way."""
    global _dummy_hash
    if encoded is None:
        if _dummy_hash is None:
            _dummy_hash = make_password("no account has this password")
        check_password(password, _dummy_hash)
        return False
    return check_password(password, encoded)


def find_account(identifier):
    """The account a typed username or e-mail address (any letter case, spaces around) names, or None."""
    User = get_user_model()
    try:
        return User._default_manager.get(identified_by(identifier))
    except (User.DoesNotExist, User.MultipleObjectsReturned):
        return None


def find_declined_sign_up(identifier):
    """The newest recent declined sign-up a typed username or address names, or None."""
    return services.recent_declined_sign_ups().filter(identified_by(identifier)).order_by("-created_at").first()


def lockout_username(request, credentials):
    """The name django-axes counts failed logins under (AXES_USERNAME_CALLABLE).

    Every spelling of an account, the username in any case or the e-mail
    address, is counted as the account's username, so one lock covers them
    all. A declined sign-up's username counts as its address would, as a new
    account's username and address count as one. A name without either is
    counted as typed, trimmed and in lower case: it is locked after as many
    failures, with the same page, so the lock does not tell whether an
    account exists.
    """
    if credentials is not None:
        typed = credentials.get("username")
    else:
        typed = getattr(request, "POST", {}).get("username")
    if typed is None:
        return None
    account = find_account(typed)
    if account is None and "@" not in typed:
        declined = find_declined_sign_up(typed)
        if declined is not None:
            typed = declined.email
            account = find_account(typed)
    return account.get_username() if account is not None else typed.strip().casefold()


class UsernameOrEmailBackend(ModelBackend):
    """Authenticate by username or address; a declined sign-up's own password gives its unsaved account.

    So that logging in reveals nothing about which addresses have accounts,
    a declined sign-up (see DeclinedSignUp) with its right password must be
    answered exactly as a new account waiting for confirmation is: it
    authenticates (no failure for django-axes to count) as an unsaved,
    unconfirmed account, which every login form then refuses (LoginForm as
    unconfirmed, the admin's as not staff). Never save or log in the object.

    Both kinds are checked with a fixed number of password hashes: a
    username names an account or a declined sign-up, never both, so one
    hash; an address may name an account and a declined sign-up (or a new
    account and none), so always two.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = find_account(username)
        declined = find_declined_sign_up(username)
        if "@" not in username and user is not None:
            declined = None  # an administrator may have reused a declined sign-up's username
        matches = user is not None and user.check_password(password)
        if user is None and (declined is None or "@" in username):
            _check(password, None)
        declined_matches = declined is not None and _check(password, declined.password)
        if declined is None and "@" in username:
            _check(password, None)
        if matches:
            return user if self.user_can_authenticate(user) else None
        if declined_matches:
            return get_user_model()(
                username=declined.username, email=declined.email, email_verified=False, pending_sign_up=True
            )
        return None
