"""CLAM job wrapper of the G2P service: word lists in, one pronunciation dictionary out."""

import sys

from clamservices.arpabet import PhoneMappingError
from clamservices.dictionaries import format_dictionary
from clamservices.g2p import G2PError, LANGUAGES, pronounce
from clamservices.jobs import JobFailed, main
from clamservices.transcripts import TranscriptError, read_transcript


def convert(job):
    lang = job.param("language", "en-us")
    variants = int(job.param("variants", 1))
    if lang not in LANGUAGES:
        raise JobFailed(f"unsupported language {lang!r}")
    words = []
    for path, name in job.inputs("wordlist"):
        try:
            text = read_transcript(path)
        except TranscriptError as exc:
            raise JobFailed(f"{name}: {exc}") from None
        for line in text.splitlines():
            # One word per line; anything after the first column is ignored.
            fields = line.split()
            if fields and fields[0].lower() not in words:
                words.append(fields[0].lower())
    if not words:
        raise JobFailed("the word list is empty")

    job.report(f"Transcribing {len(words)} words ({LANGUAGES[lang][0]})")
    pronunciations, problems = {}, []
    for number, word in enumerate(words, start=1):
        try:
            pronunciations[word] = pronounce(word, lang, variants)
        except (G2PError, PhoneMappingError) as exc:
            problems.append(f"{word}: {exc}")
        if number % 100 == 0:
            job.report(f"Transcribed {number} of {len(words)} words", int(100 * number / len(words)))
    (job.outputdir / "g2p.dict").write_text(format_dictionary(pronunciations), encoding="utf-8")
    for problem in problems:
        job.report(f"No pronunciation: {problem}")
    if not pronunciations:
        raise JobFailed("no word could be transcribed: " + "; ".join(problems))
    job.report(f"Wrote {len(pronunciations)} pronunciation{'' if len(pronunciations) == 1 else 's'}", 100)


if __name__ == "__main__":
    sys.exit(main(convert, "g2p.log"))
