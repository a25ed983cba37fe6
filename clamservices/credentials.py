"""Credentials of the bundled CLAM services.

Both sides need them: the services (to check them) and Equestria (to log in,
through the Scripts of the `clam` fixture). They come from
CLAM_SERVICES_USER / CLAM_SERVICES_PASSWORD (or CLAM_SERVICES_PASSWORD_FILE);
without a password one is generated once into var/clam_services_password.
"""

import os
import secrets
from pathlib import Path

DEFAULT_USER = "equestria"


def var_dir():
    return Path(os.environ.get("EQUESTRIA_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))


def service_credentials():
    user = os.environ.get("CLAM_SERVICES_USER") or DEFAULT_USER
    password = os.environ.get("CLAM_SERVICES_PASSWORD")
    if not password and os.environ.get("CLAM_SERVICES_PASSWORD_FILE"):
        password = Path(os.environ["CLAM_SERVICES_PASSWORD_FILE"]).read_text().strip()
    if not password:
        path = var_dir() / "clam_services_password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(18))
        password = path.read_text().strip()
    return user, password
