"""CLAM job wrapper of the forced-alignment service (run by CLAM's dispatcher).

Every recording gets its own outcome in report.json (see REPORT_FORMAT in
clamservices/report.py): a bad file never stops the others. The job fails only
when there is nothing to work on; otherwise it succeeds once the report is
written, and per-file failures are entries of the report, not job failures.
Transcripts with words no dictionary knows are listed in oov.txt (for the G2P
step) and left out; numbers and symbols are read as words (clamservices.spoken).
"""

import sys
import traceback
from pathlib import Path

import soundfile

from clamservices.aligner import Aligner, AlignmentError
from clamservices.arpabet import ARPABET_PHONES
from clamservices.audio import AudioError, convert, minutes, unreadable_reason
from clamservices.dictionaries import parse_dictionary
from clamservices.jobs import JobFailed, main
from clamservices.report import Report
from clamservices.spoken import spoken_form
from clamservices.textgrids import write_textgrid
from clamservices.transcripts import TranscriptError, read_transcript, split_hyphenated, words_of


def _pairs(job, report):
    """[(stem, audio path, transcript path)] of complete pairs; the rest become report entries."""
    by_stem = {}
    for path, name in job.inputs("audio", "audio_flac"):
        stem = Path(name).stem
        if stem in by_stem:
            report.not_aligned(name, None, "duplicate",
                               f"there is another recording named {stem} ({by_stem[stem].name}); rename one of them")
            continue
        by_stem[stem] = path
    text_by_stem = {Path(name).stem: path for path, name in job.inputs("transcript")}
    for stem in sorted(set(by_stem) - set(text_by_stem)):
        report.not_aligned(by_stem[stem].name, None, "no_transcript",
                           f"there is no transcript for this recording (add {stem}.txt)")
    for stem in sorted(set(text_by_stem) - set(by_stem)):
        report.not_aligned(None, text_by_stem[stem].name, "no_audio",
                           f"there is no recording for this transcript (add {stem}.wav)")
    return [(stem, by_stem[stem], text_by_stem[stem]) for stem in sorted(by_stem) if stem in text_by_stem]


