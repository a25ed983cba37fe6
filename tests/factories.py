"""Test data built in code: a forced-alignment pipeline shaped like the bundled one, projects, files."""

import io

import numpy as np
import soundfile

from scripts.models import InputTemplate, Pipeline, Profile, Script
from upload.models import Project


def make_fa_pipeline(name="English", unique_dictionary=True, tiered=False):
    """`tiered`: the FA script also takes transcripts as TextGrid or EAF utterance tiers (issue 17 item 3), each
    kind of transcript then optional, as the bundled service's profile has them."""
    script = Script.objects.create(name=f"{name} FA", url="http://127.0.0.1:9/")
    profile = Profile.objects.create(script=script, index=0)
    templates = [
        ("audio", "WaveAudioFormat", "Audio (WAV)", "audio/vnd.wave", "wav", True, False),
        ("audio_flac", "BinaryDataFormat", "Audio (FLAC)", "application/octet-stream", "flac", True, False),
        ("transcript", "PlainTextFormat", "Transcript (UTF-8 text)", "text/plain", "txt", tiered, False),
        ("dictionary", "PlainTextFormat", "Extra pronunciation dictionary", "text/plain", "dict", True, unique_dictionary),
    ]
    if tiered:
        templates += [
            ("transcript_textgrid", "BinaryDataFormat", "Transcript (Praat TextGrid, a tier of utterances per speaker)",
             "application/octet-stream", "TextGrid", True, False),
            ("transcript_eaf", "BinaryDataFormat", "Transcript (ELAN, a tier of utterances per speaker)",
             "application/octet-stream", "eaf", True, False),
        ]
    for order, (tid, fmt, label, mime, ext, optional, unique) in enumerate(templates):
        InputTemplate.objects.create(
            profile=profile, template_id=tid, format=fmt, label=label, mimetype=mime, extension=ext,
            optional=optional, unique=unique, order=order,
        )
    return Pipeline.objects.create(name=name, language="en-us", fa_script=script)


def make_project(owner, name="Austen", pipeline=None):
    return Project.objects.create(owner=owner, name=name, pipeline=pipeline or make_fa_pipeline())


def wav_bytes(seconds=0.5, rate=16000, channels=1):
    buffer = io.BytesIO()
    samples = np.zeros((int(seconds * rate), channels), dtype=np.int16)
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# A minimal TextGrid with one word, as the bundled aligner writes them.
GRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 0.5
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 0.5
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 0.5
            text = "a"
"""
