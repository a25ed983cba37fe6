"""Reading audio for the aligner: any WAV/FLAC that libsndfile reads, as 16 kHz mono 16-bit."""

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16000


class AudioError(ValueError):
    """The file is not audio we can use; the message says why, for the user."""


def load_audio(path, *, max_seconds=None):
    """Return (samples as int16 at 16 kHz mono, duration in seconds of the original)."""
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot read it as audio ({exc})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError("it contains no audio (0 samples)")
    duration = info.frames / info.samplerate
    if max_seconds is not None and duration > max_seconds:
        raise AudioError(
            f"it is {duration / 60:.1f} minutes long; this service aligns at most {max_seconds / 60:.0f} minutes per file"
        )
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot read it as audio ({exc})") from None
    if len(data) == 0:
        raise AudioError("it contains no audio (0 samples)")
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    samples = (np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16)
    return samples, len(data) / rate
