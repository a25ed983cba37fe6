"""Start-up checks of the scripts app's configuration."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning, register
from django.db import DatabaseError, connection


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


@register()
def check_pipelines(app_configs, **kwargs):
    """Pipelines researchers are not offered (scripts.models.Pipeline.problems), so `manage.py check` and
    every start of the web server name them. Not tagged "database": a plain `check` should tell."""
    from scripts.models import Pipeline

    try:
        if Pipeline._meta.db_table not in connection.introspection.table_names():
            return []  # before the first migrate
        broken = Pipeline.objects.broken()
    except DatabaseError:
        return []  # e.g. `migrate` checks before it applies this release's migrations
    return [
        Warning(
            f"Pipeline “{pipeline.name}” is not offered to researchers: {'; '.join(problems)}.",
            hint="Repair it in the admin (CLAM scripts → Pipelines), or re-import its Scripts; its projects "
            "cannot start an alignment meanwhile.",
            id="scripts.W001",
        )
        for pipeline, problems in broken
    ]
