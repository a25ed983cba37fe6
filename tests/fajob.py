"""A CLAM project folder for the bundled forced-alignment job, and running the job in it as the service does.

The service starts `python -m clamservices.fa_job DATAFILE STATUSFILE OUTPUTDIR`
in the project folder (clamservices/config/common.py, through the light
dispatcher); this writes the `clam.xml` such a project holds (only what
clamservices.clamdata reads) so tests and benchmarks can run the very same
process without an HTTP server.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from tests.helpers import ROOT

TEMPLATES = {".wav": "audio", ".flac": "audio_flac", ".txt": "transcript", ".TextGrid": "transcript_textgrid",
             ".eaf": "transcript_eaf", ".dict": "dictionary"}


def make_job(folder, files, **parameters):
    """A project folder in `folder` with copies of `files` as inputs; `parameters` as the job's values."""
    folder = Path(folder)
    for sub in ("input", "output", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    for path in map(Path, files):
        shutil.copy(path, folder / "input" / path.name)
        entries.append(f'<file template="{TEMPLATES[path.suffix]}"><name>{escape(path.name)}</name></file>')
    kinds = {bool: "BooleanParameter", int: "IntegerParameter", float: "FloatParameter", str: "StringParameter"}
    params = "".join(f"<{kinds[type(v)]} id={quoteattr(k)} value={quoteattr(str(v))} />" for k, v in parameters.items())
    (folder / "clam.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8" ?>\n<clam version="3.2.14" id="equestria_fa" project="p" user="u">'
        f'<parameters><parametergroup name="all">{params}</parametergroup></parameters>'
        f'<input>{"".join(entries)}</input></clam>\n', encoding="utf-8"
    )
    return folder


def job_command(folder):
    """The command line the service runs in the project folder `folder`."""
    folder = Path(folder)
    return [sys.executable, "-m", "clamservices.fa_job", str(folder / "clam.xml"), str(folder / ".status"),
            str(folder / "output") + "/"]


def run_job(folder, timeout=120, env=None):
    """Run the job to its end in its own process, as the service does; the CompletedProcess."""
    return subprocess.run(job_command(folder), cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
