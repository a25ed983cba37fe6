"""A CLAM service for importer tests: two profiles, all seven parameter types, per-template parameters.

SHAPES_VARIANT=b changes it the way a service changes between releases: a
parameter added, one removed, the choices of another changed, a template
dropped.
"""

import os

import clam
from clam.common.data import InputTemplate, OutputTemplate, Profile, SetMetaField
from clam.common.formats import PlainTextFormat, WaveAudioFormat, XMLFormat
from clam.common.parameters import (
    BooleanParameter,
    ChoiceParameter,
    FloatParameter,
    IntegerParameter,
    StaticParameter,
    StringParameter,
    TextParameter,
)

from clamservices.config.common import data_root, users

VARIANT = os.environ.get("SHAPES_VARIANT", "a")
REQUIRE_VERSION = "3.0"
CLAMDIR = clam.__path__[0]
SYSTEM_ID = "shapes"
SYSTEM_NAME = f"Shapes test service ({VARIANT})"
SYSTEM_DESCRIPTION = "Exercises every shape the importer must read."
ROOT = data_root(f"shapes-{VARIANT}")
USERS = users(SYSTEM_ID)
BASICAUTH = True
DIGESTAUTH = True
ADMINS = []
INTERFACEOPTIONS = ""
COMMAND = "/bin/true $DATAFILE $STATUSFILE $OUTPUTDIRECTORY"

encoding = lambda: StaticParameter("encoding", "Encoding", "Character encoding", value="utf-8")  # noqa: E731

text_input = InputTemplate(
    "text", PlainTextFormat, "Some text", encoding(),
    ChoiceParameter("language", "Language", "Language of the text",
                    choices=[("en", "English"), ("nl", "Dutch")], default="nl"),
    IntegerParameter("year", "Year", "Year written", default=1811),
    extension=".txt", multi=True,
)
audio_input = InputTemplate("audio", WaveAudioFormat, "Recording", extension=".wav", unique=True, optional=True)
archive_input = InputTemplate(
    "bundle", XMLFormat, "XML bundle", extension=".xml", multi=True, optional=True, acceptarchive=True
)

PROFILES = [
    Profile(
        text_input, audio_input,
        OutputTemplate("result", PlainTextFormat, "Result", SetMetaField("encoding", "utf-8"),
                       extension=".out", parent="text", multi=True),
        OutputTemplate("summary", PlainTextFormat, "Summary", SetMetaField("encoding", "utf-8"),
                       filename="summary.txt", unique=True),
    ),
]
if VARIANT == "a":
    PROFILES.append(
        Profile(archive_input, OutputTemplate("merged", XMLFormat, "Merged", filename="merged.xml", unique=True))
    )

mode_choices = [("fast", "Fast"), ("exact", "Exact")] if VARIANT == "a" else [("exact", "Exact"), ("careful", "Careful")]
PARAMETERS = [
    ("General", [
        BooleanParameter("verbose", "Verbose", "Write a detailed log", default=True),
        StaticParameter("engine", "Engine", "The engine in use", value="shapes-1.0"),
        StringParameter("author", "Author", "Who asked", default="anonymous", required=True),
        ChoiceParameter("mode", "Mode", "How to run", choices=mode_choices, default="exact"),
        ChoiceParameter("tiers", "Tiers", "Which tiers", choices=[("w", "Words"), ("p", "Phones"), ("s", "Syllables")],
                        multi=True, default=["w", "p"]),
    ]),
    ("Numbers", [
        IntegerParameter("beam", "Beam", "Beam width", default=10, minvalue=1, maxvalue=100),
        FloatParameter("threshold", "Threshold", "Silence threshold", default=0.25, minvalue=0.0, maxvalue=1.0),
        TextParameter("notes", "Notes", "Free text", default="none"),
    ]),
]
if VARIANT == "a":
    PARAMETERS[1][1].append(IntegerParameter("legacy", "Legacy", "Removed in variant b", default=3))
else:
    PARAMETERS[0][1].append(BooleanParameter("new_flag", "New flag", "Added in variant b", default=False))
