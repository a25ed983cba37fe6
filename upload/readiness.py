"""Is a project ready to align? Each profile of the aligner satisfied (`profile_status`), every recording
with its transcript, every transcript with words.

The forced aligner pairs a recording with the transcript of the same name
(`a.wav` with `a.txt`, `a.TextGrid` or `a.eaf`). A file without its partner, a transcript without a
single word, or a recording longer than the aligner takes (`length_limit`)
cannot be aligned; the project page lists them by name with what to do, and a
run includes them only if the researcher explicitly chooses to align the
complete pairs without them.
"""

import codecs
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.cache import cache

from clamservices.audio import length
from clamservices.transcripts import TranscriptError
from clamservices.utterances import describe, is_tiered, read_tiers
from upload.checks import input_templates, kind_of
from upload.models import ProjectFile

log = logging.getLogger(__name__)
Kind = ProjectFile.Kind


# The FA script's global parameter for the longest recording it takes, in minutes (the bundled
# service's `max_minutes`, clamservices/config/forced_alignment.py). A script without one is not
# checked here; its service says so when it runs.
LENGTH_LIMIT_PARAMETER = "max_minutes"
TOO_LONG = "too long"  # the badge of a recording over that limit


@dataclass
class Unpaired:
    names: list  # the files that are left out
    message: str  # what is wrong and what to do, in plain words
    badge: str = ""  # the short word for it in the file list


@dataclass
class Readiness:
    profiles: list  # ProfileStatus of all files
    pairs: int = 0  # complete pairs with words
    unpaired: list = field(default_factory=list)  # [Unpaired]
    sendable: list = field(default_factory=list)  # the files a run of the complete pairs only sends
    pairs_satisfy: bool = False  # those files alone satisfy what the aligner needs
    pairing: dict = field(default_factory=dict)  # {file id: (paired, badge, what to do or "")} for the file table
    holds: dict = field(default_factory=dict)  # {file id: what a TextGrid or EAF transcript holds} for the file table
    pairs_needed: bool = True  # the pipeline takes recordings and transcripts
    limit_setting: str = ""  # the name of the length limit under Settings, when a researcher may raise it
    warnings: list = field(default_factory=list)  # about files a run would leave out without stopping the others

    @property
    def ready(self):
        satisfied = any(p.satisfied for p in self.profiles)
        return satisfied and not self.unpaired and (self.pairs > 0 or not self.pairs_needed)

    @property
    def pairs_only(self):
        """Not ready, but the complete pairs alone can be aligned (as an explicit choice)."""
        return bool(self.unpaired) and self.pairs > 0 and self.pairs_satisfy

    @property
    def raisable(self):
        """Not ready only because recordings are over a length limit the researcher may raise under Settings."""
        return bool(self.limit_setting) and bool(self.unpaired) and all(u.badge == TOO_LONG for u in self.unpaired)

    @property
    def left_out(self):
        return [name for u in self.unpaired for name in u.names]


def _label_with_extension(template):
    """ "Transcript (UTF-8 text, .txt)" rather than "Transcript (UTF-8 text) (.txt)"; "Input text (input.txt, fixed
    name)" for a template with a fixed name (the "Accepted:" line's words, upload.checks.listed_names)."""
    label = template.label
    if template.filename:
        extension = f"{template.filename}, fixed name"
    elif template.extension:
        extension = f".{template.extension}"
    else:
        return label
    if label.endswith(")"):
        return f"{label[:-1]}, {extension})"
    return f"{label} ({extension})"


@dataclass
class ProfileStatus:
    number: int
    satisfied: bool
    missing: list  # labels of required templates without files
    extra: list  # messages about unique templates with several files


