"""Forced alignment with PocketSphinx: word and phone intervals for one recording.

Real recordings are messy, so `Aligner.align` tries what mature aligners do
before it gives up on a file:

1. a tiny noise floor (−60 dBFS) is added first: digital silence (exact zeros,
   common in synthesised or edited audio) makes PocketSphinx's search fail;
2. the strict word pass (every word of the transcript, in order);
3. the same with much wider beams (as MFA retries with a larger beam);
4. a tolerant pass: a grammar in which every word may be skipped and spoken
   noise may fill the gaps, so the words that are spoken are aligned and the
   others are reported as not found (as Gentle does). Too few words found means
   the transcript does not match the recording.

Memory of PocketSphinx's phone pass grows with the length of what it aligns
(a 5-minute file in one piece needs gigabytes), so after the word pass the
phone pass runs per chunk of at most `chunk_seconds`, cut in the middle of
silences that the word pass found. Words keep the edges the word pass found;
the phone pass, with decoders that evaluate the acoustic model more cheaply
(PHONE_PASS_OPTIONS), only places their phones inside them. A chunk whose phone
pass fails (also in two parts cut at its longest pause) keeps its word
alignment, with a warning, instead of losing the file. Word edges next to pauses are then moved to the
pause's edges in the signal (clamservices/boundaries.py). One decoder is
reused for every chunk and every file of a job.

Recordings longer than `piece_seconds` are first cut into pieces, each aligned
as above (clamservices.longaudio): the word pass over a whole recording costs
about the square of its length.
"""

import bisect
import dataclasses
import logging
import math
import os
import pickle
import re
import resource
import select
import signal
import statistics
import time
from dataclasses import dataclass, field

import numpy as np
from pocketsphinx import Decoder

from clamservices import confidence as goodness
from clamservices import longaudio, repair
from clamservices.audio import CLIP_LEVEL, SAMPLE_RATE
from clamservices.boundaries import fit_phones, refine_boundaries
from clamservices.dictionaries import Entry
from clamservices.jobserver import die_with_parent
from clamservices.lexicon import Lexicon

log = logging.getLogger(__name__)

FRAME_RATE = 100  # PocketSphinx frames per second
SAMPLES_PER_FRAME = SAMPLE_RATE // FRAME_RATE
MIN_CUT_SILENCE_FRAMES = 15  # only cut chunks at pauses of 150 ms or more
# PocketSphinx's phone pass sometimes fails on audio that starts or ends right
# at speech ("Alignment failed in frame N"); padding with silence fixes that.
PHONE_PASS_PADDING_SECONDS = (0.0, 0.1, 0.25, 0.5)
# Measured on 12 clean synthetic utterances with digital silence between words:
# 6 of 12 aligned as they were, 12 of 12 with a floor at −70, −60 or −50 dBFS,
# 11 of 12 with ±1 LSB dither. −60 dBFS is far below any microphone's own noise.
NOISE_FLOOR_DBFS = -60.0
NORMAL_PEAK_DBFS = -6.0  # quieter recordings are amplified to this peak before the noise floor is added
SILENT_PEAK_DBFS = -55.0  # nothing louder than this: there is no speech to align
# Speech outside the aligned words, at least, for a warning: measured on espeak-ng speech in a quiet room's
# noise and the recordings in tests/data, a fully transcribed recording has at most 0.1 s.
MIN_UNTRANSCRIBED_SPEECH = 2.0
# A stretch of words said at fewer than STRETCHED_PHONE_RATE phones a second of speech (VAD speech, so that
# pauses do not count), over at least MIN_STRETCHED_SPEECH s of speech, is words smeared over a passage the
# transcript leaves out. Measured: correctly transcribed espeak-ng recordings of 50–126 s average 11.7–11.9
# phones a second and have no such stretch even at 7; tests/data's recordings and espeak-ng -s 100 with 1–4 s
# pauses have none at 5; six sentences (20 s) left out of a 126 s recording gave one stretch of 19 s at under 2.
STRETCHED_PHONE_RATE = 2.0
MIN_STRETCHED_SPEECH = 3.0
CLIPPED_SHARE = 0.001  # more samples than this at full scale: warn that the audio is clipped
BLOCK_SAMPLES = 1 << 20
MIN_FRAMES_PER_PHONE = 3  # PocketSphinx's models have three states per phone, one frame each at least
WIDE_BEAMS = {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80, "lpbeam": 1e-60}
# A decoder without the lattice's best-path search, for the phone pass only: the phone pass follows
# the strict pass's hypothesis, and the best path's (same words, same boundaries) made it fail
# ("Alignment failed in frame N") on most espeak-ng sentences; measured on 61 s of them: phone
# tier for 2 of 3 chunks → 3 of 3, CPU 24.9 → 4.1 s. Its word pass scores differ, so the word pass
# keeps the usual decoder.
FLAT = "flat"
# The phone pass decodes each chunk twice (the strict pass again, because PocketSphinx's state
# alignment only follows a hypothesis of the same audio, then the state alignment), and most of that
# is the acoustic model's Gaussians, so its decoders evaluate them more cheaply: the full codebooks
# every second frame (ds) and the 2 best Gaussians instead of 4 (topn). Words keep the edges of the
# word pass (full model), so only the phones inside them come from these decoders. Measured on 3 min
# of LibriVox speech: CPU 12.6 → 8.6 s; phone boundaries 98 % within 20 ms of the full model's
# (median 0 ms); ds 3 gave 93 %, ds 4 lost phones. The phone pass aligns the pronunciations the
# word pass chose ("the(2)"), so alternates are off.
PHONE = "phone"
PHONE_PASS_OPTIONS = {"ds": 2, "topn": 2, "fsgusealtpron": False}
# The state alignment never forgets a Gaussian codebook it has needed within an utterance, so its
# cost per frame grows with the chunk: 3 min of LibriVox speech took 8.7 s of CPU in chunks of 20 s,
# 8.1 s in chunks of 5 s (phones as close to the full model's).
PHONE_CHUNK_SECONDS = 5.0
# The tolerant pass: a transcript word may be skipped with this probability,
# and spoken noise ([SPEECH]) may fill any gap.
SKIP_PROBABILITY = 0.01
GARBAGE_PROBABILITY = 0.02
GARBAGE_WORD = "[SPEECH]"
# Fewer words than this share found by the tolerant pass: the transcript is not this recording's.
# (Chance finds of an unrelated transcript's short words are caught by their poor fit, below.)
MIN_FOUND_SHARE = 0.5
# A word's confidence: its acoustic log-likelihood per frame relative to the best-scoring state of
# each frame (0 is a perfect fit), from PocketSphinx's segment score. Measured on the bundled
# samples and 12 synthetic utterances: the median over a recording's words is −0.9 to −2.4 with
# the right transcript and −3.8 to −6.4 with another recording's, where the decoder still forces
# the words in; single right words rarely score below −5 (1 of 160), wrong ones mostly do.
NO_MATCH_MEDIAN_CONFIDENCE = -3.0
LOW_CONFIDENCE = -5.0
# What one word search may cost (`Aligner._search`), so that no input makes a job run without end; a
# search past its bound finds no words, which then end as words not found or not placed:
# - the search itself costs about frames × the grammar's words (measured, tolerant grammar, CPU: 1.4 s
#   for 60 s and 200 words, 2.4 s for 60 s and 541, 5.3 s for 165 s and 541, 15 s for 165 s and 2164);
#   one bigger than MAX_SEARCH_WORK (~10 s) is not run. The planning makes no piece longer than 180 s,
#   with ~3 words a second;
# - the best path through PocketSphinx's word lattice (`bestpath`, which the results are tuned on: the
#   Viterbi backtrace instead lost the last word of a sentence after an added one) costs about the square
#   of the search's history, and more where words may be skipped (every word's end is linked to every
#   later state): a transcript with 16 near-identical sentences that are not spoken made it run for hours
#   on a piece of 165 s and 541 words whose search took 7.5 s. It is therefore found in a child process
#   limited to LATTICE_CPU_SECONDS plus LATTICE_CPU_PER_MINUTE2 × (minutes of audio)² of CPU (measured
#   on tolerant searches: 0.3 s for 20 s and 60 words, 1.7 s for 40 s and 120, 3.5 s for 60 s and 200,
#   16.8 s for 121 s and 460 with the added sentences, where the wider beams' one passed 46 s: 15 s is
#   allowed at 60 s, 95 s at 180 s). A limit in CPU, not in lattice size (which PocketSphinx does not
#   tell), so a search near it may end either way on another machine: the limits are several times
#   what searches of matching transcripts take. Searches of at most IN_PROCESS_WORK (a phone pass's
#   chunk) have small lattices and stay in this process.
MAX_SEARCH_WORK = 25_000_000
LATTICE_CPU_SECONDS = 5.0
LATTICE_CPU_PER_MINUTE2 = 10.0
IN_PROCESS_WORK = 30_000
# The lattice's process may use this much memory beyond the decoder's (measured: 61–95 MB on the stalled
# piece), and is waited for at most LATTICE_WAIT_FACTOR × its CPU limit + LATTICE_WAIT_SECONDS.
LATTICE_MEMORY_BYTES = 512 << 20
LATTICE_WAIT_FACTOR = 4
LATTICE_WAIT_SECONDS = 5.0
# While a word pass's lattice is searched (up to a minute on a piece that does not match), its note is repeated
# this often with the seconds it has taken: the status line's sign of life (clamservices/fa_job.py).
WAITING_NOTE_SECONDS = 3.0
# Longer recordings are cut into pieces of at most this length (clamservices.longaudio).
PIECE_SECONDS = 60.0
PLAN_SHARE = 0.1  # of a long recording's progress: finding where to cut it
REPAIR_SHARE = 0.1  # and placing again the words its pieces could not place (clamservices.repair); the rest, its pieces


