"""A messy corpus with known content, generated for the tests and the benchmark of issue 12.

Real corpora hold a few bad files among the good ones: a transcript of another
recording, extra or missing words, silence, noise, a clip cut too short,
clipped or very quiet audio, numbers and typographic punctuation, clean
synthetic speech with digital silence (exact zeros) between words, a
pronunciation that does not fit, unpaired files. `build(folder)` writes such a
corpus and says, for each recording, what the bundled forced-alignment service
should make of it (the outcome classes and codes of report.json, see
/tmp/issue12-spec.md and clamservices/fa_job.py):

- "good": aligned (or aligned with warnings) with a TextGrid holding every word;
- "partial": the transcript matches only part of the audio; aligned with
  warnings, the words that are spoken still aligned (`spoken`), compared with
  the same audio aligned with its correct transcript (`reference`);
- "bad": not aligned, with the specific `code`.
- "tokens": numbers, abbreviations and typographic punctuation: aligned with
  the tokens read as words, or not aligned with exactly those tokens listed as
  unknown words (the service may do either; both tell the researcher what to do).

Nothing large is committed: speech comes from espeak-ng (converted to 16 kHz
by sox) and from the samples in tests/data, noise from a seeded generator, so
the corpus is the same on every run. Generating the test corpus takes about
2 seconds.
"""

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from tests.helpers import DATA

RATE = 16000
SAMPLES = ["austen-0870", "austen-0880", "austen-0890", "cards-001", "cards-002", "cards-003"]

# Sentences read by espeak-ng word by word and joined with exact zeros: the case that broke
# the aligner in 9 of 12 clean synthetic utterances (issue 12).
SENTENCES = [
    "the cat sat on the mat",
    "we will meet at noon tomorrow",
    "our garden has roses and tulips",
    "she sells sea shells by the sea shore",
    "a bird in the hand is worth two in the bush",
    "please close the window before you leave",
    "my brother plays the piano every evening",
    "the train was late again this morning",
    "open the door and let the dog out",
    "he reads a book before going to sleep",
    "they painted the fence bright green",
    "the river flows under the old stone bridge",
]

# Words of no dictionary, read by espeak-ng, each given a pronunciation that cannot fit it.
NONCE = {
    "equestria": None,  # tests/data/oov-equestria.wav, "the equestria pipeline aligns speech"
    "zorblaxian": "the zorblaxian fleet arrived at dawn",
    "quibbletrunk": "my quibbletrunk is full of old letters",
}
WRONG_PRONUNCIATION = " ".join(["M", "UW", "B", "AA", "Z", "IY", "SH", "OY"] * 4)  # 32 phones: longer than the word

TOKENS_TEXT = "In 1990 Dr. Smith paid 5 % … “quoted” — dashes"
# What the tokens case's transcript holds that a pronouncing dictionary may not: the service either
# reads them as words or lists (some of) them as unknown words, nothing else.
TOKENS_UNKNOWN = {"1990", "5", "%", "dr", "dr."}


@dataclass
class Case:
    stem: str  # the recording's name; audio is <stem>.wav, transcript <stem>.txt
    kind: str  # what is wrong with it, e.g. "extra_words"
    expect: str  # "good", "partial", "bad" or "tokens" (see the module docstring)
    code: str = ""  # for "bad": the code report.json must give
    audio: str | None = None  # file name in the corpus folder
    transcript: str | None = None
    words: list = field(default_factory=list)  # the transcript's words
    spoken: list = field(default_factory=list)  # partial: [(index in words, index in the reference's words)]
    reference: str = ""  # partial: stem of the same audio with its correct transcript (a good case)
    note: str = ""  # what the case is, in words


@dataclass
class Corpus:
    folder: Path
    cases: list
    dictionary: str | None = None  # file name of the extra dictionary, if any

    def case(self, stem):
        return next(c for c in self.cases if c.stem == stem)

    def of(self, *expect):
        return [c for c in self.cases if c.expect in expect]

    def files(self):
        """[(path, input template id)] of every file, as tests.clamservers.run_job takes them."""
        files = []
        for case in self.cases:
            if case.audio:
                files.append((self.folder / case.audio, "audio"))
            if case.transcript:
                files.append((self.folder / case.transcript, "transcript"))
        if self.dictionary:
            files.append((self.folder / self.dictionary, "dictionary"))
        return files

    def describe(self):
        return json.dumps([asdict(c) for c in self.cases], indent=1)


