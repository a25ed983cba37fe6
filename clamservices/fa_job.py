"""CLAM job wrapper of the forced-alignment service (run by CLAM's dispatcher).

Every recording gets its own outcome in report.json (see REPORT_FORMAT in
clamservices/report.py): a bad file never stops the others. The job fails only
when there is nothing to work on; otherwise it succeeds once the report is
written, and per-file failures are entries of the report, not job failures.
Transcripts with words no dictionary knows are listed in oov.txt (for the G2P
step) and left out; numbers and symbols are read as words (clamservices.spoken).
A transcript may be plain text or utterance tiers (a TextGrid or EAF): then
each utterance is aligned within its interval (clamservices.tiered).

With more than one recording, or a recording longer than one piece (see
clamservices.longaudio), the work goes to a pool of processes (clamservices.pool):
the recordings, and the pieces of a long one, are aligned in parallel while this
process reads the next recording and finds where to cut it. Progress is the
share of the job's audio aligned.
"""

import dataclasses
import signal
import sys
import time
import traceback
from pathlib import Path

import soundfile

from clamservices import languages, longaudio, pool, tiered
from clamservices.aligner import PIECE_SECONDS, PLAN_SHARE, REPAIR_SHARE, Aligner, AlignmentError
from clamservices.arpabet import ARPABET_PHONES
from clamservices.audio import SAMPLE_RATE, AudioError, convert, length, unreadable_reason
from clamservices.dictionaries import Entry, parse_dictionary
from clamservices.jobs import JobFailed, main
from clamservices.report import Report
from clamservices.spoken import spoken_form
from clamservices.textgrids import write_textgrid, write_tiered_textgrid
from clamservices.transcripts import TranscriptError, read_transcript, dictionary_form, words_of
from clamservices.utterances import NoWords, is_tiered, read_tiers

# Plain text, or utterance tiers (clamservices.tiered): a recording is paired with one of them, by name.
TRANSCRIPTS = ("transcript", "transcript_textgrid", "transcript_eaf")


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
    text_by_stem = {}
    for path, name in job.inputs(*TRANSCRIPTS):
        stem = Path(name).stem
        if stem in text_by_stem:
            report.not_aligned(None, name, "duplicate",
                               f"there is another transcript named {stem} ({text_by_stem[stem].name}); "
                               "remove one of them")
            continue
        text_by_stem[stem] = path
    for stem in sorted(set(by_stem) - set(text_by_stem)):
        report.not_aligned(by_stem[stem].name, None, "no_transcript",
                           f"there is no transcript for this recording (add {stem}.txt, {stem}.TextGrid or "
                           f"{stem}.eaf)")
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
    duration = info.frames / info.samplerate
    if duration > max_seconds:
        raise _coded(AudioError(
            f"it is {length(duration)} long, {length(duration - max_seconds)} more than the limit of "
            f"{max_seconds / 60:g} minute{'' if max_seconds == 60 else 's'} (Longest recording): cut it into shorter "
            "recordings, or run it with a higher limit"
        ), "too_long")


def _coded(exc, code):
    exc.code = code
    return exc


def _extra_dictionary(job, warnings, language="en-us", ipa=None):
    """Entries of the extra dictionaries; bad lines are skipped with a warning rather than failing every recording.

    For a mapped language the entries are in its phones (IPA): they are checked against them, kept in
    `ipa` ({word: [pronunciation]}) for the phone tier, and given to the aligner in ARPAbet.
    """
    native = languages.LANGUAGES[language].native
    entries = []
    for path, name in job.inputs("dictionary"):
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            warnings.append(f"{name}: the dictionary is not UTF-8 text; it was not used")
            continue
        if not native:  # stress marks (ˈa), as gruut writes them: the aligner does not use stress
            text = languages.phonemap.bare(text)
        phone_set = ARPABET_PHONES if native else languages.phones(language)
        entries.extend(parse_dictionary(text, phone_set=phone_set, source=name, problems=warnings))
    if native:
        return entries
    for entry in entries:
        ipa.setdefault(entry.word, []).append(entry.phones)
    return [Entry(e.word, tuple(languages.arpabet(language, e.phones))) for e in entries]


