"""Start-up checks of the accounts app's configuration."""

from django.conf import settings
from django.core.checks import Error, register
from django.http import HttpRequest

# Documentation addresses (RFC 5737): what a probe request behind the configured proxies carries.
_CALLER, _FORGED = "203.0.113.7", "192.0.2.66"


@register()
def check_client_address(app_configs, **kwargs):
    """With AXES_PROXY_COUNT set, the client address must come out of X-Forwarded-For as the proxies wrote it: else
    every caller is the proxy's address, and the login lock-out and the API's limits per address are everyone's.
    django-axes reads it through django-ipware only when that is installed, and says nothing when it is not; so a
    request as the proxies would pass it on (with an entry the caller forged) is read here once."""
    from axes.helpers import IPWARE_INSTALLED, get_client_ip_address

    if settings.AXES_IPWARE_PROXY_COUNT is None:
        return []
    proxies = settings.AXES_IPWARE_PROXY_COUNT + 1
    request = HttpRequest()
    # Each proxy appends the address it was called from; the last one's own is REMOTE_ADDR.
    request.META = {"REMOTE_ADDR": "127.0.0.1",
                    "HTTP_X_FORWARDED_FOR": ", ".join([_FORGED, _CALLER] + [f"10.0.0.{n}" for n in range(1, proxies)])}
    try:
        found = get_client_ip_address(request)
    except ValueError as exc:  # ipware's word on a setting it cannot use
        found = f"an error ({exc})"
    if found == _CALLER:
        return []
    through = f"{proxies} {'proxy' if proxies == 1 else 'proxies'}"
    why = ("django-ipware is not installed (it comes with django-axes[ipware], as pyproject.toml asks: run bin/setup)"
           if not IPWARE_INSTALLED else f"a request from {_CALLER} through {through} was read as {found}")
    return [Error(
        f"AXES_PROXY_COUNT is {proxies}, but the client address cannot be read from X-Forwarded-For: {why}.",
        hint="Without it every caller counts as the proxy's address: one caller's failed logins lock the others "
        "out, and the API's limits per address are shared by all.",
        id="accounts.E001",
    )]