def profile_status(project, files):
    """For each profile of the FA script: is it satisfied by these files, and what is missing."""
    statuses = []
    counts = {}
    for f in files:
        counts[f.template_id] = counts.get(f.template_id, 0) + 1
    for profile in project.pipeline.fa_script.profiles.all():
        missing, extra = [], []
        for template in profile.input_templates.all():
            n = counts.get(template.template_id, 0)
            if n == 0 and not template.optional:
                missing.append(_label_with_extension(template))
            if n > 1 and template.unique:
                extra.append(f"only one {template.label} is allowed")
        statuses.append(ProfileStatus(profile.index + 1, not missing and not extra, missing, extra))
    return statuses


def _kinds(project):
    """{kind: [extension, …]} of the FA script's input templates (reads the prefetched profiles), each as its
    first template writes it ("TextGrid"), once whatever its letter case."""
    extensions = defaultdict(list)
    for profile in project.pipeline.fa_script.profiles.all():
        for template in profile.input_templates.all():
            ext = template.extension
            if ext and ext.lower() not in {e.lower() for e in extensions[kind_of(template)]}:
                extensions[kind_of(template)].append(ext)
    return extensions


def _read_words(f):
    """(has words, the first utterance's start in seconds: 0 for plain text, what a TextGrid or EAF holds in
    words: "" for plain text) of a transcript."""
    if is_tiered(f.name):
        # Words of the utterances, not the letters of the header ("File type", tier names).
        try:
            tiers = read_tiers(f.file.path, f.name)  # the one reader, as the upload check and the aligner
        except TranscriptError:
            return False, 0.0, ""
        return True, min(u.start for t in tiers for u in t.utterances), describe(tiers)
    # Any letter or digit makes a word for the aligner: it strips punctuation around words.
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    with f.file.open("rb") as handle:
        while chunk := handle.read(64 * 1024):
            if any(ch.isalnum() for ch in decoder.decode(chunk)):
                return True, 0.0, ""
    return False, 0.0, ""


def _words_of(f):
    """`_read_words` of `f`, or None when it cannot be read.

    A file's content never changes under its id (replacing a file makes a new
    row), so the answer is cached by id: the project list need not read every
    transcript of every project on each visit.
    """
    key = f"upload:transcript-words:v2:{f.pk}"
    answer = cache.get(key)
    if answer is None:
        try:
            answer = _read_words(f)
        except OSError:
            log.exception("cannot read transcript %s (%s)", f.pk, f.file.name)
            return None  # not cached: the storage may be back next time
        cache.set(key, answer, None)
    return answer


def transcript_holds(f):
    """What a TextGrid or EAF transcript holds, for the file table ("2 speakers: A (3 utterances), B (1)"); "" else."""
    answer = _words_of(f) if is_tiered(f.name) else None
    return "" if answer is None else answer[2]


def transcript_has_words(f):
    """Whether a transcript has at least one word; None when it cannot be read."""
    answer = _words_of(f)
    return None if answer is None else answer[0]


def transcript_starts_at(f):
    """Seconds into its recording where a transcript's first utterance starts (0 for plain text), or None."""
    answer = _words_of(f)
    return None if answer is None else answer[1]


def _clock(seconds):
    """1:02.3, as the aligner's warnings give times in a recording."""
    whole, tenth = divmod(int(seconds * 10), 10)
    return f"{whole // 60}:{whole % 60:02}.{tenth}"


def _or(stem, extensions):
    """"a.wav or a.flac", "a.txt, a.TextGrid or a.eaf"."""
    names = [f"{stem}.{ext}" for ext in extensions]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else (names[0] if names else stem)


def length_limit(script, parameters=None):
    """Seconds of the longest recording `script` aligns, or None when it does not say.

    `parameters` are the values a run sends (presets and the researcher's choices); without them,
    or without this one among them, the administrator's preset applies, else the service's default.
    Reads `script.parameters.all()`, so the project list can prefetch them.
    """
    for parameter in script.parameters.all():
        if parameter.clam_id != LENGTH_LIMIT_PARAMETER or parameter.input_template_id is not None:
            continue
        if parameters and LENGTH_LIMIT_PARAMETER in parameters:
            value = parameters[LENGTH_LIMIT_PARAMETER]
        else:
            specific = parameter.specific
            value = specific.value if parameter.preset else getattr(specific, "default", None)
        try:
            minutes = float(value)
        except (TypeError, ValueError):
            return None
        return minutes * 60 if math.isfinite(minutes) and minutes > 0 else None
    return None


