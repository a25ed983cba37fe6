"""Two speakers taking turns, with their utterances' times known: material for tiered transcripts (issue 17).

espeak-ng reads each utterance in one of two voices (speaker A en-us, speaker B en-us+f3); the
utterances are placed at known onsets with pauses between them under a light seeded noise (digital
silence makes PocketSphinx fail, see CLAM-NOTES.md), so the same recording comes out on every run.
Transcripts are written as a Praat TextGrid (praatio, in UTF-8 or as Praat saves non-ASCII text:
UTF-16 with a byte order mark) or as an ELAN file (pympi).
"""

import io
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

RATE = 16000
VOICES = {"speaker A": "en-us", "speaker B": "en-us+f3"}
NOISE = 0.01  # −40 dBFS, as tests/long_speech.py
PAUSE_SECONDS = 0.6
PADDING_SECONDS = 0.4  # an interval starts this much before its speech and ends this much after (they overlap)
TURNS = [
    ("speaker A", "the farmer painted a green boat"),
    ("speaker B", "a young teacher found seven letters"),
    ("speaker A", "my neighbour opened the kitchen door"),
    ("speaker B", "the baker carried the heavy table"),
]


@dataclass
class Turn:
    tier: str
    text: str
    onset: float  # seconds: where its speech starts
    offset: float  # where it ends

    @property
    def interval(self):
        return (round(max(0.0, self.onset - PADDING_SECONDS), 3), round(self.offset + PADDING_SECONDS, 3))


def speak(text, voice):
    """espeak-ng's reading of `text` in `voice`, float32 at 16 kHz, without its leading and trailing zeros."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "--stdout", text], check=True,
                         capture_output=True, timeout=60).stdout
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    audio = soxr.resample(audio, rate, RATE, quality="HQ").astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1]


def dialogue(path, turns=TURNS, lead=0.8, tail=0.8, seed=0):
    """Write the turns, one after the other, as a WAV at `path`; returns [Turn] with their times."""
    pieces, placed, position = [np.zeros(int(lead * RATE), dtype=np.float32)], [], int(lead * RATE)
    for number, (tier, text) in enumerate(turns):
        speech = speak(text, VOICES[tier])
        placed.append(Turn(tier, text, position / RATE, (position + len(speech)) / RATE))
        gap = np.zeros(int((PAUSE_SECONDS if number < len(turns) - 1 else tail) * RATE), dtype=np.float32)
        pieces += [speech, gap]
        position += len(speech) + len(gap)
    audio = np.concatenate(pieces)
    audio += np.random.default_rng(seed).normal(0.0, NOISE, len(audio)).astype(np.float32)
    soundfile.write(path, np.clip(audio, -1, 1), RATE, subtype="PCM_16")
    return placed


def tiers_of(turns, extra=()):
    """{tier: [(start, end, label)]} of the turns' intervals, with `extra` (tier, start, end, label) added."""
    tiers = {tier: [] for tier in VOICES}
    for turn in turns:
        tiers[turn.tier].append((*turn.interval, turn.text))
    for tier, start, end, label in extra:
        tiers.setdefault(tier, []).append((start, end, label))
    return {tier: sorted(spans) for tier, spans in tiers.items()}


def write_textgrid(path, tiers, duration, encoding="utf-8"):
    """A Praat TextGrid (long text format) with an interval tier per entry of `tiers`; gaps as empty intervals."""
    from praatio import textgrid

    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    for name, spans in tiers.items():
        grid.addTier(textgrid.IntervalTier(name, spans, 0.0, duration))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    if encoding != "utf-8":
        path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))  # "utf-16": with a BOM, as Praat writes
    return path


def write_eaf(path, tiers, media):
    """An ELAN file with a top-level tier per entry of `tiers`, linked to `media`."""
    from pympi.Elan import Eaf

    eaf = Eaf(author="equestria tests")
    eaf.remove_tier("default")
    eaf.add_linked_file(media.name, mimetype="audio/x-wav")
    for name, spans in tiers.items():
        eaf.add_tier(name)
        for start, end, label in spans:
            eaf.add_annotation(name, int(round(start * 1000)), int(round(end * 1000)), label)
    eaf.to_file(str(path))
    return path


def duration_of(path):
    info = soundfile.info(str(path))
    return info.frames / info.samplerate
