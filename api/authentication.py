"""Who is calling the API: a personal access token (`Authorization: Token <key>`) or the browser's session
(with its CSRF token), and how often they may (`UserThrottle`).

Tokens are django-rest-knox's: the key is shown once, the database keeps its SHA-512 digest. knox's own
check says "Invalid token." of an expired one and deletes it; here an expired token says so (and stays
on the tokens page, marked expired), and each use is noted (`Token.last_used_at`).
"""

import binascii
import math
from datetime import timedelta
from hmac import compare_digest

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.settings import CONSTANTS
from rest_framework import authentication, exceptions, throttling
from rest_framework.authentication import get_authorization_header

from api.models import Token

INVALID = ("The token is not valid: it was revoked, or it is not the whole key. Create a new one on the "
           "“API tokens” page of your account.")
# Writes of last_used_at are at most this often per token: a script's every request would otherwise write.
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate(self, request):
        scheme = get_authorization_header(request).split()[:1]
        if scheme and scheme[0].lower() == b"bearer":
            # A usual mistake, which knox passes on, so the answer would say that no credentials were sent. Other
            # schemes are passed on too: a proxy's Basic authentication may come along with a browser's session.
            raise exceptions.AuthenticationFailed("The Authorization header must be “Token <key>”, not “Bearer …”.",
                                                  code="authentication_failed")
        if not scheme or scheme[0].lower() != b"token":
            return super().authenticate(request)
        failures = FailedTokenThrottle(request)
        try:
            # Checked first (an indexed query by the key's prefix, then a hash): a valid token passes even from an
            # address that sent many bad ones, e.g. a lab's shared address or proxy.
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            if (wait := failures.wait_needed()) is not None:
                raise exceptions.Throttled(wait, detail=(
                    "Too many requests with a token that is not valid came from your address; wait before trying "
                    "again, and check the token (it may have been revoked or have expired).")) from None
            failures.record()
            raise

    def authenticate_credentials(self, key):
        try:
            key = key.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID, code="invalid_token") from None
        try:
            digest = hash_token(key)
        except (TypeError, ValueError, binascii.Error):
            raise exceptions.AuthenticationFailed(INVALID, code="invalid_token") from None
        for token in Token.objects.filter(token_key=key[:CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user"):
            if not compare_digest(digest, token.digest):
                continue
            now = timezone.now()
            if token.expiry is not None and token.expiry <= now:
                raise exceptions.AuthenticationFailed(
                    f"The token “{token.name}” expired on {token.expiry:%Y-%m-%d %H:%M} UTC. Create a new one on the "
                    "“API tokens” page of your account.", code="token_expired")
            if not token.user.is_active:
                raise exceptions.AuthenticationFailed("This account is inactive.", code="user_inactive")
            if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
                Token.objects.filter(pk=token.pk).update(last_used_at=now)
            return token.user, token
        raise exceptions.AuthenticationFailed(INVALID, code="invalid_token")


class SessionAuthentication(authentication.SessionAuthentication):
    """The browser's session; a change without the CSRF token says how to send it."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise exceptions.PermissionDenied(
                f"{exc.detail} Logged in through the browser, send the X-CSRFToken header with the value of the "
                "csrftoken cookie; a script sends “Authorization: Token <key>” instead.", code="csrf_failed") from None


def client_address(request):
    """The caller's address as django-axes locks logins by it (AXES_PROXY_COUNT), not DRF's, which trusts any
    X-Forwarded-For when no proxy count is set: a caller could name a new address per request, and so a new
    allowance."""
    return get_client_ip_address(getattr(request, "_request", request))


class UserThrottle(throttling.UserRateThrottle):
    """DRF's per-user throttle (per client address for anonymous calls, `client_address`) at API_THROTTLE_RATE.

    Read per request, not when the class is defined as DRF's is, so that a changed setting applies.
    """

    def get_rate(self):
        return settings.API_THROTTLE_RATE

    def get_ident(self, request):
        return client_address(request)


class FailedTokenThrottle(throttling.SimpleRateThrottle):
    """Refused tokens per client address, at most API_FAILED_TOKEN_RATE: past it, a token that is not valid is
    answered 429 instead of 401, so that a script that tries keys (or one left running with a revoked token) is
    told to wait; valid tokens are never refused by it.

    The address is `client_address`'s, so that a caller cannot name a new address per request.
    """

    scope = "failed_token"

    def __init__(self, request):
        super().__init__()
        self.key = self.cache_format % {"scope": self.scope, "ident": client_address(request)}
        self.history, self.now = [], self.timer()
        if self.rate is not None:
            self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]

    def get_rate(self):
        return settings.API_FAILED_TOKEN_RATE

    def wait_needed(self):
        """Seconds to wait before another token is checked, or None."""
        if self.rate is None or len(self.history) < self.num_requests:
            return None
        return max(1, math.ceil(self.history[-1] + self.duration - self.now))

    def record(self):
        if self.rate is not None:
            self.cache.set(self.key, [self.now, *self.history], self.duration)
