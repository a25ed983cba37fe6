"""Speech with known word boundaries, for the accuracy benchmark and tests of issue 16.

Each word is synthesised SEPARATELY by espeak-ng (a voice and a speed per
recording), trimmed to its speech, and the words are joined with known gaps
(0, 50, 150 or 400 ms; 0 = the words abut), with 300 ms of silence before the
first word and after the last, optionally under white noise at 30 dB SNR.
Because every word starts at a sample we placed, the word start and end times
of the concatenation are exact ground truth.

Trimming: a word's speech is the stretch from the first to the last 5 ms frame
whose RMS is within TRIM_DB (30 dB) of the word's loudest frame, cut to the
sample inside those frames; espeak-ng's own leading/trailing silence and the
faint tails of its envelope fall outside. 30 dB because the noisy files' noise
lies 30 dB below the speech: a word's edge is where it can still be heard in
them, the same in the clean files. (With 40 dB the en-us+f3 voice's breathy
tails, about 100 ms at 33–44 dB below the word's peak, counted as speech though
buried in the noise, and every aligner "missed" them.)

Phones: espeak-ng gives no phone timings on the command line (`--pho` needs
mbrola voices, which are not installed), and phones synthesised one by one are
not the phones of a word (no coarticulation), so there is no honest phone
ground truth here: the benchmark reports word boundaries and, for phones, how
the phone tier agrees with the word tier (see tests/benchmarks/alignment_accuracy.py).

Words come from a list of common English words kept where pocketsphinx's
cmudict-en-us.dict knows them (espeak-ng and the dictionary agree on common
words far more often than on rare names, which would test the letter-to-sound
rules of espeak-ng rather than the aligner). Sentences have 8–20 words; every
choice comes from a seeded generator, so the material is the same on every run.
"""

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

RATE = 16000
GAPS_MS = (0, 50, 150, 400)
EDGE_SECONDS = 0.3  # silence before the first word and after the last
TRIM_DB = 30.0
TRIM_FRAME = RATE // 200  # 5 ms
NOISE_SNR_DB = 30.0

# Development and held-out sets: other voices, speeds and seeds (the held-out voices are never tuned on).
DEV_VOICES = ("en-us", "en")
HELD_OUT_VOICES = ("en-gb-x-rp", "en-us+f3")
DEV_SPEEDS = (130, 160, 190)
HELD_OUT_SPEEDS = (140, 175)

COMMON_WORDS = """
the of and to in is was he for it with as his on be at by had are but from or have an they which one you
were her all she there would their we him been has when who will more no if out so said what up its about
into than them can only other new some could time these two may then do first any my now such like our
over man me even most made after also did many before must through back years where much your way well
down should because each just those people how too little state good very make world still own see men
work long get here between both life being under never day same another know while last might us great
old year off come since against go came right used take three small house water room found mother father
garden window morning evening river bridge stone green bright table letter music paper story school city
country family friend dinner money market street light night place point road sound voice word answer
animal apple basket bottle candle doctor engine forest island kitchen ladder mountain number orange pencil
rabbit summer winter teacher travel under valley yellow quiet simple strong gentle careful happy early
""".split()


@dataclass
class Recording:
    """One generated recording: its samples (float32, 16 kHz) and each word's true (word, start, end) in seconds."""

    name: str
    voice: str
    speed: int
    noisy: bool
    samples: np.ndarray
    words: list  # [(word, start, end)]
    gaps: list  # gaps[i] in ms between words[i] and words[i + 1]

    @property
    def text(self):
        return " ".join(w for w, _, _ in self.words)

    def write(self, folder):
        """<name>.wav (16-bit) and <name>.txt in `folder`; returns the WAV's path."""
        folder = Path(folder)
        wav = folder / f"{self.name}.wav"
        soundfile.write(wav, self.samples, RATE, subtype="PCM_16")
        (folder / f"{self.name}.txt").write_text(self.text + "\n", encoding="utf-8")
        return wav

    def boundaries(self):
        """[(time, gap class)] of every word start and end: the gap next to it in ms, or "edge"."""
        result = []
        for i, (_, start, end) in enumerate(self.words):
            result.append((start, "edge" if i == 0 else self.gaps[i - 1]))
            result.append((end, "edge" if i == len(self.words) - 1 else self.gaps[i]))
        return result