def _words(aligner, words, readings, spoken=True):
    """The words to align (in their dictionary form: transcripts.dictionary_form), and the unknown ones.

    Numbers and symbols get the pronunciation of what they are read as (`spoken`: in English only,
    clamservices.spoken; in other languages they are unknown words, which G2P reads in the language);
    `readings` collects {token: reading} so the report can say how each was read.
    """
    split = [part for word in words for part in dictionary_form(word, aligner.is_known)]
    unknown = []
    for word in split:
        if word.key in aligner.readings:  # read as words for an earlier recording already
            readings[word.shown] = aligner.readings[word.key]
            continue
        if aligner.is_known(word.key):
            continue
        reading = spoken_form(word.key) if spoken else None
        phones = [aligner.phones_of(w) for w in reading] if reading else None
        if phones and all(phones):
            aligner.add_reading(word.key, [p for ps in phones for p in ps], " ".join(reading))
            readings[word.shown] = " ".join(reading)
        else:
            unknown.append(word.key)
    return split, sorted(set(unknown))


def _prepare_one(job, aligner, audio, transcript, options):
    """(split words, readings, unknown words, recording, duration) of one pair, or raises a coded error;
    recording (clamservices.audio.Recording: a raw file the caller removes) is None when there are unknown words."""
    try:
        text = read_transcript(transcript)
    except TranscriptError as exc:
        raise _coded(exc, "unreadable_transcript") from None
    words = words_of(text)
    if not words:
        raise _coded(TranscriptError("the transcript has no words"), "empty_transcript")
    _check_audio(audio, options["max_seconds"])
    readings = {}
    split, unknown = _words(aligner, words, readings, spoken=options["language"] == "en-us")
    if unknown:
        return split, readings, unknown, None, 0.0
    try:
        # A raw 16 kHz file in the job's tmp/ (which the dispatcher empties too, should this process be killed).
        recording = convert(audio, job.data.project / "tmp", max_seconds=options["max_seconds"])
    except AudioError as exc:
        raise _coded(exc, "unreadable_audio") from None
    return split, readings, unknown, recording, recording.duration


def _prepare_tiered(job, aligner, audio, transcript, options):
    """A tiered.Prepared of a pair whose transcript is a TextGrid or EAF, or raises a coded error (as `_prepare_one`)."""
    try:
        tiers = read_tiers(transcript)
    except NoWords as exc:
        raise _coded(exc, "empty_transcript") from None
    except TranscriptError as exc:
        raise _coded(exc, "unreadable_transcript") from None
    _check_audio(audio, options["max_seconds"])
    readings, unknown, items = {}, set(), []
    for tier in tiers:
        for utterance in tier.utterances:
            split, missing = _words(aligner, utterance.words, readings,
                                    spoken=options["language"] == "en-us")
            unknown.update(missing)
            items.append(tiered.Item(len(items), tier.name, utterance.start, utterance.end, split))
    prepared = tiered.Prepared(tiers, items, readings, sorted(unknown))
    if unknown:
        return prepared
    try:
        prepared.recording = convert(audio, job.data.project / "tmp", max_seconds=options["max_seconds"])
    except AudioError as exc:
        raise _coded(exc, "unreadable_audio") from None
    prepared.duration = prepared.recording.duration
    prepared.outside = tiered.place(items, len(prepared.recording))
    try:
        tiered.check_total(prepared)
    except AlignmentError:
        prepared.recording.remove()
        raise
    return prepared


def _finish_tiered(job, stem, prepared, outcomes, options):
    """Write the TextGrid of a tiered recording's utterance outcomes; returns the report entry's fields."""
    alignments, warnings = tiered.combine(prepared, outcomes)
    if options["phones"] and options["language"] != "en-us":
        for name, alignment in alignments.items():
            split = [w for item in prepared.items if item.tier == name for w in item.words]
            alignments[name] = _language_phones(alignment, split, options)
    target = f"{stem}.TextGrid"
    # Counted as written: what the TextGrid has is what the report says was aligned.
    aligned = write_tiered_textgrid(job.outputdir / target, [(t, alignments.get(t.name)) for t in prepared.tiers],
                                    prepared.duration, phones=options["phones"], text_format=options["text_format"],
                                    silence_label=options["silence_label"])
    warnings = [f"“{token}” was read as “{reading}”" for token, reading in prepared.readings.items()] + warnings
    return {"textgrid": target, "warnings": warnings, "words": sum(len(i.words) for i in prepared.items),
            "words_aligned": aligned, "duration": round(prepared.duration, 3)}