def limit_setting(script):
    """The name of the length limit when a researcher may change it under Settings (not preset), else ""."""
    for parameter in script.parameters.all():
        if parameter.clam_id == LENGTH_LIMIT_PARAMETER and parameter.input_template_id is None:
            return "" if parameter.preset else parameter.name
    return ""


# Over the limit by at most this much, a recording may be cut rather than split: silence at its start or end, as
# an "hour-long" recording a few seconds over an hour often has.
CUT_AT_MOST = 60


def too_long_message(f, limit, setting=""):
    """What the file list and a refused start say of a recording over the aligner's limit: its exact length, by how
    much it is over (both in whole seconds, rounded up, so that a recording just over the limit never reads as at
    it), and the ways on, the least work first."""
    over, most = f.duration - limit, limit / 60
    ways = []
    if setting:
        # The limit is a number of whole minutes (the bundled aligner's `max_minutes`): the least one that takes it.
        ways.append(f"raise “{setting}” to {math.ceil(f.duration / 60 - 1e-9)} under Settings before you start")
    if over <= CUT_AT_MOST:
        ways.append(f"cut those {length(over)} from it (silence at its start or end) and upload it again (tick "
                    "“Replace”)")
    ways.append("split it into shorter recordings, each with its own transcript, and upload those")
    return (f"{f.name} is {length(f.duration)} long, {length(over)} more than the {most:g} "
            f"minute{'' if most == 1 else 's'} the aligner takes: {'; or '.join(ways)}.")


def readiness(project, files, parameters=None):
    """What a run of `project` with `files` would align, and what it would have to leave out.

    `parameters`: the values the run would send, for the length limit (see `length_limit`).
    """
    result = Readiness(profiles=profile_status(project, files))
    kinds = _kinds(project)
    # A pipeline that runs one service pairs nothing: the service's own templates say what it needs.
    if project.pipeline.single or not kinds[Kind.AUDIO] or not kinds[Kind.TRANSCRIPT]:
        result.pairs_needed = False
        result.sendable = list(files)
        result.pairs_satisfy = any(p.satisfied for p in result.profiles)
        if project.pipeline.single:
            result.warnings = conversions_gone(project, files)
        return result
    _name_missing_kinds(project, files, result.profiles)
    audio, texts = defaultdict(list), defaultdict(list)
    for f in files:
        if f.kind == Kind.AUDIO:
            audio[f.stem].append(f)
        elif f.kind == Kind.TRANSCRIPT:
            texts[f.stem].append(f)
        else:
            result.sendable.append(f)  # dictionaries and the like go with any run
    limit = length_limit(project.pipeline.fa_script, parameters)
    result.limit_setting = limit_setting(project.pipeline.fa_script) if limit is not None else ""
    for stem in sorted(set(audio) | set(texts)):
        problem = _pair_problem(stem, audio[stem], texts[stem], kinds, limit, result.limit_setting)
        for f in texts[stem]:
            if is_tiered(f.name) and (holds := transcript_holds(f)):
                result.holds[f.pk] = holds
        group = audio[stem] + texts[stem]
        if problem is None:
            result.pairs += 1
            result.sendable += group
            for f in group:
                partner = texts[stem][0] if f.kind == Kind.AUDIO else audio[stem][0]
                result.pairing[f.pk] = (True, f"with {partner.name}", "")
        else:
            badge, message = problem
            result.unpaired.append(Unpaired([f.name for f in group], message, badge))
            for f in group:
                if badge == TOO_LONG and f.kind != Kind.AUDIO:  # its transcript is not too long, its recording is
                    result.pairing[f.pk] = (False, f"{audio[stem][0].name} too long", "")
                else:  # a recording that is too long says what to do in its own row of the file list too
                    result.pairing[f.pk] = (False, badge, message if badge == TOO_LONG else "")
    result.pairs_satisfy = any(p.satisfied for p in profile_status(project, result.sendable))
    return result


