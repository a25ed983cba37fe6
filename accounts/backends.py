"""Log in with either the username or the e-mail address; one lock-out counter per account."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


def find_account(identifier):
    """The account a typed username or e-mail address (any letter case, spaces around) names, or None."""
    User = get_user_model()
    identifier = identifier.strip()
    field = "email__iexact" if "@" in identifier else "username__iexact"
    try:
        return User._default_manager.get(**{field: identifier})
    except (User.DoesNotExist, User.MultipleObjectsReturned):
        return None


def lockout_username(request, credentials):
    """The name django-axes counts failed logins under (AXES_USERNAME_CALLABLE).

    Every spelling of an account, the username in any case or the e-mail
    address, is counted as the account's username, so one lock covers them
    all. A name without an account is counted as typed, trimmed and in lower
    case: it is locked after as many failures, with the same page, so the
    lock does not tell whether an account exists.
    """
    if credentials is not None:
        typed = credentials.get("username")
    else:
        typed = getattr(request, "POST", {}).get("username")
    if typed is None:
        return None
    account = find_account(typed)
    return account.get_username() if account is not None else typed.strip().casefold()


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = find_account(username)
        if user is None:
            # Run the hasher anyway so response time does not tell whether
            # the account exists.
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
