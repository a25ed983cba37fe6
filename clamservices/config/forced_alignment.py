"""CLAM service configuration: forced alignment of English speech with PocketSphinx."""

import clam
from clam.common.data import CLAMMetaData, InputTemplate, OutputTemplate, Profile
from clam.common.formats import BinaryDataFormat, JSONFormat, PlainTextFormat, WaveAudioFormat, XMLFormat
from clam.common.parameters import (
    BooleanParameter,
    ChoiceParameter,
    FloatParameter,
    IntegerParameter,
    StringParameter,
)

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
from clamservices.languages import LANGUAGES

REQUIRE_VERSION = "3.0"

CLAMDIR = clam.__path__[0]
SYSTEM_ID = "equestria_fa"
SYSTEM_NAME = "Equestria forced alignment (English)"
SYSTEM_DESCRIPTION = (
    "Aligns English speech with its orthographic transcript using PocketSphinx and the CMU "
    "pronouncing dictionary, and writes a Praat TextGrid with a word and a phone tier per recording. "
    "Pair each audio file with a transcript of the same name (recording1.wav + recording1.txt), or with a Praat "
    "TextGrid or ELAN file of the same name whose interval tiers hold the utterances (one tier per speaker): "
    "each utterance is aligned within its interval, and the result adds word and phone tiers per speaker tier. "
    "Words that no dictionary knows are listed in oov.txt; add them with an extra dictionary. "
    "report.json gives every recording its outcome: aligned, aligned with warnings, or not aligned and why. "
    "Dutch, German, French, Spanish and Italian are aligned approximately (parameter Language): gruut's "
    "pronunciations, their phones mapped to the English model's; their extra dictionary is in the language's IPA."
)
SYSTEM_AUTHOR = "Equestria"
SYSTEM_LICENSE = "Apache-2.0"
ROOT = data_root("forced_alignment")
USERS = users(SYSTEM_ID)
BASICAUTH = True
DIGESTAUTH = True
ADMINS = []
INTERFACEOPTIONS = ""
DISPATCHER_MAXTIME = MAX_JOB_SECONDS



class TextGridFormat(CLAMMetaData):
    """A Praat TextGrid in its text format. Praat saves one as UTF-16 with a byte order mark when it holds other
    than ASCII characters, so no encoding is declared (PlainTextFormat must declare one): CLAM stores the upload
    as it came, and clamservices.utterances decides the encoding from the byte order mark."""

    attributes = {}
    name = "Praat TextGrid (text format)"
    mimetype = "text/plain"


CUSTOM_FORMATS = [TextGridFormat]  # CLAM lists it in every response, so its clients know it

PROFILES = [
    Profile(
        InputTemplate(
            "audio", WaveAudioFormat, "Audio (WAV)", extension=".wav", multi=True, optional=True
        ),
        InputTemplate(
            "audio_flac", BinaryDataFormat, "Audio (FLAC)",
            extension=".flac", multi=True, optional=True,
        ),
        # Each transcript template optional: a recording comes with one of the three kinds (fa_job reports a recording
        # without any, or a transcript without its recording).
        InputTemplate("transcript", PlainTextFormat, "Transcript (UTF-8 text)", utf8_input(), extension=".txt", multi=True,
                      optional=True),
        InputTemplate(
            "transcript_textgrid", TextGridFormat, "Transcript (Praat TextGrid, a tier of utterances per speaker)",
            extension=".TextGrid", multi=True, optional=True,
        ),
        InputTemplate(
            "transcript_eaf", XMLFormat, "Transcript (ELAN file, a tier of utterances per speaker)",
            extension=".eaf", multi=True, optional=True,
        ),
        InputTemplate(
            "dictionary", PlainTextFormat,
            "Extra pronunciation dictionary (a word and its phones per line: ARPAbet in English, IPA in other languages)",
            utf8_input(),
            extension=".dict", unique=True, optional=True,
        ),
        OutputTemplate(
            "textgrid", PlainTextFormat, "TextGrid", utf8_output(), parent="audio",
            removeextensions=[".wav"], extension=".TextGrid", multi=True,
        ),
        OutputTemplate(
            "textgrid_flac", PlainTextFormat, "TextGrid", utf8_output(), parent="audio_flac",
            removeextensions=[".flac"], extension=".TextGrid", multi=True,
        ),
        OutputTemplate(
            "oov", PlainTextFormat, "Words missing from the dictionary (one per line)", utf8_output(),
            filename="oov.txt", unique=True,
        ),
        OutputTemplate(
            "report", JSONFormat, "Outcome of every recording (JSON)", filename="report.json", unique=True,
        ),
        OutputTemplate("log", PlainTextFormat, "Alignment log", utf8_output(), filename="alignment.log", unique=True),
    )
]

COMMAND = wrapper_command("clamservices.fa_job")

PARAMETERS = [
    (
        "Output",
        [
            BooleanParameter(
                "phone_tier", "Phone tier", "Also write a tier with the phones of each word.", default=True
            ),
            ChoiceParameter(
                "textgrid_format", "TextGrid format", "Praat's long (readable) or short text format.",
                choices=[("long", "Long text format"), ("short", "Short text format")], default="long",
            ),
            ChoiceParameter(
                "phone_alphabet", "Phone alphabet",
                "How the phone tier writes the phones of a language other than English (English phones are "
                "ARPAbet): IPA, or X-SAMPA (IPA in ASCII letters).",
                choices=[("ipa", "IPA"), ("xsampa", "X-SAMPA")], default="ipa",
            ),
            StringParameter(
                "silence_label", "Silence label",
                "Text of the intervals between words (empty: blank intervals).", default="", maxlength=20,
            ),
        ],
    ),
    (
        "Alignment",
        [
            ChoiceParameter(
                "language", "Language",
                "Language of the speech. English has its own acoustic model; the others are approximate: "
                "their words come from gruut's dictionary of the language (or the extra dictionary, in the "
                "language's IPA phones), whose phones are mapped to the closest English ones for the "
                "alignment; the phone tier shows the language's own phones.",
                choices=[(code, language.label + ("" if language.native else " (approximate)"))
                         for code, language in LANGUAGES.items()],
                default="en-us",
            ),
            FloatParameter(
                "chunk_seconds", "Phone pass chunk (seconds)",
                "Longest stretch of audio aligned at phone level in one piece; longer files are cut at "
                "pauses. Smaller values need less memory and CPU.",
                default=5.0, minvalue=5.0, maxvalue=120.0,
            ),
            IntegerParameter(
                "max_minutes", "Longest recording (minutes)",
                "Recordings longer than this are refused.", default=60, minvalue=1, maxvalue=240,
            ),
        ],
    ),
]
