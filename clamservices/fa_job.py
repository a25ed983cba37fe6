"""CLAM job wrapper of the forced-alignment service (run by CLAM's dispatcher).

First every input is checked (pairs, audio headers, transcripts, the extra
dictionary), so that a job with a bad file fails at once with every reason;
then transcripts with words no dictionary knows are listed in oov.txt and left
out; then the rest are aligned one by one.
"""

import sys
from pathlib import Path

import soundfile

from clamservices.aligner import Aligner, AlignmentError
from clamservices.arpabet import ARPABET_PHONES
from clamservices.audio import AudioError, load_audio
from clamservices.dictionaries import DictionaryError, parse_dictionary
from clamservices.jobs import JobFailed, main
from clamservices.textgrids import write_textgrid
from clamservices.transcripts import TranscriptError, read_transcript, split_hyphenated, words_of


def _pairs(job):
    audio = job.inputs("audio", "audio_flac")
    transcripts = job.inputs("transcript")
    problems = []
    by_stem = {}
    for path, name in audio:
        stem = Path(name).stem
        if stem in by_stem:
            problems.append(f"{by_stem[stem].name} and {name} are two recordings named {stem!r}")
        by_stem[stem] = path
    text_by_stem = {Path(name).stem: path for path, name in transcripts}
    for stem in sorted(set(by_stem) - set(text_by_stem)):
        problems.append(f"audio without transcript: {by_stem[stem].name} (add {stem}.txt)")
    for stem in sorted(set(text_by_stem) - set(by_stem)):
        problems.append(f"transcript without audio: {text_by_stem[stem].name} (add {stem}.wav)")
    if not audio and not transcripts:
        problems.append("no input files")
    return [(stem, by_stem[stem], text_by_stem[stem]) for stem in sorted(by_stem) if stem in text_by_stem], problems


def _check(job, pairs, max_seconds):
    problems, words = [], {}
    for stem, audio, transcript in pairs:
        try:
            info = soundfile.info(str(audio))
            if info.frames <= 0:
                raise AudioError("it contains no audio (0 samples)")
            if info.frames / info.samplerate > max_seconds:
                raise AudioError(
                    f"it is {info.frames / info.samplerate / 60:.1f} minutes long; "
                    f"the limit is {max_seconds / 60:.0f} minutes"
                )
        except AudioError as exc:
            problems.append(f"{audio.name}: {exc}")
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            problems.append(f"{audio.name}: cannot read it as audio ({exc})")
        try:
            words[stem] = words_of(read_transcript(transcript))
            if not words[stem]:
                problems.append(f"{transcript.name}: the transcript is empty")
        except TranscriptError as exc:
            problems.append(f"{transcript.name}: {exc}")
    return words, problems


def _extra_dictionary(job):
    entries = []
    for path, name in job.inputs("dictionary"):
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise JobFailed(f"{name}: the dictionary is not UTF-8 text") from None
        try:
            entries.extend(parse_dictionary(text, phone_set=ARPABET_PHONES, source=name))
        except DictionaryError as exc:
            raise JobFailed(str(exc)) from None
    return entries


def align_all(job):
    phones = bool(job.param("phone_tier", True))
    text_format = job.param("textgrid_format", "long")
    silence_label = job.param("silence_label", "") or ""
    chunk_seconds = float(job.param("chunk_seconds", 20.0))
    max_seconds = int(job.param("max_minutes", 60)) * 60

    job.report("Checking the input files")
    pairs, problems = _pairs(job)
    words, more = _check(job, pairs, max_seconds)
    problems += more
    entries = _extra_dictionary(job)
    if problems:
        raise JobFailed("; ".join(problems))

    aligner = Aligner()
    aligner.add_entries(entries)
    if entries:
        job.report(f"Added {len(entries)} pronunciations from the extra dictionary")

    oov, to_align = set(), []
    for stem, audio, transcript in pairs:
        split = [part for word in words[stem] for part in split_hyphenated(word, aligner.is_known)]
        missing = {w.key for w in split if not aligner.is_known(w.key)}
        if missing:
            oov |= missing
            job.report(f"Not aligned: {transcript.name} has words missing from the dictionary: {', '.join(sorted(missing))}")
        else:
            to_align.append((stem, audio, split))
    if oov:
        (job.outputdir / "oov.txt").write_text("".join(f"{w}\n" for w in sorted(oov)), encoding="utf-8")

    failures = []
    for number, (stem, audio, split) in enumerate(to_align, start=1):
        job.report(f"Aligning {audio.name} ({number} of {len(to_align)})", int(100 * (number - 1) / max(1, len(to_align))))
        try:
            samples, duration = load_audio(str(audio), max_seconds=max_seconds)
            alignment = aligner.align(samples, split, phones=phones, chunk_seconds=chunk_seconds)
        except (AudioError, AlignmentError) as exc:
            failures.append(f"{audio.name}: {exc}")
            job.report(f"Could not align {audio.name}: {exc}")
            continue
        target = job.outputdir / f"{stem}.TextGrid"
        write_textgrid(target, alignment, duration, phones=phones, text_format=text_format, silence_label=silence_label)

    skipped = len(pairs) - len(to_align)
    summary = f"Aligned {len(to_align) - len(failures)} of {len(pairs)} recordings"
    if skipped:
        summary += f"; {skipped} not aligned because of {len(oov)} word(s) missing from the dictionary (see oov.txt)"
    if failures:
        raise JobFailed(summary + ". " + "; ".join(failures))
    job.report(summary, 100)


if __name__ == "__main__":
    sys.exit(main(align_all, "alignment.log"))