def _align_tiered(job, aligner, stem, audio, transcript, options, progress):
    """`_align_one` of a pair whose transcript is a TextGrid or EAF: its utterances one after the other."""
    prepared = _prepare_tiered(job, aligner, audio, transcript, options)
    if prepared.unknown:
        return {"unknown_words": prepared.unknown}
    with prepared.recording:
        outcomes = tiered.align_group(aligner, prepared.recording, prepared.placed, options, progress)
    return _finish_tiered(job, stem, prepared, outcomes, options)


def _finish_one(job, stem, alignment, split, readings, duration, options):
    """Write the TextGrid of an alignment; returns the report entry's fields."""
    target = f"{stem}.TextGrid"
    if options["phones"] and options["language"] != "en-us":
        alignment = _language_phones(alignment, split, options)
    write_textgrid(job.outputdir / target, alignment, duration, phones=options["phones"],
                   text_format=options["text_format"], silence_label=options["silence_label"])
    warnings = [f"“{token}” was read as “{reading}”" for token, reading in readings.items()] + alignment.warnings
    return {"textgrid": target, "warnings": warnings, "words": len(split),
            "words_aligned": len(alignment.words), "duration": round(duration, 3)}


def _align_one(job, aligner, stem, audio, transcript, options, progress, note=None):
    """Align one pair and write its TextGrid; returns (entry fields) or raises a coded error."""
    if is_tiered(transcript.name):
        return _align_tiered(job, aligner, stem, audio, transcript, options, progress)
    split, readings, unknown, recording, duration = _prepare_one(job, aligner, audio, transcript, options)
    if unknown:
        return {"unknown_words": unknown}
    with recording:
        alignment = aligner.align(recording, split, phones=options["phones"], chunk_seconds=options["chunk_seconds"],
                                  progress=progress, piece_seconds=options["piece_seconds"], note=note)
    return _finish_one(job, stem, alignment, split, readings, duration, options)


def _language_phones(alignment, split, options):
    """The alignment with the phone tier in the mapped language's own phones (clamservices.languages)."""
    language, lexicon, extra = options["language"], options["lexicon"], options["ipa"]
    keys = {w.shown: w.key for w in split}

    def variants(word):
        key = keys.get(word.label, word.label.lower())
        return [languages.phonemap.to_arpabet(language, p) for p in extra.get(key, []) + lexicon.ipa(key)]

    alignment = languages.ipa_alignment(alignment, variants)
    if options["alphabet"] == "xsampa":
        return dataclasses.replace(alignment, phones=[
            dataclasses.replace(p, label=languages.xsampa(p.label)) for p in alignment.phones])
    return alignment


INTERNAL = ("an unexpected error stopped the alignment of this recording; "
            "an administrator can find the details in the service's error log")


