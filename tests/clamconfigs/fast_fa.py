"""A CLAM service shaped like the bundled forced aligner but fast: for throughput benchmarks.

Same input and output templates as the bundled FA service (audio +
transcript in, one TextGrid per recording and oov.txt out), so Equestria
drives it exactly like the real one. The job (tests/clamconfigs/fast_fa_job.py)
waits `FAST_FA_SECONDS` (default 0.5) without using the CPU (one job at a
time if `FAST_FA_SERIAL` names a lock file, concurrently otherwise), then writes
a one-interval TextGrid per recording; if `FAST_FA_LOG` names a file it
appends the job's start and end times there, so a benchmark can compute the
service's own busy time; if `FAST_FA_EXIT` is set, it exits with that status
instead, saying nothing and writing nothing. Like the bundled services it uses the light
dispatcher (clamservices/dispatcher.py): CLAM's own costs more CPU per job
than everything else here together.
"""

import sys

import clam
from clam.common.data import InputTemplate, OutputTemplate, Profile
from clam.common.formats import PlainTextFormat, WaveAudioFormat

from clamservices.config.common import DEBUG, DISPATCHER, data_root, users, utf8_input, utf8_output  # noqa: F401

REQUIRE_VERSION = "3.0"
CLAMDIR = clam.__path__[0]
SYSTEM_ID = "fast_fa"
SYSTEM_NAME = "Fast test aligner"
SYSTEM_DESCRIPTION = "Forced-alignment-shaped test service that answers at once, for throughput benchmarks."
ROOT = data_root("fast_fa")
USERS = users(SYSTEM_ID)
BASICAUTH = True
ADMINS = []
INTERFACEOPTIONS = ""
PROFILES = [
    Profile(
        InputTemplate("audio", WaveAudioFormat, "Audio (WAV)", extension=".wav", multi=True),
        InputTemplate("transcript", PlainTextFormat, "Transcript", utf8_input(), extension=".txt", multi=True),
        OutputTemplate("textgrid", PlainTextFormat, "TextGrid", utf8_output(), parent="audio",
                       removeextensions=[".wav"], extension=".TextGrid", multi=True),
        OutputTemplate("oov", PlainTextFormat, "Unknown words", utf8_output(), filename="oov.txt", unique=True),
    )
]
# -S and a stdlib-only job: the job costs a process start, not an interpreter full of packages.
COMMAND = f"{sys.executable} -S {__file__.rsplit('/', 1)[0]}/fast_fa_job.py $INPUTDIRECTORY $STATUSFILE $OUTPUTDIRECTORY"
PARAMETERS = []
