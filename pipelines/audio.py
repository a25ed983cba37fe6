"""A recording for the result editor: sent with HTTP range requests, so that its audio element can seek in a
long recording without downloading all of it first; the outline of its waveform (computed once and kept beside
the run's results, as reading an hour's samples takes seconds); and the detail of a stretch of it, for the
editor zoomed in further than the outline goes."""

import contextlib
import glob
import math
import mimetypes
import os
import re
import tempfile

import numpy as np
import soundfile
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from werkzeug.http import parse_range_header  # werkzeug comes with clam (Flask); its parser follows RFC 9110

CHUNK = 64 * 1024
# Frames read at once for the waveform's outline (4 MB of float32 per channel): its memory stays the same
# whatever the recording's length.
BLOCK_FRAMES = 1 << 20


def _part(path, start, length):
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0:
            block = handle.read(min(CHUNK, length))
            if not block:
                return
            length -= len(block)
            yield block


def ranged_response(request, path, name):
    """The file at `path`: whole (200), or the one byte range the Range header asks for (206), or 416 when that
    range lies outside the file. A Range header that does not parse, or asks for several ranges, is answered
    with the whole file, as RFC 9110 allows."""
    size = os.path.getsize(path)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    header = request.headers.get("Range")
    ranges = parse_range_header(header) if header else None
    if ranges is None or ranges.units != "bytes" or len(ranges.ranges) != 1:
        response = FileResponse(open(path, "rb"), content_type=content_type)
    else:
        start, stop = ranges.ranges[0]
        if start < 0 and stop is None and size:  # a suffix longer than the file is all of it (RFC 9110 §14.1.2)
            bounds = (max(0, size + start), size)
        else:
            bounds = ranges.range_for_length(size)
        if bounds is None:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
        else:
            start, stop = bounds
            response = StreamingHttpResponse(_part(path, start, stop - start), status=206, content_type=content_type)
            response["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
            response["Content-Length"] = str(stop - start)
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private"
    return response


def peaks(path, columns):
    """[(min, max)] of `columns` equal stretches of the recording (mono, -1..1 of its loudest sample), for the
    editor's waveform. Read in large blocks and reduced with numpy: pictures.waveform's block per column takes
    over a minute for an hour's recording, this a few seconds."""
    columns_read, _ = _outline(path, columns)
    return [tuple(pair) for pair in columns_read.tolist()]


# Bumped when what `outline` keeps changes, so that an outline kept by older code is not read.
OUTLINE_FORMAT = 1


def outline(path, folder, columns):
    """(peaks, loudest) of the recording at `path`: `peaks` as `peaks()` gives them (an array of [min, max]),
    `loudest` the sample they were divided by. Kept in `folder` under the recording's name, size and modification
    time, so that the editor reads an hour's outline (a few seconds of work) once; a changed recording (deleted and
    uploaded again under its name) is read again, and its old outline removed."""
    stat = os.stat(path)
    name = os.path.basename(str(path))
    kept = os.path.join(folder, f"{name}.{stat.st_size}.{stat.st_mtime_ns}.{columns}.v{OUTLINE_FORMAT}.npz")
    try:
        with np.load(kept) as stored:
            return stored["peaks"], float(stored["loudest"])
    except (OSError, ValueError, KeyError):
        pass  # not kept yet (or a partial file from a crash): computed below
    columns_read, loudest = _outline(path, columns)
    os.makedirs(folder, exist_ok=True)
    # Written aside and renamed: two tabs opening the same result must not read a half-written file.
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as handle:
        np.savez(handle, peaks=columns_read, loudest=np.float32(loudest))
    os.replace(handle.name, kept)
    earlier = re.compile(re.escape(name) + r"\.[0-9]+\.[0-9]+\.[0-9]+\.v[0-9]+\.npz")  # not "a.wav.b.wav"'s
    for old in glob.glob(os.path.join(glob.escape(folder), glob.escape(name) + ".*.npz")):
        if old != kept and earlier.fullmatch(os.path.basename(old)):
            with contextlib.suppress(FileNotFoundError):  # another request removed it first
                os.remove(old)
    return columns_read, loudest


def _outline(path, columns):
    info = soundfile.info(str(path))
    per_column = max(1, info.frames // max(1, columns))
    lows, highs = [], []
    # A whole number of columns per block, so that no column straddles two blocks.
    blocksize = max(1, BLOCK_FRAMES // per_column) * per_column
    for block in soundfile.blocks(str(path), blocksize=blocksize, dtype="float32", always_2d=True):
        mono = block.mean(axis=1)
        whole = len(mono) // per_column * per_column
        if whole:
            stretches = mono[:whole].reshape(-1, per_column)
            lows.append(stretches.min(axis=1))
            highs.append(stretches.max(axis=1))
    if not lows:
        return np.zeros((0, 2), dtype=np.float32), 1.0
    low, high = np.concatenate(lows)[:columns], np.concatenate(highs)[:columns]
    loudest = float(max(np.abs(low).max(), np.abs(high).max())) or 1.0
    return np.stack([low / loudest, high / loudest], axis=1).astype(np.float32), loudest


def detail(path, start, end, columns):
    """(start, end, peaks, samples) of the stretch `start`–`end` seconds of the recording at `path` (clamped to
    it), in at most `columns` equal columns of whole samples, each its [min, max] in -1..1 of full scale; fewer
    columns when the stretch has fewer samples, one sample each (`samples` True): zoomed in to a few periods, the
    editor draws the samples themselves. Only the stretch is read, in blocks: the work and memory do not grow with
    the recording."""
    info = soundfile.info(str(path))
    first = min(info.frames, max(0, math.floor(start * info.samplerate)))
    last = min(info.frames, max(first, math.ceil(end * info.samplerate)))
    frames = last - first
    columns = min(columns, frames)
    if columns < 1:
        return first / info.samplerate, last / info.samplerate, np.zeros((0, 2), dtype=np.float32), True
    # Column c holds the frames edges[c] to edges[c + 1]: every column at least one frame, as columns <= frames.
    edges = first + np.arange(columns + 1, dtype=np.int64) * frames // columns
    lows = np.full(columns, np.inf, dtype=np.float32)
    highs = np.full(columns, -np.inf, dtype=np.float32)
    at = first
    for block in soundfile.blocks(str(path), blocksize=BLOCK_FRAMES, start=first, stop=last, dtype="float32",
                                  always_2d=True):
        mono = block.mean(axis=1)
        # The columns this block touches; the first may have begun in the block before.
        c0 = int(np.searchsorted(edges, at, side="right")) - 1
        c1 = int(np.searchsorted(edges, at + len(mono), side="left"))
        starts = np.maximum(edges[c0:c1], at) - at
        lows[c0:c1] = np.minimum(lows[c0:c1], np.minimum.reduceat(mono, starts))
        highs[c0:c1] = np.maximum(highs[c0:c1], np.maximum.reduceat(mono, starts))
        at += len(mono)
    return first / info.samplerate, last / info.samplerate, np.stack([lows, highs], axis=1), columns == frames