class _Progress:
    """Status lines: the files being aligned (several at once in the pool) with the share of each done, the
    files done, and the job's completion as the share of all its audio aligned (never going back).

    A long recording whose transcript does not match it in places is searched for minutes (window decodes
    to cut it, then the repair of the words its pieces could not place) with little to show in shares: a
    status that stood still that long was taken for a hang and cancelled. `note` adds what is being done to
    the file's line ("searching 12:30–15:00 … (window 4 of 9)"). Each report appends a line to CLAM's status
    file (and this job's log), so a line that differs only in its note is written at most every
    NOTE_SECONDS; a new share or count is written at once.
    """

    def __init__(self, job, pairs):
        self.job = job
        self.count = len(pairs)
        self.seconds = {stem: _seconds(audio) for stem, audio, _ in pairs}
        self.total = sum(self.seconds.values()) or 1.0
        self.share = dict.fromkeys(self.seconds, 0.0)
        self.aligning = {}  # stem → name of the files begun and not done, in the order they began
        self.done = set()
        self.notes = {}  # stem → what is being done now, where it takes long
        self.written, self.written_at = None, float("-inf")  # (line, completion, line without notes)

    def update(self, stem, name, fraction):
        if stem in self.done:  # a late report of a file already counted
            return
        self.share[stem] = max(self.share[stem], min(1.0, fraction))
        self.aligning.setdefault(stem, name)
        self._report()

    def note(self, stem, name, text):
        """Say what is being done to the file (None: nothing worth saying)."""
        if stem in self.done:
            return
        self.aligning.setdefault(stem, name)
        if text is None:
            self.notes.pop(stem, None)
        else:
            self.notes[stem] = text
        self._report()

    def finish(self, stem):
        """Count the file done (said at once, not with the next file's news); a second call changes nothing."""
        if stem in self.done:
            return
        self.share[stem] = 1.0
        self.done.add(stem)
        self.aligning.pop(stem, None)
        self.notes.pop(stem, None)
        self._report()

    def _report(self):
        done = sum(self.seconds[s] * f for s, f in self.share.items()) / self.total
        completion = max(self.job.completion, min(99, int(100 * done)))
        line, plain = self._line(), self._line(notes=False)
        if self.written is not None:
            if (line, completion) == self.written[:2]:
                return
            if (plain, completion) == (self.written[2], self.written[1]) and \
                    time.monotonic() - self.written_at < NOTE_SECONDS:
                return
        self.written, self.written_at = (line, completion, plain), time.monotonic()
        self.job.report(line, completion)

    def _line(self, notes=True):
        files = f"{len(self.done)} of {self.count} files done"
        stems = list(self.aligning)
        if not stems:
            return f"Aligning: {files}"
        seconds = sum(self.seconds[s] for s in stems)
        aligned = sum(self.seconds[s] * self.share[s] for s in stems)
        unit, scale = ("min", 60) if seconds >= 120 else ("s", 1)
        # The share and the minutes done both rounded down, so they agree ("0 % (1 of 60 min)" read as a
        # contradiction); all done is the whole length, whichever way that was rounded ("100 % (2 of 3 min)").
        length = f"{seconds / scale:.0f}"
        amount = f"({length if aligned >= seconds else int(aligned / scale)} of {length} {unit})"
        noted = [s for s in stems if s in self.notes] if notes else []
        if len(stems) == 1:
            doing = f", {self.notes[stems[0]]}" if noted else ""
            return (f"Aligning {_short(self.aligning[stems[0]])}: {int(100 * self.share[stems[0]])} % {amount}"
                    f"{doing}; {files}")
        # Of several files, the note of the one that began first (the others' come when it is done).
        doing = f", {_short(self.aligning[noted[0]])}: {self.notes[noted[0]]}" if noted else ""
        # A bounded line however many files run at once: the first few by name, the others counted.
        named = ", ".join(f"{_short(self.aligning[s])} {int(100 * self.share[s])} %" for s in stems[:NAMED_FILES])
        more = f" and {len(stems) - NAMED_FILES} more" if len(stems) > NAMED_FILES else ""
        return f"Aligning {len(stems)} files: {named}{more} {amount}{doing}; {files}"


NOTE_SECONDS = 1.0  # a status line that differs from the last one only in its note: at most this often
NAMED_FILES = 3  # files named in a status line; more being aligned at once are counted
NAME_CHARACTERS = 32  # a file's name in a status line, shortened in the middle beyond this


def _short(name):
    if len(name) <= NAME_CHARACTERS:
        return name
    half = (NAME_CHARACTERS - 1) // 2
    return f"{name[:half]}…{name[-(NAME_CHARACTERS - 1 - half):]}"


def _seconds(path):
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError):
        return 0.0
    return info.frames / info.samplerate if info.samplerate > 0 else 0.0


def _record(job, report, aligner, audio, transcript, outcome, oov):
    """Put one recording's outcome in the report: ("ok", fields), ("error", exc) or ("internal",)."""
    if outcome[0] == "internal":
        report.not_aligned(audio.name, transcript.name, "internal", INTERNAL)
        aligner.reset()
        job.report(f"Not aligned: {audio.name}: unexpected error (see the error log)")
    elif outcome[0] == "error":
        exc = outcome[1]
        report.not_aligned(audio.name, transcript.name, getattr(exc, "code", "no_match"), str(exc))
        job.report(f"Not aligned: {audio.name}: {exc}")
    elif outcome[1].get("unknown_words"):
        unknown = outcome[1]["unknown_words"]
        oov |= set(unknown)
        report.not_aligned(audio.name, transcript.name, "unknown_words",
                           "the transcript has words that are not in the pronunciation dictionary: "
                           + ", ".join(unknown), unknown_words=unknown)
        job.report(f"Not aligned yet: {transcript.name} has words missing from the dictionary")
    else:
        report.aligned(audio.name, transcript.name, **outcome[1])
    report.save()  # after every file, so a job stopped by its time limit still tells what it did


