"""A CLAM service with converters on its input templates, for the tests of conversions at upload (issue 19).

CLAM's own `test` demo declares the same three converters, but its wrapper cannot run with this `clam` (it asks
for clam.common.formats.TokenizedTextFormat, which 3.2 no longer has, after sleeping 20 s). This one's job copies
every input it received to its outputs, so a test reads what the service made of a file: the UTF-8 text a
Latin-1 one was converted into. The second profile takes a two-part extension (`.folia.xml`, as CLAM's
constrainttest demo), to check the names files are sent under. With $CONVERTING_WITHOUT (ids, separated by
commas) it does not declare those converters: the same service once it dropped one, imported again.
"""

import os
import sys

import clam
from clam.common.converters import CharEncodingConverter, MSWordConverter, PDFtoTextConverter
from clam.common.data import InputTemplate, OutputTemplate, Profile
from clam.common.formats import PlainTextFormat, XMLFormat

from clamservices.config.common import DEBUG, data_root, users, utf8_input, utf8_output  # noqa: F401

REQUIRE_VERSION = "3.0"
CLAMDIR = clam.__path__[0]
SYSTEM_ID = "converting"
SYSTEM_NAME = "Converting test service"
SYSTEM_DESCRIPTION = "Converts its inputs on upload and copies them to its outputs."
ROOT = data_root("converting")
USERS = users(SYSTEM_ID)
BASICAUTH = True
ADMINS = []
INTERFACEOPTIONS = ""
DROPPED = set(os.environ.get("CONVERTING_WITHOUT", "").split(","))
CONVERTERS = [converter for converter in (
    CharEncodingConverter("latin1", label="Convert from Latin-1", charset="iso-8859-1"),
    PDFtoTextConverter("pdfconv", label="Convert from PDF Document"),
    MSWordConverter("docconv", label="Convert from MS Word Document"),
) if converter.id not in DROPPED]
PROFILES = [
    Profile(
        InputTemplate(
            "textinput", PlainTextFormat, "Input text document", utf8_input(), *CONVERTERS, extension=".txt",
            multi=True,
        ),
        OutputTemplate("copy", PlainTextFormat, "Copy of a text", utf8_output(), extension=".txt", parent="textinput",
                       multi=True),
        OutputTemplate("received", PlainTextFormat, "Files received", utf8_output(), filename="received.list",
                       unique=True),
    ),
    Profile(
        InputTemplate("foliainput", XMLFormat, "FoLiA document", extension=".folia.xml", multi=True),
        OutputTemplate("foliacopy", XMLFormat, "Copy of a FoLiA document", extension=".folia.xml",
                       parent="foliainput", multi=True),
        OutputTemplate("received", PlainTextFormat, "Files received", utf8_output(), filename="received.list",
                       unique=True),
    ),
]
COMMAND = f"{sys.executable} -m tests.clamconfigs.converting_job $DATAFILE $STATUSFILE $INPUTDIRECTORY $OUTPUTDIRECTORY"
PARAMETERS = []
