"""The picture of one result: the waveform with the word and phone tiers under it, as SVG data."""

import numpy as np
import soundfile
from praatio import textgrid

WIDTH = 1000


def waveform(path, columns=WIDTH):
    """[(min, max)] per column, in -1..1, read block by block so long files stay cheap."""
    info = soundfile.info(str(path))
    per_column = max(1, info.frames // columns)
    result = []
    for block in soundfile.blocks(str(path), blocksize=per_column, dtype="float32", always_2d=True):
        mono = block.mean(axis=1)
        result.append((float(mono.min()), float(mono.max())))
        if len(result) >= columns:
            break
    peak = max((max(abs(lo), abs(hi)) for lo, hi in result), default=1.0) or 1.0
    return [(lo / peak, hi / peak) for lo, hi in result], info.frames / info.samplerate


def picture(audio_path, grid_path, width=WIDTH):
    """Everything the template needs to draw the SVG."""
    columns, duration = waveform(audio_path, width)
    grid = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=True)
    scale = width / max(duration, 1e-6)
    tiers = []
    for name in grid.tierNames:
        tier = grid.getTier(name)
        if not hasattr(tier, "entries"):
            continue
        tiers.append(
            {
                "name": name,
                "intervals": [
                    {"x": e.start * scale, "w": max(0.5, (e.end - e.start) * scale), "label": e.label,
                     "start": e.start, "end": e.end, "mid": (e.start + e.end) / 2 * scale,
                     # Labels that do not fit stay in the tooltip only.
                     "fits": (e.end - e.start) * scale >= (7 if name == "words" else 6) * len(e.label)}
                    for e in tier.entries
                ],
            }
        )
    step = width / max(1, len(columns))
    wave = [{"x": i * step, "y1": 50 - hi * 48, "y2": 50 - lo * 48} for i, (lo, hi) in enumerate(columns)]
    ticks = [{"x": t * scale, "t": t} for t in np.arange(0, duration, max(0.5, round(duration / 10, 1)))]
    return {"width": width, "duration": duration, "wave": wave, "tiers": tiers, "ticks": ticks}
