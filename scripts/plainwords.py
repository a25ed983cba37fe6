"""Telling messages for people from technical text (tracebacks, exception names, server paths).

Researchers must never see a traceback, an exception class name or a path on our servers
(RELIABILITY.md case 42); staff read those in the Process admin. Services and logs mix both
kinds of text, so anything that looks technical is replaced by a generic message.
"""

import re

GENERIC_FAILURE = (
    "the service stopped with an internal error; an administrator can see the details in the process log"
)

_TECHNICAL = re.compile(
    r"Traceback \(most recent call last\)"
    r"|^\s*File \"[^\"]+\", line \d+"  # a traceback frame
    r"|\b[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt)\b"  # TypeError, ValueError, KeyboardInterrupt …
    r"|(?<![\w.~:/])/(?:[\w.@+-]+/)+[\w.@+-]*"  # /srv/app/x.py, /tmp/clam/… (not "and/or", not URLs)
    r"|\b[A-Za-z]:\\[^\s]*"  # C:\Users\…
    r"|\.py\b|site-packages",
    re.MULTILINE,
)


def looks_technical(text):
    """Whether `text` has anything a researcher must not see (see the module docstring)."""
    return bool(text) and _TECHNICAL.search(text) is not None


def plain(text, fallback=GENERIC_FAILURE):
    """`text` if it is fit for a researcher, else `fallback`."""
    return fallback if looks_technical(text) else text