def _guarded(call, audio):
    """("ok", call()), ("error", exc) for an expected failure, or ("internal",) with the traceback on stderr."""
    try:
        return ("ok", call())
    except (AudioError, AlignmentError, TranscriptError) as exc:
        return ("error", exc)
    except Exception:  # noqa: BLE001 - one file's unexpected failure must not cost the others
        # The traceback goes to stderr (CLAM's error.log, kept for administrators), not into the report.
        print(f"Unexpected error while aligning {audio.name}:\n{traceback.format_exc()}", file=sys.stderr)
        return ("internal",)


def _align_in_turn(job, report, aligner, pairs, options, oov):
    """One recording after the other in this process (a single short recording: no pool to start)."""
    progress = _Progress(job, pairs)
    try:
        for stem, audio, transcript in pairs:
            progress.update(stem, audio.name, 0.0)
            note = lambda text, stem=stem, name=audio.name: progress.note(stem, name, text)  # noqa: E731
            aligner.doing = note  # the word pass's searches of a short recording (a long one's: per piece)
            outcome = _guarded(lambda: _align_one(job, aligner, stem, audio, transcript, options,
                                                  lambda fraction: progress.update(stem, audio.name, fraction),
                                                  note), audio)
            _record(job, report, aligner, audio, transcript, outcome, oov)
            progress.finish(stem)
    finally:
        aligner.doing = lambda text: None


class _Stopped(BaseException):
    """The dispatcher sent SIGTERM: end the job, and its processes with it (not an Exception: no
    per-file handler may take it for that file's failure)."""


class _Abandoned(BaseException):
    """A piece of the recording being planned failed: the recording is finished, its planning stops
    (not an Exception: `_guarded` must not take it for the recording's failure)."""


def _share(state):
    """A long recording's share done: PLAN_SHARE for finding its cuts, REPAIR_SHARE for placing again the words
    its pieces could not place, the rest for aligning its pieces."""
    return (PLAN_SHARE * state["planned"] + REPAIR_SHARE * state["repaired"]
            + (1 - PLAN_SHARE - REPAIR_SHARE) * state["aligned"] / max(1, state["length"]))


def _stop(signum, frame):
    raise _Stopped()


