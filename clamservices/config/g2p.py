"""CLAM service configuration: grapheme-to-phoneme conversion with gruut (English, Dutch, German, French, ...)."""

import clam
from clam.common.data import InputTemplate, OutputTemplate, Profile
from clam.common.formats import PlainTextFormat
from clam.common.parameters import ChoiceParameter, IntegerParameter

from clamservices.config.common import (
    DEBUG,  # noqa: F401  (CLAM reads it from this module)
    DISPATCHER,  # noqa: F401
    MAX_JOB_SECONDS,
    data_root,
    users,
    utf8_input,
    utf8_output,
    wrapper_command,
)
from clamservices.g2p import LANGUAGES

REQUIRE_VERSION = "3.0"

CLAMDIR = clam.__path__[0]
SYSTEM_ID = "equestria_g2p"
SYSTEM_NAME = "Equestria grapheme-to-phoneme (English, Dutch)"
SYSTEM_DESCRIPTION = (
    "Proposes pronunciations for a list of words (one per line) with gruut and writes them as a "
    "pronunciation dictionary: ARPAbet for English, as the forced-alignment service uses, and IPA (without stress marks) "
    "for the other languages, as its language parameter takes them."
)
SYSTEM_AUTHOR = "Equestria"
SYSTEM_LICENSE = "Apache-2.0"
ROOT = data_root("g2p")
USERS = users(SYSTEM_ID)
BASICAUTH = True
DIGESTAUTH = True
ADMINS = []
INTERFACEOPTIONS = ""
DISPATCHER_MAXTIME = MAX_JOB_SECONDS

PROFILES = [
    Profile(
        InputTemplate("wordlist", PlainTextFormat, "Word list (one word per line)", utf8_input(), extension=".txt", multi=True),
        OutputTemplate("dictionary", PlainTextFormat, "Pronunciation dictionary", utf8_output(), filename="g2p.dict", unique=True),
        OutputTemplate("log", PlainTextFormat, "G2P log", utf8_output(), filename="g2p.log", unique=True),
    )
]

COMMAND = wrapper_command("clamservices.g2p_job")

PARAMETERS = [
    (
        "G2P",
        [
            ChoiceParameter(
                "language", "Language", "Language of the words.",
                choices=[(code, label) for code, (label, _) in LANGUAGES.items()], default="en-us",
            ),
            IntegerParameter(
                "variants", "Pronunciation variants",
                "At most this many pronunciations per word, where the lexicon knows alternatives.",
                default=1, minvalue=1, maxvalue=5,
            ),
        ],
    )
]