def _check_audio(path, max_seconds):
    """Raises AudioError (with a report code as `code`) for audio that cannot be aligned."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise _coded(AudioError(f"it cannot be read as audio ({unreadable_reason(exc)})"), "unreadable_audio") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise _coded(AudioError("it contains no audio (0 samples)"), "too_short")
    if info.frames / info.samplerate > max_seconds:
        raise _coded(AudioError(
            f"it is {minutes(info.frames / info.samplerate)} minutes long; the limit is {max_seconds / 60:.0f} minutes; "
            "cut it into shorter recordings"
        ), "too_long")


def _coded(exc, code):
    exc.code = code
    return exc


def _extra_dictionary(job, warnings):
    """Entries of the extra dictionaries; bad lines are skipped with a warning rather than failing every recording."""
    entries = []
    for path, name in job.inputs("dictionary"):
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            warnings.append(f"{name}: the dictionary is not UTF-8 text; it was not used")
            continue
        entries.extend(parse_dictionary(text, phone_set=ARPABET_PHONES, source=name, problems=warnings))
    return entries


def _words(aligner, words, readings):
    """The words to align (hyphenated words split where only the parts are known), and the unknown ones.

    Numbers and symbols get the pronunciation of what they are read as; `readings`
    collects {token: reading} so the report can say how each was read.
    """
    split = [part for word in words for part in split_hyphenated(word, aligner.is_known)]
    unknown = []
    for word in split:
        if word.key in aligner.readings:  # read as words for an earlier recording already
            readings[word.shown] = aligner.readings[word.key]
            continue
        if aligner.is_known(word.key):
            continue
        reading = spoken_form(word.key)
        phones = [aligner.phones_of(w) for w in reading] if reading else None
        if phones and all(phones):
            aligner.add_reading(word.key, [p for ps in phones for p in ps], " ".join(reading))
            readings[word.shown] = " ".join(reading)
        else:
            unknown.append(word.key)
    return split, sorted(set(unknown))


def _align_one(job, aligner, stem, audio, transcript, options, progress):
    """Align one pair and write its TextGrid; returns (entry fields) or raises a coded error."""
    try:
        text = read_transcript(transcript)
    except TranscriptError as exc:
        raise _coded(exc, "unreadable_transcript") from None
    words = words_of(text)
    if not words:
        raise _coded(TranscriptError("the transcript has no words"), "empty_transcript")
    _check_audio(audio, options["max_seconds"])
    readings = {}
    split, unknown = _words(aligner, words, readings)
    if unknown:
        return {"unknown_words": unknown}
    try:
        # A raw 16 kHz file in the job's tmp/ (which the dispatcher empties too, should this process be killed).
        recording = convert(audio, job.data.project / "tmp", max_seconds=options["max_seconds"])
    except AudioError as exc:
        raise _coded(exc, "unreadable_audio") from None
    with recording:
        alignment = aligner.align(recording, split, phones=options["phones"], chunk_seconds=options["chunk_seconds"],
                                  progress=progress)
    duration = recording.duration
    target = f"{stem}.TextGrid"
    write_textgrid(job.outputdir / target, alignment, duration, phones=options["phones"],
                   text_format=options["text_format"], silence_label=options["silence_label"])
    warnings = [f"“{token}” was read as “{reading}”" for token, reading in readings.items()] + alignment.warnings
    return {"textgrid": target, "warnings": warnings, "words": len(split),
            "words_aligned": len(alignment.words), "duration": round(duration, 3)}


def align_all(job):
    options = {
        "phones": bool(job.param("phone_tier", True)),
        "text_format": job.param("textgrid_format", "long"),
        "silence_label": job.param("silence_label", "") or "",
        "chunk_seconds": float(job.param("chunk_seconds", 20.0)),
        "max_seconds": int(job.param("max_minutes", 60)) * 60,
    }
    job.report("Checking the input files")
    report = Report(job.outputdir / "report.json")
    pairs = _pairs(job, report)
    if not pairs and not report.entries:
        raise JobFailed("no recordings or transcripts were sent")
    aligner = Aligner()
    refused = aligner.add_entries(_extra_dictionary(job, report.warnings))
    report.warnings += [f"“{e.word}” cannot be added to the aligner's dictionary; it was left out" for e in refused]
    for warning in report.warnings:
        job.report(f"Warning: {warning}")

    oov = set()
    for number, (stem, audio, transcript) in enumerate(pairs, start=1):
        def progress(fraction, number=number):
            job.report(f"Aligning {audio.name} ({number} of {len(pairs)})",
                       int(100 * (number - 1 + fraction) / len(pairs)))

        progress(0.0)
        try:
            result = _align_one(job, aligner, stem, audio, transcript, options, progress)
        except (AudioError, AlignmentError, TranscriptError) as exc:
            report.not_aligned(audio.name, transcript.name, getattr(exc, "code", "no_match"), str(exc))
            job.report(f"Not aligned: {audio.name}: {exc}")
        except Exception:  # noqa: BLE001 - one file's unexpected failure must not cost the others
            # The traceback goes to stderr (CLAM's error.log, kept for administrators), not into the report.
            print(f"Unexpected error while aligning {audio.name}:\n{traceback.format_exc()}", file=sys.stderr)
            report.not_aligned(audio.name, transcript.name, "internal",
                               "an unexpected error stopped the alignment of this recording; "
                               "an administrator can find the details in the service's error log")
            aligner.reset()
            job.report(f"Not aligned: {audio.name}: unexpected error (see the error log)")
        else:
            if result.get("unknown_words"):
                oov |= set(result["unknown_words"])
                report.not_aligned(audio.name, transcript.name, "unknown_words",
                                   "the transcript has words that are not in the pronunciation dictionary: "
                                   + ", ".join(result["unknown_words"]), unknown_words=result["unknown_words"])
                job.report(f"Not aligned yet: {transcript.name} has words missing from the dictionary")
            else:
                report.aligned(audio.name, transcript.name, **result)
        report.save()  # after every file, so a job stopped by its time limit still tells what it did

    if oov:
        (job.outputdir / "oov.txt").write_text("".join(f"{w}\n" for w in sorted(oov)), encoding="utf-8")
    report.save()
    job.report(report.summary(), 100)


if __name__ == "__main__":
    sys.exit(main(align_all, "alignment.log"))
