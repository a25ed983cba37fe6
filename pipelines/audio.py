"""A recording for the result editor: sent with HTTP range requests, so that its audio element can seek in a
long recording without downloading all of it first, and the outline of its waveform."""

import mimetypes
import os

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
        return []
    low, high = np.concatenate(lows)[:columns], np.concatenate(highs)[:columns]
    peak = float(max(np.abs(low).max(), np.abs(high).max())) or 1.0
    return list(zip((low / peak).tolist(), (high / peak).tolist()))