class AlignmentError(RuntimeError):
    """The recording could not be aligned; `code` says why for programs, str() for people."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    label: str
    score: float = 0.0
    confidence: float | None = None  # 0–1, from the phone pass (clamservices.confidence); None without one


@dataclass
class Alignment:
    words: list  # [Interval], only the words found (silences are the gaps)
    phones: list  # [Interval], only the phones
    warnings: list = field(default_factory=list)  # plain words, for the researcher
    not_found: list = field(default_factory=list)  # transcript words (as shown) not found in the audio


def _with_confidence(word, phones):
    """`word` (an Interval) with its confidence, from its phones [(phone, start, end, GOP or None)] and its score."""
    return dataclasses.replace(word, confidence=goodness.word_confidence([g for _, _, _, g in phones], word.score))


def _base_word(name):
    return name.split("(", 1)[0]


def confidence(segment):
    """Acoustic log-likelihood per frame of a word segment, against the best state of each frame (≤ 0)."""
    frames = max(1, segment.end_frame - segment.start_frame + 1)
    return math.log(max(segment.ascore, 1e-300)) / frames


def _count(number, one, many):
    return f"{number} {one if number == 1 else many}"


def _fit(found, keys):
    """How well an alignment fits: its words' confidences, a word not found counting as a poor fit.

    Measured: a word added before a sentence makes the strict fit −24.6, the tolerant one (which
    skips it) −10.9 − 5; four spoken words left out of a transcript make the strict fit −23.6 and
    the tolerant one (which then also drops spoken words) −25.5 − 10.
    """
    return sum(confidence(s) for _, s in found) + LOW_CONFIDENCE * (len(keys) - len(found))


def _low_count(found):
    return sum(1 for _, s in found if confidence(s) < LOW_CONFIDENCE)


def _plausible(segments):
    return bool(segments) and statistics.median(confidence(s) for s in segments) >= NO_MATCH_MEDIAN_CONFIDENCE


def _dbfs(level):
    return 32767 * 10 ** (level / 20)


def _blocks(samples):
    """`samples` (an int16 array or an audio.Recording) a block at a time."""
    for start in range(0, len(samples), BLOCK_SAMPLES):
        yield samples[start : start + BLOCK_SAMPLES]


def _stats(samples):
    """(peak, samples at full scale) of an int16 array or an audio.Recording (which knows both already)."""
    if hasattr(samples, "clipped_samples"):
        return samples.peak, samples.clipped_samples
    peak = clipped = 0
    for block in _blocks(samples):
        peak = max(peak, int(block.max()), -int(block.min()))
        clipped += int(np.count_nonzero(block >= CLIP_LEVEL) + np.count_nonzero(block <= -CLIP_LEVEL))
    return peak, clipped


def peak_of(samples):
    """The largest absolute sample of an int16 array or an audio.Recording; pass it to `normalised` for its pieces."""
    return _stats(samples)[0]


def _blockwise(samples, transform):
    """int16 `transform(float32 block)` of `samples`, a block at a time: an hour of audio needs no float copy of itself."""
    out = np.empty(len(samples), dtype=np.int16)
    for start, block in zip(range(0, len(samples), BLOCK_SAMPLES), _blocks(samples)):
        out[start : start + len(block)] = np.clip(transform(block.astype(np.float32)), -32768, 32767)
    return out


def with_noise_floor(samples, seed=0):
    """`samples` plus a reproducible noise floor at NOISE_FLOOR_DBFS (see the module docstring)."""
    rng = np.random.default_rng([len(samples), seed])
    level = np.float32(_dbfs(NOISE_FLOOR_DBFS))
    return _blockwise(samples, lambda block: block + rng.standard_normal(len(block), dtype=np.float32) * level)


def _background(samples, length):
    """`length` samples of noise as loud as the quietest tenth of `samples`: padding that sounds like its pauses.

    Padding quieter than the recording's own pauses (digital silence, or the bare
    noise floor) made the phone pass put the padding into the first word.
    """
    frames = samples[: len(samples) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME].astype(np.float64)
    rms = np.sqrt((frames.reshape(-1, SAMPLES_PER_FRAME) ** 2).mean(axis=1)) if len(frames) else np.zeros(1)
    level = max(np.percentile(rms, 10), _dbfs(NOISE_FLOOR_DBFS))
    noise = np.random.default_rng(length).normal(0.0, level, length)
    return np.clip(noise, -32768, 32767).astype(np.int16)


def normalised(samples, peak=None):
    """Quiet recordings raised to a peak of NORMAL_PEAK_DBFS, so the noise floor stays far below the speech.

    For a piece of a recording, give the whole recording's `peak` (peak_of), so that every piece gets the same gain.
    An int16 array comes back as it is when it needs no gain; anything else (a Recording) as an int16 array.
    """
    peak = peak_of(samples) if peak is None else peak
    target = _dbfs(NORMAL_PEAK_DBFS)
    if peak == 0 or peak >= target:
        return samples if isinstance(samples, np.ndarray) else _blockwise(samples, lambda block: block)
    gain = np.float32(target / peak)
    return _blockwise(samples, lambda block: block * gain)


def _silent():
    return AlignmentError(
        "silent", "the recording is silent (nothing louder than "
        f"{SILENT_PEAK_DBFS:.0f} dBFS); is it the right file, and was the microphone on?"
    )


def level_warnings(samples):
    """Raise for audio without speech; return warnings about its level (of a whole int16 array or audio.Recording)."""
    peak, clipped_samples = _stats(samples)
    if peak < _dbfs(SILENT_PEAK_DBFS):
        raise _silent()
    warnings = []
    clipped = clipped_samples / len(samples)
    if clipped > CLIPPED_SHARE:
        warnings.append(f"the recording is clipped (distorted) in {clipped:.1%} of its samples; "
                        "boundaries there may be less exact")
    return warnings


def long_level_warnings(samples):
    """level_warnings and the gain `normalised` would apply to the whole of `samples` (a Recording knows its peak)."""
    warnings = level_warnings(samples)
    peak, target = peak_of(samples), _dbfs(NORMAL_PEAK_DBFS)
    return warnings, (target / peak if peak < target else 1.0)


def prepared(block, gain, seed):
    """A piece of a long recording as the decoder gets it: raised by `gain` (see `normalised`), with the noise floor."""
    if gain != 1.0:
        factor = np.float32(gain)
        block = _blockwise(block, lambda b: b * factor)
    return with_noise_floor(block, seed=seed)


class _TooCostly(Exception):
    """The word lattice's best path cost more than its limits (or no process could be had for it)."""


