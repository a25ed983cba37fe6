"""A CLAM service whose job takes a few seconds and writes a few outputs: for worker and fault tests.

Parameters: `seconds` (how long the job runs), `fail` (exit non-zero with a
message), `outputs` (how many 100 kB output files to write), `nested` (also write sub/nested.txt).
"""

import sys

import clam
from clam.common.data import InputTemplate, OutputTemplate, Profile
from clam.common.formats import PlainTextFormat
from clam.common.parameters import BooleanParameter, FloatParameter, IntegerParameter

from clamservices.config.common import DEBUG, data_root, users, utf8_input, utf8_output  # noqa: F401

REQUIRE_VERSION = "3.0"
CLAMDIR = clam.__path__[0]
SYSTEM_ID = "slow"
SYSTEM_NAME = "Slow test service"
SYSTEM_DESCRIPTION = "Takes its time, for worker and fault tests."
ROOT = data_root("slow")
USERS = users(SYSTEM_ID)
BASICAUTH = True
ADMINS = []
INTERFACEOPTIONS = ""
PROFILES = [
    Profile(
        InputTemplate("text", PlainTextFormat, "Text", utf8_input(), extension=".txt", multi=True),
        OutputTemplate("result", PlainTextFormat, "Result", utf8_output(), filename="result.txt", unique=True),
    )
]
COMMAND = f"{sys.executable} -m tests.clamconfigs.slow_job $DATAFILE $STATUSFILE $OUTPUTDIRECTORY"
PARAMETERS = [
    ("Job", [
        FloatParameter("seconds", "Seconds", "How long the job runs", default=2.0),
        BooleanParameter("fail", "Fail", "Exit with an error", default=False),
        IntegerParameter("outputs", "Outputs", "Extra 100 kB output files", default=0),
        BooleanParameter("nested", "Nested", "Also write sub/nested.txt, an output in a subfolder", default=False),
    ])
]
