"""Settings shared by the bundled CLAM services, read from the environment.

`clamservices.serve` sets these variables before it loads a service; CLAM's
job dispatcher imports the same settings module in a child process, which
inherits them, so both see one configuration.
"""

import os
import sys

from clam.common.data import SetMetaField
from clam.common.digestauth import pwhash
from clam.common.parameters import StaticParameter


def data_root(service):
    base = os.environ.get("CLAM_SERVICES_ROOT", os.path.join(os.getcwd(), "var", "clam"))
    return os.path.join(base, service) + "/"


def users(system_id):
    """HTTP authentication users; none (open service) only when explicitly asked for."""
    user = os.environ.get("CLAM_SERVICES_USER", "")
    password = os.environ.get("CLAM_SERVICES_PASSWORD", "")
    if not user or not password:
        return None
    return {user: pwhash(user, system_id, password)}


def wrapper_command(module):
    # sys.executable is the virtual environment's Python in the service and
    # in the dispatcher alike (CLAM activates VIRTUAL_ENV before dispatching).
    return f"{sys.executable} -m {module} $DATAFILE $STATUSFILE $OUTPUTDIRECTORY"


# CLAM's job dispatcher replaced by a light one (clamservices/dispatcher.py): -S and the standard
# library only, so a job does not pay for a Python that imports CLAM before it starts.
DISPATCHER = f"{sys.executable} -S {os.path.join(os.path.dirname(os.path.dirname(__file__)), 'dispatcher.py')}"

# At most this long per job (seconds), then the dispatcher stops it.
MAX_JOB_SECONDS = int(os.environ.get("CLAM_SERVICES_MAX_JOB_SECONDS", "7200"))


def utf8_input():
    """Every plain-text input is UTF-8; CLAM's PlainTextFormat requires saying so."""
    return StaticParameter("encoding", "Encoding", "Character encoding", value="utf-8")


def utf8_output():
    return SetMetaField("encoding", "utf-8")
DEBUG = os.environ.get("CLAM_SERVICES_DEBUG", "") == "1"