def tools_missing():
    return [name for name in ("espeak-ng", "sox") if shutil.which(name) is None]


@functools.lru_cache(maxsize=1)
def vocabulary():
    """COMMON_WORDS that cmudict-en-us.dict knows, in a fixed order."""
    import pocketsphinx

    known = set()
    with open(Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict", encoding="utf-8") as handle:
        for line in handle:
            known.add(line.split(" ", 1)[0])
    return tuple(dict.fromkeys(w for w in COMMON_WORDS if w in known))


@functools.lru_cache(maxsize=4096)
def synthesise(word, voice, speed):
    """espeak-ng's reading of one word, trimmed to its speech (see the module docstring), float32 at 16 kHz."""
    espeak = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", word],
                            check=True, capture_output=True)
    sox = subprocess.run(
        # -D: no dither, which sox adds with a random seed; with it the material differed from run to run.
        ["sox", "-D", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", "-"],
        input=espeak.stdout, check=True, capture_output=True,
    )
    samples = np.frombuffer(sox.stdout, dtype="<i2").astype(np.float32) / 32768
    return trim(samples)


def trim(samples):
    """`samples` from the first to the last 5 ms frame within TRIM_DB of the loudest frame, cut in those frames
    at the first and last sample as loud as that threshold: to the sample, so that the truth does not fall on
    a 5 ms grid that an aligner's frames could share by chance."""
    frames = samples[: len(samples) // TRIM_FRAME * TRIM_FRAME].reshape(-1, TRIM_FRAME)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    threshold = rms.max() * 10 ** (-TRIM_DB / 20)
    loud = np.flatnonzero(rms >= threshold)
    first, last = frames[loud[0]], frames[loud[-1]]
    start = loud[0] * TRIM_FRAME + int(np.argmax(np.abs(first) >= threshold))
    end = loud[-1] * TRIM_FRAME + TRIM_FRAME - int(np.argmax(np.abs(last[::-1]) >= threshold))
    return samples[start:end].copy()


def recording(name, seed, voice, speed, noisy):
    """A sentence of 8–20 words spoken in `voice` at `speed` words a minute, words joined with random gaps."""
    rng = np.random.default_rng(seed)
    words = list(vocabulary())
    chosen = [words[i] for i in rng.choice(len(words), size=int(rng.integers(8, 21)), replace=True)]
    gaps = [int(g) for g in rng.choice(GAPS_MS, size=len(chosen) - 1)]
    edge = np.zeros(int(EDGE_SECONDS * RATE), dtype=np.float32)
    pieces, truth, position = [edge], [], len(edge)
    for i, word in enumerate(chosen):
        speech = synthesise(word, voice, speed)
        truth.append((word, position / RATE, (position + len(speech)) / RATE))
        pieces.append(speech)
        position += len(speech)
        if i < len(gaps):
            gap = np.zeros(gaps[i] * RATE // 1000, dtype=np.float32)
            pieces.append(gap)
            position += len(gap)
    pieces.append(edge)
    samples = np.concatenate(pieces)
    if noisy:
        speech_rms = np.sqrt(np.mean(np.concatenate([synthesise(w, voice, speed) for w in chosen]) ** 2))
        level = speech_rms * 10 ** (-NOISE_SNR_DB / 20)
        samples = samples + np.random.default_rng([seed, 1]).standard_normal(len(samples)).astype(np.float32) * level
    samples = np.clip(samples, -1.0, 32767 / 32768).astype(np.float32)
    return Recording(name, voice, speed, noisy, samples, truth, gaps)


def material(which, count):
    """`count` recordings of the "dev" or "held-out" set: voices and speeds cycled, half of them noisy."""
    voices, speeds, base = {"dev": (DEV_VOICES, DEV_SPEEDS, 1000),
                            "held-out": (HELD_OUT_VOICES, HELD_OUT_SPEEDS, 5000)}[which]
    result = []
    for n in range(count):
        voice, speed, noisy = voices[n % len(voices)], speeds[n % len(speeds)], n % 4 >= 2
        result.append(recording(f"{which}-{n:02d}", base + n, voice, speed, noisy))
    return result
