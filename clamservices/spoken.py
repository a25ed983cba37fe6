"""How numbers and symbols in a transcript are read aloud, so they can be aligned.

A transcript may say "1990", "5%", "3rd" or "&" where the speaker said words.
The aligner's dictionary has the words, not the digits, so such a token gets
the pronunciation of what it is read as ("nineteen ninety"), and the TextGrid
still shows the token as written. English readings, by num2words (a gruut
dependency, so already installed with the G2P service); a reading the speaker
did not use ("one thousand nine hundred and ninety") is a warning away.
"""

import re


SYMBOLS = {"&": "and", "%": "percent", "+": "plus", "=": "equals", "@": "at", "#": "number"}
CURRENCIES = {"$": "dollars", "€": "euros", "£": "pounds"}
_NUMBER = re.compile(
    r"^(?P<currency>[$€£])?(?P<number>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?(?P<suffix>%|st|nd|rd|th)?$"
)


def _words(text):
    return [w for w in re.split(r"[\s,-]+", text.lower()) if w]


def spoken_form(token):
    """The words `token` (a transcript word, lower case) is read as, or None when it is no number or symbol."""
    if token in SYMBOLS:
        return [SYMBOLS[token]]
    match = _NUMBER.match(token)
    if match is None:
        return None
    # Imported here: it takes ~0.1 s, and most transcripts have no numbers (every job pays for its imports).
    from num2words import num2words

    digits = match["number"].replace(",", "")
    number = int(digits)
    suffix = match["suffix"]
    if match["fraction"]:
        words = _words(num2words(float(digits + match["fraction"])))
    elif suffix in ("st", "nd", "rd", "th"):
        words = _words(num2words(number, to="ordinal"))
    elif "," not in match["number"] and len(digits) == 4 and 1100 <= number <= 2099 and not match["currency"] \
            and suffix != "%":
        words = _words(num2words(number, to="year"))  # "1990" is a year far more often than a count
    else:
        words = _words(num2words(number))
    if suffix == "%":
        words.append("percent")
    if match["currency"]:
        words.append(CURRENCIES[match["currency"]])
    return words