def _words_only(segments):
    """The words of `segments` (PocketSphinx's or `_best_path`'s; None: no path): no fillers, pauses or
    null transitions ("(NULL)", a skipped word in the Viterbi backtrace)."""
    if segments is None:
        return None
    return [s for s in segments if not s.word.startswith(("<", "[", "("))]


def _address_space():
    """This process's virtual memory size in bytes (0 when /proc does not say)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _lattice_child(decoder, write_end, parent, cpu_seconds):
    """The forked child of `_best_path`: the lattice's segments pickled to `write_end`, then out without any
    of the parent's clean-up."""
    code = 1
    try:
        die_with_parent()
        if os.getppid() != parent:  # the parent ended before it could be asked to take this process along
            os._exit(code)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the job's handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # At the soft CPU limit the kernel sends SIGXCPU, which dumps core, and a system's core handler
        # (systemd-coredump, apport) runs whatever RLIMIT_CORE says: ignored, so the hard limit's SIGKILL
        # ends the child without a core.
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        limit = max(1, math.ceil(cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (limit, limit))
        if size := _address_space():  # the lattice may grow this much beyond the decoder it was forked with
            resource.setrlimit(resource.RLIMIT_AS, (size + LATTICE_MEMORY_BYTES, size + LATTICE_MEMORY_BYTES))
        segments = decoder.seg()
        found = None if segments is None else [longaudio.Segment.of(s) for s in segments]
        with os.fdopen(write_end, "wb") as out:
            out.write(pickle.dumps(found))
        code = 0
    finally:
        os._exit(code)


def _read_until(handle, deadline, waiting=None):
    """All of `handle`'s bytes until it closes, or None when the monotonic `deadline` passes first;
    `waiting(seconds)` is called every WAITING_NOTE_SECONDS of the wait."""
    chunks, start = [], time.monotonic()
    told = start
    while True:
        now = time.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            return None
        step = remaining if waiting is None else max(0.0, min(remaining, told + WAITING_NOTE_SECONDS - now))
        if not select.select([handle], [], [], step)[0]:
            if waiting is not None and time.monotonic() >= told + WAITING_NOTE_SECONDS:
                told = time.monotonic()
                waiting(told - start)
            continue
        chunk = os.read(handle.fileno(), 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _ended_how(status):
    if os.WIFSIGNALED(status):
        return f"was ended by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with {os.WEXITSTATUS(status)}"


def _best_path(decoder, cpu_seconds, waiting=None):
    """The segments (longaudio.Segment) of the best path through the word lattice of the decoder's last
    utterance, or None when there is none; raises _TooCostly when that takes more than `cpu_seconds` of
    CPU, LATTICE_MEMORY_BYTES of memory or its time to wait (see LATTICE_WAIT_FACTOR).

    PocketSphinx cannot be interrupted inside its search, so the lattice is built in a child process
    (a fork: it has the decoder as it is) whose CPU time and memory the kernel limits; the child dies with
    this process, and is killed and reaped here whatever happens, so none is left behind. The wait has a
    limit of its own: a child that is stopped or blocked uses no CPU.
    """
    parent = os.getpid()
    try:
        read_end, write_end = os.pipe()
    except OSError as exc:
        log.warning("no process for the word lattice: %s", exc)
        raise _TooCostly() from exc
    try:
        pid = os.fork()
    except OSError as exc:  # out of processes or memory: the search is past its bound here
        os.close(read_end)
        os.close(write_end)
        log.warning("no process for the word lattice: %s", exc)
        raise _TooCostly() from exc
    if pid == 0:
        os.close(read_end)
        _lattice_child(decoder, write_end, parent, cpu_seconds)
    os.close(write_end)
    status = None
    try:
        with os.fdopen(read_end, "rb") as pipe:
            data = _read_until(pipe, time.monotonic() + LATTICE_WAIT_FACTOR * cpu_seconds + LATTICE_WAIT_SECONDS,
                               waiting)
        if data is None:
            log.warning("the word lattice's process did not end within %.0f s; stopped",
                        LATTICE_WAIT_FACTOR * cpu_seconds + LATTICE_WAIT_SECONDS)
            os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        log.debug("word lattice: %.2f s of CPU (limit %.1f), %d MB at most", usage.ru_utime + usage.ru_stime,
                  cpu_seconds, usage.ru_maxrss // 1024)
    finally:
        if status is None:  # interrupted (the job was stopped): the child goes with it
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    if status != 0 or not data:
        if data is not None:
            log.warning("the word lattice's process %s (limits: %.0f s of CPU, %d MB more memory)",
                        _ended_how(status), cpu_seconds, LATTICE_MEMORY_BYTES >> 20)
        raise _TooCostly()
    return pickle.loads(data)


def _shifted(interval, seconds):
    return dataclasses.replace(interval, start=interval.start + seconds, end=interval.end + seconds)


class Aligner:
    """PocketSphinx with a dictionary of the job's words only (no language model: alignment needs none).

    A decoder with the whole CMU dictionary and the language model took ~0.46 s to load, most of
    a short job; with the words the transcripts need, looked up as they are asked for
    (is_known, phones_of, or a pass over them), it takes a few hundredths of a second.
    """

    def __init__(self, lexicon=None):
        self.lexicon = lexicon or Lexicon()
        self._names = {}  # {name in the decoders ("word", "word(2)"): phones}, in the order added
        self._pulled = set()  # words whose dictionary pronunciations are in self._names
        self._wide = None
        self._flat = None
        self._phone = None
        self.decoder = self._new_decoder(wide=False)
        self.entries = []
        self.added = set()  # words whose pronunciations came from the extra dictionary
        self.readings = {}  # {number or symbol: the words it is read as}
        # doing(text): the word pass's searches after the first, each of which may take a minute on a piece
        # whose transcript does not match (the job's status says so; in the pool, over the worker's pipe).
        self.doing = lambda text: None
        self._doing = None  # the word pass's last note, repeated while its lattice is searched

    def is_known(self, word):
        self._include([word])
        return word in self._names

    def phones_of(self, word):
        """The first pronunciation of a known word, as a list of phones."""
        self._include([word])
        pronunciation = self._names.get(word)
        return pronunciation.split() if pronunciation else None

    def _include(self, words):
        """Give the decoders the dictionary's pronunciations of `words` they do not have yet."""
        for word in words:
            if word not in self._pulled:
                self._pulled.add(word)
                for phones in self.lexicon.pronunciations(word):
                    self._add(Entry(word, tuple(phones.split())))

    def add_entries(self, entries):
        """Add dictionary entries; words already known get them as alternates.

        Returns the entries the decoder refused (e.g. a word it cannot take), so the caller can say so.
        """
        refused = []
        for entry in entries:
            try:
                self._include([entry.word])
                self._add(entry)
            except (RuntimeError, ValueError) as exc:
                log.warning("refused dictionary entry %r: %s", entry, exc)
                refused.append(entry)
                continue
            self.entries.append(entry)
            self.added.add(entry.word)
        return refused

    def add_reading(self, word, phones, reading):
        """Let `word` (e.g. "1990") be pronounced `phones`, as `reading` ("nineteen ninety") is, without
        counting it as the user's; `readings` remembers it, so every recording with the word can say so."""
        self.readings[word] = reading
        entry = Entry(word, tuple(phones))
        self._include([word])
        self._add(entry)
        self.entries.append(entry)

    def follow(self, entries, added, readings):
        """Take the entries another Aligner got after the ones this one has: a worker process
        (clamservices.pool) keeps in step with its job's Aligner (in the same order, so alternates get the same names)."""
        for entry in entries[len(self.entries):]:
            self._include([entry.word])
            self._add(entry)
            self.entries.append(entry)
        self.added, self.readings = set(added), dict(readings)

    def _add(self, entry):
        """`entry` into every decoder, as an alternate ("word(2)") if the word has a pronunciation already."""
        number, name = 1, entry.word
        while name in self._names:
            number += 1
            name = f"{entry.word}({number})"
        phones = " ".join(entry.phones)
        # Without updating the active search: every pass sets up a new one, which sees the word.
        for decoder in (self.decoder, self._wide, self._flat, self._phone):
            if decoder is not None:
                decoder.add_word(name, phones, False)
        self._names[name] = phones

    def _new_decoder(self, wide):
        # Batch CMN (the mean over the whole recording): results do not depend on what the decoder saw
        # before, which matters because a decoder is renewed after a failed phone pass.
        # No language model and an empty dictionary file: the words come from self._names.
        if wide in (FLAT, PHONE):
            options = {**PHONE_PASS_OPTIONS, **({"bestpath": False} if wide == FLAT else {})}
        else:
            options = dict(WIDE_BEAMS) if wide else {}
        decoder = Decoder(samprate=SAMPLE_RATE, loglevel="ERROR", cmn="batch", lm=None, dict=os.devnull, **options)
        for name, phones in self._names.items():
            decoder.add_word(name, phones, False)
        return decoder

    def _wide_decoder(self):
        """A second decoder with much wider beams, made when first needed."""
        if self._wide is None:
            self._wide = self._new_decoder(wide=True)
        return self._wide

    def _flat_decoder(self):
        """The phone pass's decoder without best-path search (see FLAT), made when first needed."""
        if self._flat is None:
            self._flat = self._new_decoder(wide=FLAT)
        return self._flat

    def _phone_decoder(self, wide=False):
        """The decoder of a phone pass: FLAT, wide (True) or the usual beams (False)."""
        if wide == FLAT:
            return self._flat_decoder()
        if wide:
            return self._wide_decoder()
        if self._phone is None:
            self._phone = self._new_decoder(wide=PHONE)
        return self._phone

    def _renew(self, decoder):
        """A fresh decoder in place of `decoder`: after a failed phone pass PocketSphinx's decoder
        fails every later phone pass too (measured: the same chunk aligns on a fresh one)."""
        if decoder is self._flat:
            self._flat = None
            return self._flat_decoder()
        if decoder is self._phone:
            self._phone = None
            return self._phone_decoder()
        wide = decoder is self._wide
        fresh = self._new_decoder(wide=wide)
        if wide:
            self._wide = fresh
        else:
            self.decoder = fresh
        return fresh

    @staticmethod
    def _decode(decoder, samples):
        data = samples.tobytes()
        decoder.start_utt()
        try:
            decoder.process_raw(data, full_utt=True)
        except BaseException:
            try:  # never leave the shared decoder inside an utterance: every later file would fail
                decoder.end_utt()
            except RuntimeError:
                pass
            raise
        decoder.end_utt()

    def _search(self, decoder, samples, keys, grammar=None):
        """The word segments (no fillers, pauses or null transitions) of the best path through `samples`
        of `keys` in order (the strict pass), or of `grammar` ((name, start state, final state, transitions)
        over `keys`); None when the search finds no path or costs more than its bound.

        Every word search goes through here, so that none runs without end (see MAX_SEARCH_WORK).
        """
        frames = len(samples) // SAMPLES_PER_FRAME
        if frames * max(1, len(keys)) > MAX_SEARCH_WORK:
            log.warning("word search not run: %d frames × %d words is more than %d", frames, len(keys),
                        MAX_SEARCH_WORK)
            return None
        if grammar is None:
            decoder.set_align_text(" ".join(keys))
        else:
            name, start, final, transitions = grammar
            decoder.add_fsg(name, decoder.create_fsg(name, start, final, transitions))
            decoder.activate_search(name)
        self._decode(decoder, samples)
        if frames * max(1, len(keys)) > IN_PROCESS_WORK and decoder.config["bestpath"]:
            seconds = frames / FRAME_RATE
            try:
                limit = LATTICE_CPU_SECONDS + LATTICE_CPU_PER_MINUTE2 * (seconds / 60) ** 2
                waiting = None if self._doing is None else \
                    (lambda took, text=self._doing: self.doing(f"{text} (weighing what it heard: {took:.0f} s)"))
                return _words_only(_best_path(decoder, limit, waiting))
            except _TooCostly:
                log.warning("the word lattice of a search of %.0f s and %d words was past its limits (%.0f s of CPU); "
                            "its words are not found", seconds, len(keys), limit)
                return None
        return _words_only(decoder.seg())

    def reset(self):
        """Fresh decoders, after an unexpected error left the current ones in an unknown state."""
        self.decoder = self._new_decoder(wide=False)
        self._wide = None
        self._flat = None
        self._phone = None

    def _strict_pass(self, decoder, samples, keys):
        """Segments of every word in order, or None when the decoder finds no such path.

        `keys` may name pronunciations ("the(2)"), as the phone pass does.
        """
        self._include([_base_word(k) for k in keys])
        try:
            segments = self._search(decoder, samples, keys)
        except RuntimeError as exc:
            log.info("strict word pass failed: %s", exc)
            return None
        if segments is None or [_base_word(s.word) for s in segments] != [_base_word(k) for k in keys]:
            return None
        return segments

    def _tolerant_pass(self, decoder, samples, keys):
        """[(index in keys, segment)] of the words found when any word may be skipped."""
        self._include(keys)
        transitions = []
        for i, key in enumerate(keys):
            transitions.append((i, i + 1, 1.0 - SKIP_PROBABILITY, key))
            transitions.append((i, i + 1, SKIP_PROBABILITY))
            transitions.append((i, i, GARBAGE_PROBABILITY, GARBAGE_WORD))
        transitions.append((len(keys), len(keys), GARBAGE_PROBABILITY, GARBAGE_WORD))
        try:
            segments = self._search(decoder, samples, keys, ("tolerant", 0, len(keys), transitions))
        except (RuntimeError, ValueError) as exc:
            log.info("tolerant word pass failed: %s", exc)
            return []
        found, position = [], 0
        for segment in segments or []:
            word = _base_word(segment.word)
            # The grammar is linear, so the words come in transcript order; the first match from
            # the current position is the one (a repeated word may be attributed to its twin).
            while position < len(keys) and keys[position] != word:
                position += 1
            if position == len(keys):
                break
            found.append((position, segment))
            position += 1
        return found

    def window_pass(self, samples, keys, estimate):
        """[(position in keys, segment, fits well?)] of the words found in a window cut out of a long recording.

        The window starts and ends inside speech, so the grammar may enter at any word (most likely
        near `estimate`) and leave after any word, with spoken noise before and after.
        """
        self._include(keys)
        count = len(keys)
        start, final = count + 1, count + 2
        spread = max(1.0, count / 4)
        weights = [math.exp(-0.5 * ((s - estimate) / spread) ** 2) for s in range(count + 1)]
        transitions = [(start, start, longaudio.ENTRY_GARBAGE, GARBAGE_WORD),
                       (final, final, longaudio.ENTRY_GARBAGE, GARBAGE_WORD)]
        for state, weight in enumerate(weights):
            transitions.append((start, state, max(weight / sum(weights), 1e-6)))
            transitions.append((state, final, 1.0 / (count + 1)))
        for i, key in enumerate(keys):
            transitions.append((i, i + 1, 1.0 - SKIP_PROBABILITY, key))
            transitions.append((i, i + 1, SKIP_PROBABILITY))
            transitions.append((i, i, GARBAGE_PROBABILITY, GARBAGE_WORD))
        try:
            segments = self._search(self.decoder, samples, keys, ("window", start, final, transitions)) or []
        except (RuntimeError, ValueError) as exc:
            log.info("window pass failed: %s", exc)
            return []
        positions = longaudio.embed([_base_word(s.word) for s in segments], keys, estimate)
        if len(positions) != len(segments):
            return []
        return [(p, s, confidence(s) >= LOW_CONFIDENCE) for p, s in zip(positions, segments)]

    def _word_pass(self, samples, keys):
        """(wide beams used?, [(index, segment)]): the strict pass, else the tolerant one, retried with wider beams.

        Wider beams are tried on the tolerant pass only: a strict pass with wide beams
        forces any transcript onto any audio (measured: another recording's transcript
        "aligned"), while the tolerant pass still reports the words it cannot find.
        """
        try:
            return self._word_passes(samples, keys)
        finally:
            self._doing = None

    def _say(self, text):
        self._doing = text
        self.doing(text)

    def _word_passes(self, samples, keys):
        self._doing = "matching the transcript word for word"  # said only if its lattice takes long
        segments = self._strict_pass(self.decoder, samples, keys)
        # A strict pass forces any transcript onto any speech; only a plausible fit is taken as it is,
        # and one with poorly fitting words only if the tolerant pass does no better: a word that is
        # not spoken is forced onto its neighbours' audio (measured: "yes" added before a sentence
        # took 0.3 s of "he was"), where the tolerant pass skips it and puts the rest in place.
        if segments is not None and _plausible(segments):
            strict = list(enumerate(segments))
            low = _low_count(strict)
            if not low:
                return False, strict
            self._say(f"{_count(low, 'word fits', 'words fit')} poorly: looking for the words that are spoken")
            found = self._tolerant_pass(self.decoder, samples, keys)
            if len(found) >= MIN_FOUND_SHARE * len(keys) and _plausible([s for _, s in found]) \
                    and _fit(found, keys) > _fit(strict, keys):
                return False, found
            return False, strict
        best, best_wide = [], False
        for wide in (False, True):
            self._say("looking again with wider beams" if wide else
                      "the transcript does not fit word for word: looking for the words that are spoken")
            found = self._tolerant_pass(self._wide_decoder() if wide else self.decoder, samples, keys)
            if len(found) > len(best):
                best, best_wide = found, wide
            if len(best) == len(keys):
                break
        return best_wide, best

    def _chunks(self, segments, chunk_frames):
        """(start frame, end frame or None, [segment indexes]): cut in the middle of pauses so a chunk stays short."""
        chunks, current, chunk_start = [], [], 0
        for i, segment in enumerate(segments):
            current.append(i)
            following = segments[i + 1] if i + 1 < len(segments) else None
            if following is None:
                break
            pause = following.start_frame - segment.end_frame
            too_long = following.end_frame - chunk_start > chunk_frames
            if pause >= MIN_CUT_SILENCE_FRAMES and too_long:
                cut = segment.end_frame + pause // 2
                chunks.append((chunk_start, cut, current))
                current, chunk_start = [], cut
        chunks.append((chunk_start, None, current))
        return chunks

    def _phone_pass(self, wide, chunk, keys, paddings=PHONE_PASS_PADDING_SECONDS):
        """[(word name, [(phone, start frame, end frame, GOP or None)])] of one chunk, in chunk frames; None
        when it fails. GOP: clamservices.confidence, from a phone loop over the same audio."""
        for pad_seconds in paddings:
            decoder = self._phone_decoder(wide)
            pad = int(pad_seconds * FRAME_RATE)
            silence = _background(chunk, pad * SAMPLES_PER_FRAME)
            padded = np.concatenate([silence, chunk, silence]) if pad else chunk
            if self._strict_pass(decoder, padded, keys) is None:
                continue
            try:
                decoder.set_alignment()
                self._decode(decoder, padded)
                aligned = decoder.get_alignment()
            except RuntimeError as exc:
                log.info("phone pass failed (padding %.2f s): %s", pad_seconds, exc)
                self._renew(decoder)
                continue
            words = [
                (word.name, [(phone.name, phone.start, phone.start + phone.duration, phone.score) for phone in word])
                for word in aligned
                if not word.name.startswith(("<", "["))
            ]
            if len(words) == len(keys) and all(phones for _, phones in words):
                loop = goodness.loop_scores(padded, len(padded) // SAMPLES_PER_FRAME)
                return [(name, [(phone, a - pad, b - pad, gop) for (phone, a, b, _), gop
                                in zip(phones, goodness.phone_gops(phones, loop))])
                        for name, phones in words]
        return None

    def _split_phone_pass(self, wide, chunk, keys, depth=2):
        """The phone pass of `chunk` in two parts cut in the middle of its longest pause between words,
        each part split again when it fails, `depth` times at most; None when a part still fails.

        Measured on generated speech (tests/benchmarks/alignment_accuracy.py): 1 in 24 recordings whose
        phone pass failed in one piece however prepared ("Alignment failed in frame N" at one pause)
        aligned in two parts.
        """
        if depth == 0 or len(keys) < 2:
            return None
        segments = self._strict_pass(self._phone_decoder(wide), chunk, keys)
        if segments is None:
            return None
        split = max(range(1, len(keys)), key=lambda i: segments[i].start_frame - segments[i - 1].end_frame)
        cut = (segments[split - 1].end_frame + 1 + segments[split].start_frame) // 2
        result = []
        for offset, part, part_keys in ((0, chunk[: cut * SAMPLES_PER_FRAME], keys[:split]),
                                        (cut, chunk[cut * SAMPLES_PER_FRAME :], keys[split:])):
            aligned = self._phone_pass(wide, part, part_keys, (0.1,)) or \
                self._split_phone_pass(wide, part, part_keys, depth - 1)
            if aligned is None:
                return None
            result += [(name, [(phone, a + offset, b + offset, gop) for phone, a, b, gop in phones])
                       for name, phones in aligned]
        return result

    def _check_length(self, samples, keys):
        phones = sum(len(self.phones_of(k) or ()) for k in keys)
        needed = phones * MIN_FRAMES_PER_PHONE / FRAME_RATE
        seconds = len(samples) / SAMPLE_RATE
        if seconds < needed:
            raise AlignmentError(
                "too_short",
                f"the recording is too short for its transcript: {seconds:.2f} s for {_count(len(keys), 'word', 'words')}, "
                f"which need at least {needed:.2f} s; is it cut off, or is the transcript of another recording?",
            )

    def _no_match(self, words, found, samples, clock=None):
        """The error for a recording whose words could not be found; names a user pronunciation if one is involved.
        `clock` (seconds → text) names times in a longer recording (see `align`)."""
        keys = [w.key for w in words]
        found_indexes = {i for i, _ in found}
        missing = [i for i in range(len(keys)) if i not in found_indexes]
        where = ""
        if found and missing:
            before = [s for i, s in found if i < missing[0]]
            seconds = before[-1].end_frame / FRAME_RATE if before else 0.0
            near = clock(seconds) if clock else longaudio.clock(seconds) if samples is None else f"{seconds:.1f} s"
            where = f"; the trouble starts near {near}, at “{words[missing[0]].shown}”"
        suspects = sorted({keys[i] for i in (missing or range(len(keys))) if keys[i] in self.added})
        if suspects:
            return AlignmentError(
                "pronunciation",
                "the pronunciation given for " + ", ".join(f"“{w}”" for w in suspects)
                + f" does not fit the audio{where}; correct it, or check the transcript",
            )
        if found and _plausible([s for _, s in found]):
            return AlignmentError(
                "no_match",
                f"the transcript does not match the recording: only {len(found)} of {len(keys)} words could be "
                f"found in the audio{where}; is it the right transcript, and is the whole text spoken?",
            )
        return AlignmentError(
            "no_match",
            "the transcript does not match the recording: its words cannot be found in the audio; "
            "is it the right transcript, and does the recording contain this speech?",
        )

    def _fit_warnings(self, words, found, where=None, doubtful=(), clock=None):
        """Warnings about the words of an accepted alignment: user pronunciations, poor fits, words not found.

        `where` (seconds → text) is given for a long recording (longaudio.clock). There a word of the
        user's dictionary that was not found or fits poorly is a warning about its stretch, not an
        error for the whole recording: a piece cut blindly, or one whose alignment failed, loses its
        words whatever their pronunciation.
        """
        keys = [w.key for w in words]
        missing = sorted(set(range(len(words))) - {i for i, _ in found})
        low = [(i, s) for i, s in found if confidence(s) < LOW_CONFIDENCE]
        # `doubtful`: words found inside a run that could not be placed, mostly chance finds (a user's word
        # that is not spoken was forced onto its neighbours' audio with a fair fit).
        suspects = sorted({keys[i] for i in missing + [i for i, _ in low] + list(doubtful) if keys[i] in self.added})
        if suspects and where is None:
            # The word is spoken, so without it (or with it forced in) its neighbours get its audio:
            # only the researcher's correction helps, and a TextGrid would mislead.
            raise AlignmentError(
                "pronunciation",
                "the pronunciation given for " + ", ".join(f"“{w}”" for w in suspects)
                + " does not fit the audio; correct it and align again",
            )
        time = where or clock or (lambda seconds: f"{seconds:.1f} s")
        warnings = []
        if suspects:
            found_at = sorted((i, s.start_frame, s.end_frame) for i, s in found)
            indexes = [i for i, _, _ in found_at]
            times = []
            for i in sorted(set(missing + [i for i, _ in low] + list(doubtful))):
                if keys[i] in self.added:
                    k = bisect.bisect_left(indexes, i)
                    if k < len(indexes) and indexes[k] == i:
                        times.append(found_at[k][1] / FRAME_RATE)
                    else:  # not found: after the word before it
                        times.append((found_at[k - 1][2] + 1) / FRAME_RATE if k else 0.0)
            shown = sorted(dict.fromkeys(time(t) for t in times))
            warnings.append(
                "the pronunciation given for " + ", ".join(f"“{w}”" for w in suspects)
                + f" may not fit the audio (near {', '.join(shown[:10])}{' …' if len(shown) > 10 else ''}); "
                "correct it if so, or check the transcript there"
            )
        if low:
            warnings.append(
                f"{_count(len(low), 'word fits', 'words fit')} the audio poorly (check the transcript and the recording there): "
                + ", ".join(f"“{words[i].shown}” at {time(s.start_frame / FRAME_RATE)}" for i, s in low[:20])
                + (" …" if len(low) > 20 else "")
            )
        if missing:
            # Where each belongs: its number in the transcript and the end of the word found before it (a
            # "the" among thousands cannot be found by its spelling alone).
            ends = sorted((i, s.end_frame) for i, s in found)
            indexes = [i for i, _ in ends]

            def located(i):
                k = bisect.bisect_left(indexes, i)
                after = (ends[k - 1][1] + 1) / FRAME_RATE if k else 0.0
                return f"“{words[i].shown}” (word {i + 1}, at {time(after)})"

            warnings.append(
                f"{len(missing)} of {len(words)} words {'was' if len(missing) == 1 else 'were'} not found in the audio "
                f"and {'is' if len(missing) == 1 else 'are'} not in the TextGrid: "
                + ", ".join(located(i) for i in missing[:20]) + (" …" if len(missing) > 20 else "")
            )
        return warnings

    def _phone_passes(self, raw, samples, words, found, wide_found, word_interval, chunk_seconds, report,
                      flat_first=False):
        """(word intervals, phone intervals, [(start s, end s)] where the phone pass failed), a chunk at a time.

        `flat_first`: try the FLAT decoder before the usual one (it becomes so after the first chunk
        that needs it, for the rest of this recording or piece only, so that a result does not
        depend on what the Aligner did before).
        """
        segments = [s for _, s in found]
        word_intervals, phone_intervals, failed = [], [], []
        chunks = self._chunks(segments, int(chunk_seconds * FRAME_RATE))
        total_frames = len(samples) // SAMPLES_PER_FRAME
        for number, (start, end, indexes) in enumerate(chunks, start=1):
            end = total_frames if end is None else end
            span = slice(start * SAMPLES_PER_FRAME, end * SAMPLES_PER_FRAME)
            positions = [found[j][0] for j in indexes]
            # The pronunciations the word pass chose ("the(2)"): the phone pass's cheaper decoder
            # chose others for 7 of 1444 phones on 3 minutes of LibriVox speech.
            keys = [found[j][1].word for j in indexes]
            aligned = None
            # PocketSphinx's phone pass is fragile: the same chunk may fail prepared one way and
            # align prepared another, even with other noise of the same level (measured on the
            # bundled samples and synthetic speech), so try a few before giving up.
            # Each failed try costs a fresh decoder, so the later ones try one padding only.
            first = [(lambda: samples[span], wide_found, PHONE_PASS_PADDING_SECONDS[:1]),
                     (lambda: samples[span], FLAT, PHONE_PASS_PADDING_SECONDS[:2])]
            if flat_first:  # it aligned where the usual decoder failed: speech of that kind, likely again
                first.reverse()
            attempts = first + [
                (lambda: samples[span], wide_found, PHONE_PASS_PADDING_SECONDS[1:]),
                (lambda: samples[span], not wide_found, (0.1,)),
                (lambda: with_noise_floor(normalised(raw[span]), seed=1), False, (0.1,)),
                (lambda: with_noise_floor(raw[span]), False, (0.1,)),
                (lambda: raw[span], False, (0.1,)),
            ]
            for number_tried, (audio, wide, paddings) in enumerate(attempts):
                aligned = self._phone_pass(wide, audio(), keys, paddings)
                if aligned is None and number_tried == len(first) - 1:  # in parts, before the costlier tries
                    aligned = self._split_phone_pass(wide_found, samples[span], keys)
                if aligned is not None:
                    flat_first = flat_first or (wide == FLAT and number_tried == 1)
                    break
            if aligned is None:
                # Keep what the word pass found rather than lose the file.
                word_intervals.extend(word_interval[i] for i in positions)
                failed.append((start / FRAME_RATE, end / FRAME_RATE))
            else:
                for i, (_, word_phones) in zip(positions, aligned):
                    word = _with_confidence(word_interval[i], word_phones)
                    word_intervals.append(word)
                    phone_intervals += fit_phones(
                        [Interval((a + start) / FRAME_RATE, (b + start) / FRAME_RATE, name,
                                  confidence=None if gop is None else goodness.to_confidence(gop))
                         for name, a, b, gop in word_phones],
                        word.start, word.end)
            report(0.3 + 0.7 * number / len(chunks))
        return word_intervals, phone_intervals, failed

    def align(self, samples, words, *, phones=True, chunk_seconds=PHONE_CHUNK_SECONDS, progress=None, piece_seconds=PIECE_SECONDS,
              clock=None, note=None):
        """Word (and phone) intervals of `words` (transcripts.Word) spoken in `samples` (int16, 16 kHz).

        Raises AlignmentError when nothing useful can be aligned; otherwise the Alignment
        says in `warnings` and `not_found` what was less than perfect. `progress(fraction)`
        is called as the work advances. A recording longer than `piece_seconds` is aligned a
        piece at a time (`plan`, `align_piece`, `assemble`; clamservices.longaudio); `samples`
        then only needs len() and slicing, so it may be a file-backed recording, and `note(text or None)`
        says what it is doing where that takes long (see `plan`, `assemble`).
        `clock` (seconds in `samples` → text) names the times in warnings and errors when `samples` are an
        utterance of a longer recording (clamservices.tiered), so that they are that recording's times; the
        intervals stay in `samples`' time.
        """
        words = list(words)
        if not words:
            raise AlignmentError("empty_transcript", "the transcript has no words")
        report = progress or (lambda fraction: None)
        if len(samples) > piece_seconds * SAMPLE_RATE:
            note = note or (lambda text: None)
            plan = self.plan(samples, words, piece_seconds, lambda fraction: report(PLAN_SHARE * fraction), note=note)
            results, done, aligning = [], 0, 1 - PLAN_SHARE - REPAIR_SHARE
            doing = self.doing
            try:
                for number, piece in enumerate(plan.pieces, 1):
                    which = (f"aligning {longaudio.stretch(piece.start, piece.end, clock)} "
                             f"(piece {number} of {len(plan.pieces)})")
                    note(which)
                    self.doing = lambda text, which=which: note(f"{which}: {text}")
                    results.append(self.align_piece(samples[piece.start : piece.end], words[piece.first : piece.last],
                                                    piece, plan.gain, phones=phones, chunk_seconds=chunk_seconds))
                    note(None)  # the share that follows is written without this piece's note, which is old news
                    done += piece.end - piece.start
                    report(PLAN_SHARE + aligning * done / len(samples))
            finally:
                self.doing = doing
            alignment = self.assemble(words, plan, results, samples, phones=phones, chunk_seconds=chunk_seconds,
                                      clock=clock, progress=lambda fraction: report(1 - REPAIR_SHARE * (1 - fraction)),
                                      note=note)
            note(None)
            report(1.0)  # a recording whose words were all placed needs no repair: its share is done at once
            return alignment
        if not isinstance(samples, np.ndarray):  # a file-backed recording: one piece is small enough to read
            samples = samples[0 : len(samples)]
        warnings = level_warnings(samples)
        keys = [w.key for w in words]
        self._check_length(samples, keys)
        raw, samples = samples, with_noise_floor(normalised(samples))

        wide_found, found = self._word_pass(samples, keys)
        if len(found) < max(1, MIN_FOUND_SHARE * len(keys)) or not _plausible([s for _, s in found]):
            raise self._no_match(words, found, samples, clock)
        not_found = [words[i].shown for i in sorted(set(range(len(words))) - {i for i, _ in found})]
        warnings += self._fit_warnings(words, found, clock=clock)
        report(0.3)
        word_interval = {
            i: Interval(s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE, words[i].shown, confidence(s))
            for i, s in found
        }
        if clock is None:  # a whole recording, not an utterance of a tiered transcript (pauses between those are normal)
            warnings += untranscribed_speech(raw, [word_interval[i] for i, _ in found])
            warnings += stretched_words(raw, [(word_interval[i], self._phone_count(words[i].key)) for i, _ in found])
        if not phones:
            return Alignment([word_interval[i] for i, _ in found], [], warnings, not_found)

        word_intervals, phone_intervals, failed = self._phone_passes(
            raw, samples, words, found, wide_found, word_interval, chunk_seconds, report)
        if failed:
            stretches = ", ".join(f"{clock(a)}–{clock(b)}" if clock else f"{a:.1f}–{b:.1f} s" for a, b in failed)
            warnings.append(f"no phone alignment for {stretches}: the phone tier is empty there; "
                            "the word alignment is kept")
        return refine_boundaries(Alignment(word_intervals, phone_intervals, warnings, not_found), raw)

    # --- long recordings (clamservices.longaudio) -----------------------------------------------

    def plan(self, samples, words, piece_seconds=PIECE_SECONDS, progress=None, each=None, note=None):
        """How a long recording is aligned: its level warnings, gain and pieces (see clamservices.longaudio).

        `each(number, piece, gain)` is called as soon as a piece is decided, so that it can be aligned
        while the next cut is looked for. `progress(fraction)` follows the share of the audio decided;
        `note(text)` says which search runs before each window decode, `note(None)` when a piece is decided.
        """
        warnings, gain = long_level_warnings(samples)
        keys = [w.key for w in words]
        self._check_length(samples, keys)
        splitter = longaudio.Splitter(self, samples, keys, lambda a, b: prepared(samples[a:b], gain, a),
                                      piece_seconds, progress, note)
        plan = Plan(warnings, gain, [])
        try:
            for piece in splitter.pieces():
                plan.pieces.append(piece)
                if each is not None:
                    each(len(plan.pieces) - 1, piece, gain)
        except longaudio.NoMatch:
            raise self._no_match(words, [], None) from None
        finally:
            plan.windows = splitter.windows
        return plan

    def align_piece(self, raw, words, piece, gain, *, phones=True, chunk_seconds=PHONE_CHUNK_SECONDS):
        """A `longaudio.PieceResult` for `words` in `raw` (the piece's samples), in the whole recording's time."""
        offset_frames = piece.start // SAMPLES_PER_FRAME
        offset = offset_frames / FRAME_RATE
        result = longaudio.PieceResult()
        if not words:  # a stretch of a long recording cut blindly, with none of the transcript's words
            return result
        samples = prepared(raw, gain, piece.start)
        keys = [w.key for w in words]
        wide_found, found = self._word_pass(samples, keys)
        # A piece's share of words found may be small where its transcript and audio do not match
        # (its neighbours' words, cut blindly); the whole recording's share is checked by `assemble`.
        if not _plausible([s for _, s in found]):
            result.error = "no_match"
            return result
        result.found = [(piece.first + i, longaudio.Segment.of(s, offset_frames)) for i, s in found]
        word_interval = {
            i: Interval(s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE, words[i].shown, confidence(s))
            for i, s in found
        }
        if not phones:
            result.words = [_shifted(word_interval[i], offset) for i, _ in found]
            return result
        # The FLAT decoder first: measured on 10 minutes of espeak-ng speech, the usual one failed on
        # most chunks, each failure costing a fresh decoder (~0.5 s).
        word_intervals, phone_intervals, failed = self._phone_passes(
            raw, samples, words, found, wide_found, word_interval, chunk_seconds, lambda fraction: None,
            flat_first=True)
        refined = refine_boundaries(Alignment(word_intervals, phone_intervals), raw)
        result.words = [_shifted(w, offset) for w in refined.words]
        result.phones = [_shifted(p, offset) for p in refined.phones]
        result.no_phones = [(a + offset, b + offset) for a, b in failed]
        return result

    def align_piece_of(self, recording, words, piece, gain, **options):
        """`align_piece` reading the piece from `recording` here: a worker process gets the
        recording (a file-backed audio.Recording pickles as its path), not the piece's samples."""
        if not words:  # a long pause, cut off as a piece of its own: nothing to read
            return longaudio.PieceResult()
        return self.align_piece(recording[piece.start : piece.end], words, piece, gain, **options)

    def assemble(self, words, plan, results, samples, *, phones=True, chunk_seconds=PHONE_CHUNK_SECONDS, clock=None,
                 progress=None, note=None):
        """The Alignment of a long recording (`samples`, read a window at a time) from its pieces' results,
        with its runs of unplaced words aligned again (clamservices.repair); raises as `align` does.
        `progress(fraction)` and `note(text)` follow the repair, which may search for minutes."""
        progress, note = progress or (lambda fraction: None), note or (lambda text: None)
        length = len(samples)
        whole_recording, clock = clock is None, clock or longaudio.clock
        found = [f for r in results for f in r.found]
        if not _plausible([s for _, s in found]):
            raise self._no_match(words, found, None, clock)
        # The share of words found is judged after the repair: a passage the transcript adds can leave whole
        # pieces without words (the planning found no cut next to it), which the repair places.
        # The note first: the progress that follows writes the status line with it.
        found, word_intervals, phone_intervals, failed = repair.repair(
            self, samples, words, plan.gain, results, length // SAMPLES_PER_FRAME, phones, chunk_seconds,
            lambda fraction, text: (note(text), progress(fraction)), clock)
        note("checking the alignment")
        if len(found) < max(1, MIN_FOUND_SHARE * len(words)):
            raise self._no_match(words, found, None, clock)
        # Where the words that could not be placed are first: a new user found these lines buried under
        # the lists of words that fit poorly.
        warnings = plan.warnings + _unplaced(words, found, length / SAMPLE_RATE, clock)
        placed = {i for i, _ in found}
        doubtful = [i for gap in repair.runs(words, found, confidence, LOW_CONFIDENCE, length // SAMPLES_PER_FRAME)
                    for i in range(gap.first, gap.last) if i in placed]
        warnings += self._fit_warnings(words, found, where=clock, doubtful=doubtful)
        if failed:
            stretches = ", ".join(f"{clock(a)}–{clock(b)}" for a, b in failed)
            warnings.append(f"no phone alignment for {stretches}: the phone tier is empty there; "
                            "the word alignment is kept")
        if whole_recording:
            warnings += untranscribed_speech(samples, word_intervals)
            counts = [self._phone_count(words[i].key) for i, _ in sorted(found)]
            if len(counts) == len(word_intervals):  # the repair's words are its found words, in the transcript's order
                warnings += stretched_words(samples, list(zip(word_intervals, counts)))
        not_found = [w.shown for i, w in enumerate(words) if i not in placed]
        return Alignment(word_intervals, phone_intervals, warnings, not_found)


    def _phone_count(self, key):
        phones = self.phones_of(re.sub(r"\(\d+\)$", "", key))
        return len(phones) if phones else max(1, len(key) - 1)  # about a phone a letter where none is known


@dataclass
class Plan:
    warnings: list
    gain: float
    pieces: list  # [longaudio.Piece]
    windows: int = 0  # window decodes it took to find the cuts


def untranscribed_speech(samples, word_intervals):
    """Warnings about speech before the first aligned word or after the last: a transcript that starts late
    or stops early is otherwise aligned without a word, its recording's rest silently left out."""
    if not word_intervals:
        return []
    warnings, length = [], len(samples)
    first, last = round(word_intervals[0].start * SAMPLE_RATE), round(word_intervals[-1].end * SAMPLE_RATE)
    edges = ((0, first, "before the transcript's first word"), (last, length, "after the transcript's last word"))
    for a, b, where in edges:
        seconds = longaudio.speech_seconds(samples, a, b)
        if seconds >= MIN_UNTRANSCRIBED_SPEECH:
            stretch = f"{longaudio.clock(a / SAMPLE_RATE)}–{longaudio.clock(math.ceil(b / SAMPLE_RATE))}"
            warnings.append(f"{seconds:.{1 if seconds < 10 else 0}f} s of what sounds like speech {where} "
                            f"({stretch}) has no words: if it is speech, the transcript leaves it out; "
                            "add it and align again")
    return warnings


def stretched_words(samples, placed):
    """Warnings about runs of words stretched over far more speech than they take to say: a passage the
    transcript leaves out in the middle is otherwise aligned silently, its neighbours' words smeared over it.

    `placed` is [(word Interval, its number of phones)] in order. Each word's share of the recording runs from
    its start to the next word's start (the last word's to its end), so that speech between words counts.
    """
    if not placed:
        return []
    speech = longaudio.speech_frames(samples)
    before = np.concatenate([[0], np.cumsum(speech)])

    def speech_in(a, b):  # seconds of speech between a and b (seconds)
        first, last = (min(len(speech), max(0, round(t * SAMPLE_RATE / longaudio.VAD_FRAME))) for t in (a, b))
        return before[max(first, last)] - before[first]

    ends = [w.start for w, _ in placed[1:]] + [placed[-1][0].end]
    seconds = [speech_in(w.start, end) * longaudio.VAD_FRAME / SAMPLE_RATE for (w, _), end in zip(placed, ends)]
    # Each word's excess of phones over STRETCHED_PHONE_RATE; the run with the least sum (Kadane) is the most
    # stretched, and is looked for again on either side of it.
    excess = [count - STRETCHED_PHONE_RATE * s for (_, count), s in zip(placed, seconds)]
    found = []

    def look(first, last):
        best, best_at, total, start = 0.0, None, 0.0, first
        for i in range(first, last):
            if total > 0:
                total, start = 0.0, i
            total += excess[i]
            if total < best:
                best, best_at = total, (start, i + 1)
        if best_at is None:
            return
        a, b = best_at
        if sum(seconds[a:b]) >= MIN_STRETCHED_SPEECH:
            found.append(best_at)
        look(first, a)
        look(b, last)

    look(0, len(placed))
    warnings = []
    for a, b in sorted(found):
        words = f"“{placed[a][0].label}”" if b - a == 1 else f"“{placed[a][0].label}” … “{placed[b - 1][0].label}”"
        stretch = f"{longaudio.clock(placed[a][0].start)}–{longaudio.clock(math.ceil(ends[b - 1]))}"
        total = sum(seconds[a:b])
        warnings.append(f"{words} ({stretch}) {'is' if b - a == 1 else 'are'} stretched over "
                        f"{total:.{1 if total < 10 else 0}f} s of speech: the transcript may leave out what is said "
                        "there; check the transcript")
    return warnings


def _unplaced(words, found, seconds, clock=longaudio.clock):
    """Warnings saying where runs of words that were not found belong: between the well-fitting words around them.

    A run ends only at ANCHOR_WORDS well-fitting words in a row (as a piece's cut does): words found
    inside it are mostly chance finds of short words in audio that is not theirs.
    """
    by_index = dict(found)
    warnings, previous_end, run, sure_in_a_row = [], 0.0, [], []
    for index in range(len(words) + 1):
        segment = by_index.get(index)
        if index < len(words) and (segment is None or confidence(segment) < LOW_CONFIDENCE):
            run += sure_in_a_row + [index]
            sure_in_a_row = []
            continue
        sure_in_a_row.append(index)
        if index < len(words) and len(sure_in_a_row) < longaudio.ANCHOR_WORDS:
            continue
        missing = [i for i in run if i not in by_index]
        if len(missing) >= longaudio.MIN_RUN_TO_PLACE:
            first, last = missing[0], missing[-1]
            following = by_index.get(sure_in_a_row[0])
            after = seconds if following is None else following.start_frame / FRAME_RATE
            start, end = clock(previous_end), clock(after)
            # A stretch shorter than a second reads "between 1:38 and 1:38" otherwise.
            where = f"at {start}" if start == end else f"between {start} and {end}"
            warnings.append(
                f"words {first + 1}–{last + 1} (“{words[first].shown}” … “{words[last].shown}”) could not be "
                f"placed {where}; check the transcript there"
            )
        run = []
        if index < len(words):
            previous_end = (by_index[index].end_frame + 1) / FRAME_RATE
            sure_in_a_row = sure_in_a_row[1:]
    return warnings
