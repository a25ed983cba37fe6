"""Reading audio for the aligner: any WAV/FLAC that libsndfile reads, as 16 kHz mono 16-bit.

`convert` streams a file (a block at a time: read, mix to mono, resample,
scale) into a raw 16-bit file and returns a `Recording` that reads slices of it
on demand, so an hour of audio costs a few megabytes of memory instead of
several full-length float copies. What the aligner needs to know about the
whole signal (its peak, how much of it is clipped) is gathered on the way.
"""

import math
import os
import tempfile
import weakref

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16000
BLOCK_FRAMES = 1 << 16  # frames read from the original at a time (0.5 MB of float32 for 44.1 kHz stereo)
CLIP_LEVEL = 32700  # samples at least this loud (either sign) count as clipped


class AudioError(ValueError):
    """The file is not audio we can use; the message says why, for the user."""


_OPEN = weakref.WeakSet()  # every Recording of this process (see Recording._forget_fd)


def _after_fork_in_child():
    for recording in list(_OPEN):
        recording._forget_fd()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Recording:
    """16 kHz mono int16 samples in a raw file: len() is the number of samples, recording[a:b] an int16 array.

    Reads with os.pread rather than a memory map, because the pages of a map that
    the aligner has touched count as the process's resident memory. Picklable (the
    path and the statistics; the file is reopened on first read), so another process
    can read the same samples. The process that made it removes the file (`remove`,
    or leaving a `with` block).
    """

    def __init__(self, path, length, duration, peak, clipped_samples):
        self.path = str(path)
        self.length = length
        self.duration = duration  # seconds of the original file
        self.peak = peak  # largest absolute sample value
        self.clipped_samples = clipped_samples  # samples at ±CLIP_LEVEL or beyond
        self._fd = None
        _OPEN.add(self)

    def __len__(self):
        return self.length

    @property
    def clipped(self):
        """Share of the samples at full scale."""
        return self.clipped_samples / self.length if self.length else 0.0

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a Recording is read by step-less slices, recording[a:b]")
        start, stop, _ = key.indices(self.length)
        count = max(0, stop - start)
        buffer = bytearray(2 * count)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        view, done = memoryview(buffer), 0
        while done < len(buffer):
            read = os.preadv(self._fd, [view[done:]], 2 * start + done)
            if read == 0:
                raise OSError(f"{self.path} is shorter than its {self.length} samples")
            done += read
        return np.frombuffer(buffer, dtype=np.int16)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self):
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def _forget_fd(self):
        """In a forked child: the parent's descriptor is the parent's (reading reopens the file by path),
        so a file the parent removes does not stay on disk until the child ends."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fd"] = None
        return state

    def __del__(self):
        self.close()


def unreadable_reason(exc):
    """libsndfile's reason without the file's path (which says nothing to the user, and is the server's)."""
    return getattr(exc, "error_string", None) or str(exc)


def length(seconds):
    """A length in whole minutes and seconds, rounded up: a file 2.4 s over a 60-minute limit is "60 min 3 s" long,
    never "60 min" (nor "60.0 minutes"), and is "3 s" over it."""
    whole_minutes, rest = divmod(math.ceil(seconds - 1e-9), 60)
    return " ".join(part for part in (f"{whole_minutes} min" if whole_minutes else "", f"{rest} s" if rest else "")
                    if part) or "0 s"


def _info(path, max_seconds):
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot read it as audio ({unreadable_reason(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError("it contains no audio (0 samples)")
    duration = info.frames / info.samplerate
    if max_seconds is not None and duration > max_seconds:
        minutes, rest = divmod(max_seconds, 60)
        limit = f"{minutes:g} minute{'' if minutes == 1 else 's'}" if minutes and not rest else length(max_seconds)
        raise AudioError(
            f"it is {length(duration)} long, {length(duration - max_seconds)} more than the {limit} this service "
            "aligns per file"
        )


def _int16(mono):
    return (np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16)


def convert(path, folder, *, max_seconds=None):
    """A `Recording` of `path` (16 kHz mono int16) in a new raw file in `folder`; AudioError says why not.

    The raw file is removed again when conversion fails; otherwise by the caller (`with convert(...) as r:`).
    """
    _info(path, max_seconds)
    os.makedirs(folder, exist_ok=True)
    fd, raw = tempfile.mkstemp(prefix="audio-", suffix=".s16", dir=folder)
    frames = length = peak = clipped = 0
    try:
        with os.fdopen(fd, "wb") as out, soundfile.SoundFile(str(path)) as source:
            rate = source.samplerate
            resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ") \
                if rate != SAMPLE_RATE else None

            def write(block):
                nonlocal length, peak, clipped
                if len(block):
                    samples = _int16(block)
                    peak = max(peak, int(samples.max()), -int(samples.min()))
                    clipped += int(np.count_nonzero(samples >= CLIP_LEVEL) + np.count_nonzero(samples <= -CLIP_LEVEL))
                    out.write(samples.tobytes())
                    length += len(samples)

            while True:
                block = source.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                if not len(block):
                    break
                frames += len(block)
                mono = block.mean(axis=1)
                write(resampler.resample_chunk(mono) if resampler else mono)
            if resampler:
                write(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        os.unlink(raw)
        raise AudioError(f"cannot read it as audio ({unreadable_reason(exc)})") from None
    except BaseException:
        os.unlink(raw)
        raise
    if frames == 0 or length == 0:
        os.unlink(raw)
        raise AudioError("it contains no audio (0 samples)")
    return Recording(raw, length, frames / rate, peak, clipped)


def load_audio(path, *, max_seconds=None):
    """Return (samples as int16 at 16 kHz mono, duration in seconds of the original), all in memory: for short files."""
    with tempfile.TemporaryDirectory(prefix="equestria-audio-") as folder, \
            convert(path, folder, max_seconds=max_seconds) as recording:
        return recording[:], recording.duration
