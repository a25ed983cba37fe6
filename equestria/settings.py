"""Django settings for Equestria.

Everything that differs between a laptop and a department server comes from
environment variables (see docs/operators/settings.md). The defaults run
locally with SQLite and files under ./var, with nothing to configure.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from equestria.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("EQUESTRIA_VAR_DIR", str(BASE_DIR / "var")))


def _generated_once(name, make):
    """A secret generated once into var/, so a local install keeps it across restarts."""
    path = VAR_DIR / name
    if not path.exists() or not path.read_text().strip():
        value = make()
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(value)
    return path.read_text().strip()


def _fernet_key():
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY") or _generated_once("secret_key", lambda: secrets.token_urlsafe(64))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "equestria.admin.EquestriaAdminConfig",  # django.contrib.admin with a guard (equestria/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "axes",
    "csp",
    # Before django-background-tasks: its process_tasks command is replaced by ours (a loop made for chains of short tasks).
    "scripts",
    "equestria.background.BackgroundTasksConfig",
    "accounts",
    "upload",
    "pipelines",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "api",
]

MIDDLEWARE = [
    # Outermost: it removes a request's temporary upload files whatever ends the request.
    "upload.middleware.UploadTempFilesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Before TooManyFilesMiddleware: it answers the API's oversized or broken bodies in JSON.
    "api.middleware.ApiBodyMiddleware",
    "upload.middleware.TooManyFilesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "equestria.urls"
FIXTURE_DIRS = [BASE_DIR / "fixtures"]
WSGI_APPLICATION = "equestria.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.signup",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'equestria.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at the same time: WAL lets readers
    # go on during a write, IMMEDIATE takes the write lock at BEGIN (so a
    # transaction never fails half-way with "database is locked"), and the
    # timeout makes a writer wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so tests can run real worker processes against the test database.
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_PATH", str(VAR_DIR / "test.sqlite3"))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, as django-axes requires, so a locked-out login never reaches the others.
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.UsernameOrEmailBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts-login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
SIGNUP_ENABLED = env_bool("SIGNUP_ENABLED", True)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)
# Reset mails per hour, per e-mail address and per client address; beyond them the form says
# the same as always (no hint whether an account exists) but sends nothing.
PASSWORD_RESET_MAILS_PER_ADDRESS = env_int("PASSWORD_RESET_MAILS_PER_ADDRESS", 3)
PASSWORD_RESET_MAILS_PER_IP = env_int("PASSWORD_RESET_MAILS_PER_IP", 20)
# Mails with a sign-up confirmation link (at sign-up and on request), likewise limited: one per
# address per CONFIRMATION_MAIL_INTERVAL_SECONDS, so many per address and per client per hour.
CONFIRMATION_MAIL_INTERVAL_SECONDS = env_int("CONFIRMATION_MAIL_INTERVAL_SECONDS", 60)
CONFIRMATION_MAILS_PER_ADDRESS = env_int("CONFIRMATION_MAILS_PER_ADDRESS", 5)
CONFIRMATION_MAILS_PER_IP = env_int("CONFIRMATION_MAILS_PER_IP", 20)

# Login throttling (django-axes): an account + address pair is locked out after
# AXES_FAILURE_LIMIT failures for AXES_COOLOFF_TIME; the admin login included. Failures
# count per account, whatever spelling of it was typed (see accounts.backends).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.backends.lockout_username"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# AXES_PROXY_COUNT reverse proxies in front: the client address is read from X-Forwarded-For by
# django-ipware (accounts.checks.check_client_address tells at start-up when it cannot be), also for the
# API's limits per address (api.authentication.client_address). Each proxy appends the address it was
# called from; the last one's own is REMOTE_ADDR, so the client is the N-th entry from the end, which
# ipware counts as "N - 1 proxies after the client". Not strict: a strict ipware refuses a header that
# holds more entries, such as one the caller sent itself, and falls back to the proxy's address, which
# all such callers would then share; not strict, it counts from the right, past the caller's entries.
_proxy_count = env_int("AXES_PROXY_COUNT", 0)
if _proxy_count < 0:
    raise ImproperlyConfigured(f"AXES_PROXY_COUNT must be 0 or more, not {_proxy_count}")
AXES_IPWARE_PROXY_COUNT = _proxy_count - 1 if _proxy_count else None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if _proxy_count else ["REMOTE_ADDR"]
IPWARE_STRICT = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# wavesurfer.js (the result editor's waveform), installed from package-lock.json by bin/setup, as /static/wavesurfer/.
STATICFILES_DIRS = [BASE_DIR / "static", ("wavesurfer", BASE_DIR / "node_modules" / "wavesurfer.js" / "dist")]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# No MEDIA_URL on purpose: uploaded files are only ever served by views that
# check who owns them.
STORAGES = {
    # Writes aside and renames into place, so a half-copied file never appears (upload/storage.py).
    "default": {"BACKEND": "upload.storage.AtomicFileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Uploads: files above FILE_UPLOAD_MAX_MEMORY_SIZE stream to a temporary file,
# so the web process's memory stays flat for large recordings.
FILE_UPLOAD_HANDLERS = ["upload.handlers.SizeLimitedUploadHandler"]
# A folder of our own, so the cleanup of what a killed web process left (upload.cleanup) never
# meets other programs' files; made when first needed.
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR") or str(VAR_DIR / "tmp" / "uploads")
# Temporary upload files, half-written media files and media files no database row refers to are
# removed once older than this (manage.py remove_orphan_files; workers run it every hour).
CLEANUP_ORPHAN_AGE_HOURS = env_int("CLEANUP_ORPHAN_AGE_HOURS", 24)
COMPLETED_TASKS_KEEP_DAYS = env_int("COMPLETED_TASKS_KEEP_DAYS", 30)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("UPLOAD_MAX_FILES", 1000)
UPLOAD_MAX_FILE_BYTES = env_int("UPLOAD_MAX_FILE_BYTES", 2 * 1024**3)
UPLOAD_MAX_PROJECT_BYTES = env_int("UPLOAD_MAX_PROJECT_BYTES", 20 * 1024**3)
UPLOAD_MAX_ARCHIVE_ENTRIES = env_int("UPLOAD_MAX_ARCHIVE_ENTRIES", 2000)
UPLOAD_MAX_ARCHIVE_BYTES = env_int("UPLOAD_MAX_ARCHIVE_BYTES", 4 * 1024**3)
UPLOAD_MAX_COMPRESSION_RATIO = env_int("UPLOAD_MAX_COMPRESSION_RATIO", 100)
# Text a researcher sends: a transcript of a two-hour recording is about 100 KB, a whole
# CMUdict-sized lexicon under 4 MB, and a review holds the pronunciations of one run's unknown words.
UPLOAD_MAX_TRANSCRIPT_BYTES = env_int("UPLOAD_MAX_TRANSCRIPT_BYTES", 1024**2)
# A TextGrid or EAF of utterance tiers holds markup and times besides the text: two hours of two
# speakers is about 0.6 MB as EAF, 0.9 MB as Praat's UTF-16 TextGrid (docs/operators/settings.md).
UPLOAD_MAX_TIERED_TRANSCRIPT_BYTES = env_int("UPLOAD_MAX_TIERED_TRANSCRIPT_BYTES", 8 * 1024**2)
UPLOAD_MAX_DICTIONARY_BYTES = env_int("UPLOAD_MAX_DICTIONARY_BYTES", 10 * 1024**2)
REVIEW_MAX_DICTIONARY_BYTES = env_int("REVIEW_MAX_DICTIONARY_BYTES", 1024**2)
PARAMETER_MAX_CHARACTERS = env_int("PARAMETER_MAX_CHARACTERS", 10_000)
# Django's limit of a form's body (files excepted): room for a review at its limit even when every
# byte is percent-encoded (three characters each), so that the form, not a bare 400 page, refuses it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 3 * REVIEW_MAX_DICTIONARY_BYTES + 256 * 1024

# The API (/api/v1/, the `api` app, docs/users/api.md): JSON only; personal access tokens (django-rest-knox,
# stored hashed; `Authorization: Token <key>`) or the browser's session with its CSRF token; every error as
# {"code", "detail"} (api/errors.py). Requests per user (or per client address without one), e.g.
# "120/minute"; empty: no limit. Counted in the cache, which is per process unless CACHES says otherwise.
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "120/minute").strip() or None
# Refused tokens (revoked, expired, mistyped) per client address, before any further token is checked.
API_FAILED_TOKEN_RATE = env_str("API_FAILED_TOKEN_RATE", "20/minute").strip() or None
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.TokenAuthentication", "api.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.authentication.UserThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser", "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    # `?format=` chooses a result's file format (api.views.ResultDownload); the API answers in JSON only.
    "URL_FORMAT_OVERRIDE": None,
}
KNOX_TOKEN_MODEL = "api.Token"
# knox's own migrations create its AuthToken's table even when the model is swapped for api.Token (their
# CreateModel does not say it is swappable). Nothing uses that table, Django no longer knows of it, and on
# PostgreSQL its key to accounts_user made every test database flush fail (TRUNCATE of a referenced table).
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {"TOKEN_TTL": None, "AUTO_REFRESH": False}
SPECTACULAR_SETTINGS = {
    "TITLE": "Equestria API",
    "DESCRIPTION": "Projects, their recordings and transcripts, and the pipelines that align them. "
    "Every error is {\"code\": …, \"detail\": …}; each operation lists its codes. Guide: docs/users/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": False},
    # Two fields named "kind" (a file's, a pipeline's): their enums get names of their own, not a hash.
    "ENUM_NAME_OVERRIDES": {
        "FileKindEnum": ["audio", "transcript", "dictionary", "other"],
        "PipelineKindEnum": ["alignment", "single"],
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# E-mail: printed on the console unless an SMTP server is configured.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Equestria <equestria@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
ADMINS = [("Administrator", address) for address in env_list("ADMIN_EMAILS")]
# The site's address as researchers reach it, for links in mails the worker sends (it has no request to
# take the host from), e.g. https://equestria.example.org.
EQUESTRIA_SITE_URL = env_str("EQUESTRIA_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# The "needs your review" mail goes this long after the run reached the review, and only if it still waits then: a
# script (equestria-align --review accept) answers within seconds. 0: at once.
RUN_REVIEW_MAIL_DELAY_SECONDS = env_int("RUN_REVIEW_MAIL_DELAY_SECONDS", 300)

# HTTPS: on in production behind TLS; off for the local run command on plain http.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "equestria.views.csrf_failure"
# Content-Security-Policy (django-csp): scripts and styles only from our own static files, never
# inline, so injected markup cannot run or restyle anything. data: images are Bootstrap's icons.
# Not a setting named CSP_REPORT_URI: django-csp's check refuses its old 3.x setting names.
_csp_report_uri = env_str("CSP_REPORT_URI").strip()
if any(c.isspace() or c in ";," for c in _csp_report_uri):
    # It goes into the header as it is: a second directive or a line break would change or break every page.
    raise ImproperlyConfigured(f"CSP_REPORT_URI must be one URL, without spaces, commas or semicolons: {_csp_report_uri!r}")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": [_csp_report_uri] if _csp_report_uri else None,
    },
}

# CLAM passwords are encrypted at rest with Fernet. The first key encrypts,
# all of them decrypt (add a new key in front to rotate, then run
# `manage.py rotate_clam_passwords`). Production (HTTPS on) must set them;
# a local install generates one into var/.
CLAM_PASSWORD_KEYS = env_secret("CLAM_PASSWORD_KEYS").replace(",", " ").split() or (
    [] if HTTPS else [_generated_once("clam_password_key", _fernet_key)]
)
# Every request Equestria makes to a CLAM server has these limits. They are
# short because a worker waits them out while other processes queue behind it
# (docs/operators/settings.md, "Slow CLAM services"); an upload may take longer
# in proportion to its size (scripts.clam.upload_read_timeout).
CLAM_CONNECT_TIMEOUT = env_int("CLAM_CONNECT_TIMEOUT", 5)
CLAM_READ_TIMEOUT = env_int("CLAM_READ_TIMEOUT", 5)
CLAM_TOTAL_TIMEOUT = env_int("CLAM_TOTAL_TIMEOUT", 30)
# The admin's import and "Test connection" end within this many seconds in all: its page waits for them.
CLAM_ADMIN_TIMEOUT = env_int("CLAM_ADMIN_TIMEOUT", 10)
CLAM_UPLOAD_SECONDS_PER_GB = env_int("CLAM_UPLOAD_SECONDS_PER_GB", 60)
CLAM_MAX_XML_BYTES = env_int("CLAM_MAX_XML_BYTES", 10 * 1024 * 1024)

CLAM_MAX_OUTPUT_BYTES = env_int("CLAM_MAX_OUTPUT_BYTES", 4 * 1024**3)
# Languages the bundled services get a pipeline for (`setup_bundled_services`, pipelines/bundled.py):
# en-us with its own acoustic model, the others mapped to it (clamservices/languages.py).
EQUESTRIA_BUNDLED_LANGUAGES = env_list("EQUESTRIA_BUNDLED_LANGUAGES", ["en-us", "nl"])

# Background worker (django-background-tasks): synchronous mode only; the
# thread pool is known to freeze and leave locks behind. Scale with processes.
BACKGROUND_TASK_RUN_ASYNC = False
# Workers say they are alive every WORKER_HEARTBEAT_SECONDS; one silent for WORKER_STALE_SECONDS is
# dead, and any worker takes over its task and process (scripts/workers.py). The queue library's task
# lock lasts as long, kept fresh by the heartbeat while a step runs however long.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 5)
WORKER_STALE_SECONDS = env_int("WORKER_STALE_SECONDS", 30)
MAX_RUN_TIME = WORKER_STALE_SECONDS
# A step still running after this long is no longer kept by the heartbeat (its worker is stuck on a
# file system or in a loop): another worker takes it over WORKER_STALE_SECONDS later.
WORKER_MAX_STEP_SECONDS = env_int("WORKER_MAX_STEP_SECONDS", 3600)
# Processes: polling starts fast and slows down for long jobs; servers that
# are down or answer 5xx are retried with backoff, then the process fails.
PROCESS_POLL_MAX_SECONDS = float(env_int("PROCESS_POLL_MAX_SECONDS", 5))
PROCESS_MAX_ATTEMPTS = env_int("PROCESS_MAX_ATTEMPTS", 8)
PROCESS_RETRY_MAX_SECONDS = env_int("PROCESS_RETRY_MAX_SECONDS", 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