def tools_missing():
    """The programs the generator needs that are not installed (bin/ensure-system-packages installs them)."""
    return [name for name in ("espeak-ng", "sox") if shutil.which(name) is None]


# --- audio ----------------------------------------------------------------------------------------

def speak(text, speed=150):
    """espeak-ng's US English reading of `text`, as float32 samples at 16 kHz."""
    espeak = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", str(speed), "--stdout", text], check=True, capture_output=True
    )
    sox = subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", "-"],
        input=espeak.stdout, check=True, capture_output=True,
    )
    return np.frombuffer(sox.stdout, dtype="<i2").astype(np.float32) / 32768


def trim_zeros(samples):
    """Without the digital silence espeak-ng puts before and after speech."""
    nonzero = np.flatnonzero(np.abs(samples) > 1 / 32768)
    return samples[nonzero[0] : nonzero[-1] + 1] if len(nonzero) else samples[:0]


def speak_with_digital_silence(text, gaps):
    """`text` read word by word, the words joined by exact zeros of the given lengths (seconds), cycled."""
    pieces = []
    for number, word in enumerate(text.split()):
        gap = gaps[number % len(gaps)]
        pieces += [np.zeros(int(gap * RATE), dtype=np.float32), trim_zeros(speak(word))]
    pieces.append(np.zeros(int(gaps[0] * RATE), dtype=np.float32))
    return np.concatenate(pieces)


def read_sample(stem):
    samples, rate = soundfile.read(DATA / f"{stem}.wav", dtype="float32")
    assert rate == RATE, (stem, rate)
    return samples


def gain(samples, db):
    """Louder or quieter by `db`, hard-limited at full scale (as a recorder's input clips)."""
    return np.clip(samples * 10 ** (db / 20), -1.0, 32767 / 32768)


def noise(seconds, dbfs, seed, colour="white"):
    """Gaussian noise with an RMS of `dbfs`; "brown" is integrated (a low rumble, like wind or traffic)."""
    rng = np.random.default_rng(seed)
    samples = rng.standard_normal(int(seconds * RATE))
    if colour == "brown":
        samples = np.cumsum(samples)
        samples -= np.convolve(samples, np.ones(400) / 400, mode="same")  # no drift
    samples *= 10 ** (dbfs / 20) / np.sqrt(np.mean(samples**2))
    return np.clip(samples, -1.0, 32767 / 32768).astype(np.float32)


def write_wav(path, samples):
    soundfile.write(path, np.asarray(samples, dtype=np.float32), RATE, subtype="PCM_16")