def _align_in_parallel(job, report, aligner, pairs, options, oov, processes):
    """The recordings and the pieces of long ones aligned by a pool of processes (see the module docstring)."""
    progress = _Progress(job, pairs)
    workers = pool.Pool(processes, aligner.lexicon)
    # stem → {"audio", "transcript", "split", "readings", "duration", "plan", "results", "left"}, or for a
    # tiered transcript {"audio", "transcript", "recording", "tiered", "outcomes", "left", "aligned", …}
    files = {}
    previous = signal.signal(signal.SIGTERM, _stop)

    def finish(stem, outcome):
        state = files.pop(stem)
        if state.get("recording") is not None:
            state["recording"].remove()
        if outcome[0] == "ok" and not isinstance(outcome[1], dict):
            alignment = outcome[1]
            outcome = _guarded(lambda: _finish_one(job, stem, alignment, state["split"], state["readings"],
                                                   state["duration"], options), state["audio"])
        _record(job, report, aligner, state["audio"], state["transcript"], outcome, oov)
        workers.discard(lambda tag: tag[0] != stem)
        progress.finish(stem)

    def assemble(stem, state):
        results = [state["results"][n] for n in range(len(state["plan"].pieces))]
        name = state["audio"].name

        def repaired(fraction):
            state["repaired"] = fraction
            progress.update(stem, name, _share(state))

        finish(stem, _guarded(lambda: aligner.assemble(
            state["split"], state["plan"], results, state["recording"], phones=options["phones"],
            chunk_seconds=options["chunk_seconds"], progress=repaired,
            note=lambda text: progress.note(stem, name, text)), state["audio"]))

    def finish_tiered(stem):
        state = files[stem]
        finish(stem, _guarded(lambda: _finish_tiered(job, stem, state["tiered"], state["outcomes"], options),
                              state["audio"]))

    def submit_tiered(stem, audio, transcript):
        """The utterances of a recording with a TextGrid or EAF transcript to the pool, in groups (tiered.groups)."""
        files[stem] = state = {"audio": audio, "transcript": transcript}
        prepared = _guarded(lambda: _prepare_tiered(job, aligner, audio, transcript, options), audio)
        if prepared[0] != "ok":
            finish(stem, prepared)
            return
        prepared = prepared[1]
        if prepared.unknown:
            finish(stem, ("ok", {"unknown_words": prepared.unknown}))
            return
        # The raw file stays until the recording is finished: each process reads its utterances from it.
        tasks = tiered.groups(prepared.placed)
        state.update(recording=prepared.recording, tiered=prepared, outcomes={}, left=len(tasks), aligned=0,
                     total=sum(i.length for i in prepared.placed) or 1,
                     lengths=[sum(i.length for i in items) for items in tasks])
        if not tasks:
            finish_tiered(stem)
        for number, items in enumerate(tasks):
            # Only what aligning needs crosses the pipe: the options also hold the mapped language's lexicon,
            # an open SQLite connection that cannot be pickled (the pool's processes have their own).
            workers.submit((stem, ("utterances", number)), aligner, tiered.align_group, prepared.recording, items,
                           {key: options[key] for key in tiered.ALIGN_OPTIONS})

    def collect(timeout):
        for (stem, number), result in workers.results(timeout):
            state = files.get(stem)
            if state is None:  # its recording failed already
                continue
            if result[0] == "note":  # what a task that goes on is doing: a search may take a minute
                span = state.get("spans", {}).get(number)
                where = "" if span is None else f"aligning {longaudio.stretch(*span)}: "
                state["noted"] = number
                progress.note(stem, state["audio"].name, where + result[1])
                continue
            if "noted" in state and state["noted"] == number:  # its note is no longer news
                del state["noted"]
                progress.note(stem, state["audio"].name, None)
            if result[0] in ("died", "internal"):
                if result[0] == "died":
                    print(f"The process aligning {state['audio'].name} ended unexpectedly", file=sys.stderr)
                finish(stem, ("internal",))
            elif result[0] == "alignment":
                finish(stem, ("error", AlignmentError(result[1], result[2])))
            elif isinstance(number, tuple):  # a group of utterances (submit_tiered)
                state["outcomes"].update(result[1])
                state["left"] -= 1
                state["aligned"] += state["lengths"][number[1]]
                progress.update(stem, state["audio"].name, state["aligned"] / state["total"])
                if not state["left"]:
                    finish_tiered(stem)
            elif number is None:
                finish(stem, ("ok", result[1]))
            else:
                state["results"][number] = result[1]
                state["left"] -= 1
                state["aligned"] += state["lengths"][number]
                progress.update(stem, state["audio"].name, _share(state))
                if not state["left"] and "plan" in state:
                    assemble(stem, state)
        workers.dispatch()  # after the results' recordings are finished: no task of a failed one is sent

    try:
        for stem, audio, transcript in pairs:
            while workers.pending() > processes:  # keep the audio of at most a few recordings in memory
                collect(None)
            progress.update(stem, audio.name, 0.0)
            if is_tiered(transcript.name):
                submit_tiered(stem, audio, transcript)
                continue
            prepared = _guarded(lambda: _prepare_one(job, aligner, audio, transcript, options), audio)
            if prepared[0] != "ok":
                files[stem] = {"audio": audio, "transcript": transcript}
                finish(stem, prepared)
                continue
            split, readings, unknown, samples, duration = prepared[1]
            files[stem] = {"audio": audio, "transcript": transcript, "split": split, "readings": readings,
                           "duration": duration, "length": len(samples) if samples is not None else 0}
            if unknown:
                finish(stem, ("ok", {"unknown_words": unknown}))
            elif len(samples) <= options["piece_seconds"] * SAMPLE_RATE:
                with samples:  # one piece: its samples go to the process, the raw file is no longer needed
                    workers.submit((stem, None), aligner, "align", samples[0 : len(samples)], split,
                                   phones=options["phones"], chunk_seconds=options["chunk_seconds"],
                                   piece_seconds=options["piece_seconds"])
            else:
                # The raw file stays until the recording is finished: each process reads its piece from
                # it, so this process never holds more than a block of a long recording.
                files[stem]["recording"] = samples

                state = files[stem]
                state.update(results={}, left=0, aligned=0, planned=0.0, repaired=0.0, lengths={}, spans={})

                # Each piece goes to the pool as soon as its cut is found: planning overlaps with aligning.
                def planned(fraction, stem=stem, state=state):
                    state["planned"] = fraction
                    collect(0)  # results of the other recordings and pieces come in meanwhile
                    if stem not in files:  # a piece failed, and with it the recording: stop planning it
                        raise _Abandoned()
                    progress.update(stem, state["audio"].name, _share(state))

                def searching(text, stem=stem, state=state):
                    collect(0)  # a window decode is a second or more: the pieces aligned meanwhile are news
                    if stem not in files:
                        raise _Abandoned()
                    progress.note(stem, state["audio"].name, text)

                def each(number, piece, gain, stem=stem, state=state):
                    state["left"] += 1
                    state["lengths"][number] = piece.end - piece.start
                    state["spans"][number] = (piece.start, piece.end)
                    workers.submit((stem, number), aligner, "align_piece_of", samples,
                                   split[piece.first : piece.last], piece, gain,
                                   phones=options["phones"], chunk_seconds=options["chunk_seconds"])

                try:
                    plan = _guarded(lambda: aligner.plan(samples, split, options["piece_seconds"], planned, each,
                                                         searching), audio)
                except _Abandoned:
                    continue
                if plan[0] != "ok":
                    finish(stem, plan)
                    continue
                state["plan"] = plan[1]
                if not state["left"]:
                    assemble(stem, state)
        while workers.pending():
            collect(None)
    finally:
        workers.close()
        signal.signal(signal.SIGTERM, previous)
        for state in files.values():  # stopped or failed midway: what is left of the raw audio
            if state.get("recording") is not None:
                state["recording"].remove()


