"""Start-up checks of the scripts app's configuration."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, register


@register()
def check_password_keys(app_configs, **kwargs):
    keys = getattr(settings, "CLAM_PASSWORD_KEYS", [])
    if not keys:
        return [
            Error(
                "No key to encrypt CLAM passwords with.",
                hint="Set CLAM_PASSWORD_KEYS (or CLAM_PASSWORD_KEYS_FILE) to a Fernet key; make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
                id="scripts.E001",
            )
        ]
    errors = []
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            errors.append(
                Error(
                    f"CLAM_PASSWORD_KEYS: key {number} is not a valid Fernet key (32 url-safe base64-encoded bytes).",
                    id="scripts.E002",
                )
            )
    return errors


@register()
def check_worker_timing(app_configs, **kwargs):
    heartbeat, stale = settings.WORKER_HEARTBEAT_SECONDS, settings.WORKER_STALE_SECONDS
    if heartbeat < 1 or stale < 3 * heartbeat:
        return [
            Error(
                f"WORKER_STALE_SECONDS ({stale}) must be at least three WORKER_HEARTBEAT_SECONDS ({heartbeat}), "
                "and the heartbeat at least 1 second.",
                hint="Otherwise a worker that is only slow to write its heartbeat is taken for dead, and its "
                "step runs twice at once.",
                id="scripts.E003",
            )
        ]
    return []