# --- building ---------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cases = []

    def add(self, stem, kind, expect, *, audio=None, text=None, code="", **extra):
        """A case; `audio` is samples or a tests/data stem, `text` the transcript (None: no transcript)."""
        from clamservices.transcripts import words_of

        case = Case(stem=stem, kind=kind, expect=expect, code=code, **extra)
        if isinstance(audio, str):
            shutil.copy(DATA / f"{audio}.wav", self.folder / f"{stem}.wav")
            case.audio = f"{stem}.wav"
        elif audio is not None:
            write_wav(self.folder / f"{stem}.wav", audio)
            case.audio = f"{stem}.wav"
        if text is not None:
            (self.folder / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")
            case.transcript = f"{stem}.txt"
            case.words = [w.key for w in words_of(text)]
        self.cases.append(case)
        return case

    def good_sample(self, stem):
        return self.add(stem, "good", "good", audio=stem, text=_text(stem), note="a sample recording of tests/data")

    def partial(self, stem, kind, reference, edit):
        """The audio of the good case `reference` with its transcript edited: `edit` is (text, spoken)."""
        text, spoken = edit
        return self.add(stem, kind, "partial", audio=reference, text=text, reference=reference, spoken=spoken)

    def case(self, stem):
        return next(c for c in self.cases if c.stem == stem)


def _text(stem):
    return (DATA / f"{stem}.txt").read_text(encoding="utf-8").strip()


def _insert(stem, position, extra):
    """The transcript of `stem` with the words `extra` inserted before word `position`, and `spoken`."""
    words = _text(stem).split()
    added = len(extra.split())
    spoken = [(i if i < position else i + added, i) for i in range(len(words))]
    return " ".join(words[:position] + extra.split() + words[position:]), spoken


def _without(stem, start, count):
    """The transcript of `stem` without `count` words from word `start`, and `spoken`."""
    words = _text(stem).split()
    spoken = [(i if i < start else i - count, i) for i in range(len(words)) if not start <= i < start + count]
    return " ".join(words[:start] + words[start + count :]), spoken


def build(folder, *, size="test"):
    """Write the messy corpus into `folder` and return its Corpus.

    size="test": one or two of each case (for one job in the test suite, about
    40 s of audio); size="bench": the larger corpus of the benchmark (12
    digital-silence utterances, several of each bad kind).
    """
    bench = size == "bench"
    b = _Builder(folder)
    for stem in SAMPLES:
        b.good_sample(stem)

    # Clean synthetic speech with digital silence between words (gaps of 0.1 to 0.45 s, cycled).
    for number, sentence in enumerate(SENTENCES[: 12 if bench else 3], start=1):
        b.add(f"zeros-{number:02d}", "digital_silence", "good", text=sentence,
              audio=speak_with_digital_silence(sentence, [0.25, 0.1, 0.45, 0.15][number % 4 :] + [0.3]),
              note="espeak-ng words joined with exact zeros")

    # Level: clipped (+20 dB, hard-limited) and very quiet (-40 dB); both still intelligible speech.
    level = [("austen-0890", "cards-002")] + ([("austen-0870", "cards-003")] if bench else [])
    for n, (loud, quiet) in enumerate(level, start=1):
        b.add(f"clipped-{n}", "clipped", "good", audio=gain(read_sample(loud), 20), text=_text(loud),
              note=f"{loud} 20 dB louder, hard-limited at full scale")
        b.add(f"quiet-{n}", "quiet", "good", audio=gain(read_sample(quiet), -40), text=_text(quiet),
              note=f"{quiet} 40 dB quieter")

    # Partly matching transcripts: extra words (not spoken) and missing words (spoken, not written).
    b.partial("extra-1", "extra_words", "austen-0870", _insert("austen-0870", 22, "with great kindness every single day"))
    b.partial("missing-1", "missing_words", "austen-0890", _without("austen-0890", 3, 4))
    if bench:
        b.partial("extra-2", "extra_words", "austen-0890", _insert("austen-0890", 5, "very very"))
        b.partial("extra-3", "extra_words", "austen-0880", _insert("austen-0880", 0, "yes"))
        b.partial("missing-2", "missing_words", "austen-0870", _without("austen-0870", 10, 4))
        b.partial("missing-3", "missing_words", "austen-0880", _without("austen-0880", 0, 2))

    # Transcript of another recording (no word in common).
    b.add("swapped-1", "other_transcript", "bad", code="no_match", audio="austen-0880", text=_text("austen-0870"),
          note="austen-0880 with the transcript of austen-0870")
    if bench:
        b.add("swapped-2", "other_transcript", "bad", code="no_match", audio="austen-0870", text=_text("austen-0880"),
              note="austen-0870 with the transcript of austen-0880")
        b.add("swapped-3", "other_transcript", "bad", code="no_match", audio="cards-001",
              text=SENTENCES[0], note="cards-001 with a sentence of the same length")

    # Silence only: digital zeros (and, in the benchmark, a faint room tone at -70 dBFS).
    b.add("silence-1", "silence", "bad", code="silent", audio=np.zeros(2 * RATE), text="ten of clubs",
          note="2 s of exact zeros")
    if bench:
        b.add("silence-2", "silence", "bad", code="silent", audio=np.zeros(5 * RATE), text=_text("austen-0880"),
              note="5 s of exact zeros")
        b.add("silence-3", "silence", "bad", code="silent", audio=noise(3, -70, seed=3), text="seven of clubs",
              note="room tone: 3 s of white noise at -70 dBFS")

    # Noise only, loud enough to be heard.
    b.add("noise-1", "noise", "bad", code="no_match", audio=noise(3, -20, seed=1), text="seven of clubs",
          note="3 s of white noise at -20 dBFS")
    if bench:
        b.add("noise-2", "noise", "bad", code="no_match", audio=noise(4, -25, seed=2, colour="brown"),
              text=_text("austen-0880"), note="4 s of brown noise at -25 dBFS")
        b.add("noise-3", "noise", "bad", code="no_match", audio=noise(2, -30, seed=4), text="four queen of clubs",
              note="2 s of white noise at -30 dBFS")

    # A clip cut far too short for its transcript.
    clips = [("cards-001", 0.2)] + ([("austen-0880", 0.2), ("cards-002", 0.1)] if bench else [])
    for n, (stem, seconds) in enumerate(clips, start=1):
        start = int(0.3 * RATE) if stem.startswith("austen") else 0
        b.add(f"short-{n}", "short", "bad", code="too_short", audio=read_sample(stem)[start : start + int(seconds * RATE)],
              text=_text(stem), note=f"{seconds} s of {stem}")

    # Numbers, abbreviations and typographic punctuation, read by espeak-ng as a person would.
    b.add("tokens-1", "tokens", "tokens", audio=speak(TOKENS_TEXT), text=TOKENS_TEXT,
          note="numbers, an abbreviation, a percent sign, an ellipsis, curly quotes and a dash")

    # A pronunciation in the extra dictionary that does not fit (as a researcher might type in the review).
    nonce = ["equestria"] + (["zorblaxian", "quibbletrunk"] if bench else [])
    for n, word in enumerate(nonce, start=1):
        if NONCE[word] is None:
            b.add(f"pronunciation-{n}", "pronunciation", "bad", code="pronunciation", audio="oov-equestria",
                  text=_text("oov-equestria"), note=f"the extra dictionary gives {word} 32 wrong phones")
        else:
            b.add(f"pronunciation-{n}", "pronunciation", "bad", code="pronunciation", audio=speak(NONCE[word]),
                  text=NONCE[word], note=f"the extra dictionary gives {word} 32 wrong phones")
    (b.folder / "extra.dict").write_text("".join(f"{w} {WRONG_PRONUNCIATION}\n" for w in nonce), encoding="utf-8")

    # Unpaired files.
    for n in range(1, 3 if bench else 2):
        b.add(f"lonely-audio-{n}", "audio_without_transcript", "bad", code="no_transcript",
              audio=SAMPLES[n + 2], note=f"{SAMPLES[n + 2]}.wav without its .txt")
        b.add(f"lonely-text-{n}", "transcript_without_audio", "bad", code="no_audio",
              text=_text(SAMPLES[n - 1]), note=f"{SAMPLES[n - 1]}.txt without its .wav")

    corpus = Corpus(b.folder, b.cases, dictionary="extra.dict")
    (b.folder / "cases.json").write_text(corpus.describe(), encoding="utf-8")
    return corpus


# --- reading the service's results -----------------------------------------------------------------

def entries_by_stem(corpus, report):
    """{case stem: [report.json entries]}; an entry belongs to the case whose audio (or, without audio,
    transcript) it names."""
    found = {case.stem: [] for case in corpus.cases}
    for entry in report["recordings"]:
        for case in corpus.cases:
            if (case.audio and entry.get("audio") == case.audio) or (
                not case.audio and entry.get("audio") is None and entry.get("transcript") == case.transcript
            ):
                found[case.stem].append(entry)
    return found


def word_intervals(path):
    """The intervals of a TextGrid's word tier, silences included."""
    from praatio import textgrid

    return textgrid.openTextgrid(str(path), includeEmptyIntervals=True).getTier("words").entries


def in_order(expected, intervals):
    """The intervals that carry the `expected` words, found in order (greedily), or None if one is missing."""
    found, position = [], 0
    for word in expected:
        for index in range(position, len(intervals)):
            if intervals[index].label.lower() == word:
                found.append(intervals[index])
                position = index + 1
                break
        else:
            return None
    return found


def boundary_differences(case, found, reference):
    """Milliseconds between the starts and ends of the spoken words of a partial case (`found`, the
    intervals of case.spoken in order) and the same words aligned with the correct transcript
    (`reference`, the intervals of every word of the reference case)."""
    differences = []
    for interval, (_, k) in zip(found, case.spoken):
        differences += [abs(interval.start - reference[k].start) * 1000, abs(interval.end - reference[k].end) * 1000]
    return differences