def align_all(job):
    options = {
        "phones": bool(job.param("phone_tier", True)),
        "text_format": job.param("textgrid_format", "long"),
        "silence_label": job.param("silence_label", "") or "",
        "chunk_seconds": float(job.param("chunk_seconds", 5.0)),
        "max_seconds": int(job.param("max_minutes", 60)) * 60,
        "piece_seconds": PIECE_SECONDS,
        "language": job.param("language", "en-us") or "en-us",
        "alphabet": job.param("phone_alphabet", "ipa") or "ipa",
        "ipa": {},  # {word: [pronunciation]} of the extra dictionaries in a mapped language's phones
    }
    if options["language"] not in languages.LANGUAGES:
        raise JobFailed(f"unsupported language {options['language']!r}; "
                        f"choose one of {', '.join(languages.LANGUAGES)}")
    job.report("Checking the input files")
    # In a mapped language a "does not match" may be the approximate model's, not the transcript's.
    report = Report(job.outputdir / "report.json", no_match_note="" if options["language"] == "en-us" else (
        "this language is aligned approximately, its phones mapped to an English acoustic model: fast or "
        "connected speech is often not found; shorter recordings may align"))
    pairs = _pairs(job, report)
    if not pairs and not report.entries:
        raise JobFailed("no recordings or transcripts were sent")
    native = languages.LANGUAGES[options["language"]].native
    options["lexicon"] = None if native else languages.MappedLexicon(options["language"])
    aligner = Aligner(options["lexicon"])
    refused = aligner.add_entries(_extra_dictionary(job, report.warnings, options["language"], options["ipa"]))
    report.warnings += [f"“{e.word}” cannot be added to the aligner's dictionary; it was left out" for e in refused]
    for warning in report.warnings:
        job.report(f"Warning: {warning}")

    oov = set()
    processes = pool.size()
    long_ones = any(_seconds(audio) > options["piece_seconds"] for _, audio, _ in pairs)
    if processes > 1 and (len(pairs) > 1 or long_ones):
        try:
            _align_in_parallel(job, report, aligner, pairs, options, oov, processes)
        except _Stopped:
            report.save()
            job.report("Stopped", None)
            raise SystemExit(128 + signal.SIGTERM) from None
    else:
        _align_in_turn(job, report, aligner, pairs, options, oov)

    if oov:
        (job.outputdir / "oov.txt").write_text("".join(f"{w}\n" for w in sorted(oov)), encoding="utf-8")
    report.save()
    job.report(report.summary(), 100)


if __name__ == "__main__":
    sys.exit(main(align_all, "alignment.log"))