def conversions_gone(project, files):
    """What to say of the files whose chosen conversion the service no longer declares (an import since their
    upload): the run leaves them out (scripts.runner), so the page and the API say it before."""
    chosen = [f for f in files if f.converter]
    if not chosen:
        return []
    declared = {t.template_id: {cid for cid, _ in t.converters} for t in input_templates(project.pipeline)[0]}
    return [f"{f.name}: the service no longer offers the conversion chosen for it (“{f.converter_label or f.converter}”), so a run leaves "
            "it out; upload it again, choosing what its files are" for f in chosen
            if f.converter not in declared.get(f.template_id, ())]


def _name_missing_kinds(project, files, statuses):
    """Add recordings or transcripts to what each profile misses when the project has none of them.

    A profile lists only its required templates as missing, and recordings usually come in one of
    several optional templates (WAV or FLAC): an empty project would otherwise be told it misses
    only a transcript. The profiles' `satisfied` is left alone: it is the service's rule; that no
    pair can be aligned without both is readiness's own (`Readiness.ready`).
    """
    present = {f.kind for f in files}
    for status, profile in zip(statuses, project.pipeline.fa_script.profiles.all()):
        templates = profile.input_templates.all()
        named = []
        for kind, noun in ((Kind.AUDIO, "Recording"), (Kind.TRANSCRIPT, "Transcript")):
            of_kind = [t for t in templates if kind_of(t) == kind]
            if kind in present or not of_kind or any(not t.optional for t in of_kind):
                continue  # there are some, or the profile does not take them, or it names them itself
            extensions = _or("", dict.fromkeys(t.extension for t in of_kind if t.extension))
            named.append(f"{noun} ({extensions})" if extensions else noun)
        status.missing[:0] = named


def _pair_problem(stem, audio, texts, kinds, limit=None, setting=""):
    """(badge, message) saying why the files of one name are not a pair that can be aligned, or None."""
    if limit is not None and len(audio) == 1 and audio[0].duration is not None and audio[0].duration > limit:
        return TOO_LONG, too_long_message(audio[0], limit, setting)
    if not texts:
        return "no transcript", f"{audio[0].name} has no transcript: add {_or(stem, kinds[Kind.TRANSCRIPT])}."
    if not audio:
        return "no audio", f"{texts[0].name} has no recording: add {_or(stem, kinds[Kind.AUDIO])}."
    if len(audio) > 1 or len(texts) > 1:
        names = ", ".join(f.name for f in audio + texts)
        return "same name", f"{names} share the name “{stem}”: the aligner cannot tell which belong together; delete the extra ones."
    has_words = transcript_has_words(texts[0])
    if has_words is None:
        return "unreadable", f"{texts[0].name} cannot be read: upload it again (tick “Replace”)."
    start = transcript_starts_at(texts[0]) if has_words else None
    if start and audio[0].duration is not None and start >= audio[0].duration:
        return (
            "after the end",
            f"{texts[0].name} has its first utterance at {_clock(start)}, after the end of {audio[0].name} "
            f"({_clock(audio[0].duration)}): is it the transcript of this recording? Correct it and upload it again "
            "(tick “Replace”), or upload the right recording.",
        )
    if not has_words and is_tiered(texts[0].name):
        return (
            "no words",
            f"{texts[0].name} has no utterance with words to align (an interval tier with words, one per speaker): "
            "correct it and upload it again (tick “Replace”), or delete it and its recording.",
        )
    if not has_words:
        return (
            "no words",
            f"{texts[0].name} has no words to align (only punctuation or spaces): correct it and upload it again "
            "(tick “Replace”), or delete it and its recording.",
        )
    return None
