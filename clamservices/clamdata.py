"""CLAM's job data file (`clam.xml`), read without importing CLAM.

`clam.common.data.getclamdata` imports CLAM's Flask web layer (0.4 s per
job here, see docs/performance.md "CLAM layer"); a job only needs its
parameter values and input files, which this reads from the same file with
lxml (no entities, no DTD, no network, like every XML Equestria reads).
"""

import os
from pathlib import Path

from lxml import etree

_TRUE = {"1", "true", "yes"}


def _convert(tag, text):
    if text is None:
        return None
    if tag == "BooleanParameter":
        return text.strip().lower() in _TRUE
    if tag == "IntegerParameter":
        return int(text)
    if tag == "FloatParameter":
        return float(text)
    return text


class ClamData:
    def __init__(self, path):
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.parse(str(path), parser).getroot()
        self.project = Path(os.path.dirname(os.path.abspath(path)))
        self.parameters = {}
        for element in root.iterfind("parameters/parametergroup/*"):
            if not isinstance(element.tag, str) or not element.get("id"):
                continue
            if element.tag == "ChoiceParameter":
                selected = [c.get("id") for c in element.iterfind("choice") if c.get("selected") == "1"]
                value = selected[0] if selected else element.get("default")
            else:
                value = element.get("value", element.get("default"))
            self.parameters[element.get("id")] = _convert(element.tag, value)
        self.files = [(f.get("template"), f.findtext("name")) for f in root.iterfind("input/file")]

    def get(self, name, default=None):
        value = self.parameters.get(name)
        return default if value is None else value

    def inputfiles(self, template):
        """Paths of the input files of this template, as CLAM's inputfiles() gives them."""
        return [self.project / "input" / name for t, name in self.files if t == template and name]
