"""Whether a file may be added to a project: the input template its name is for, its kind, the
size limits, and its content (audio that soundfile can read, UTF-8 text, a TextGrid or EAF of utterance
tiers with words). Each check raises FileRefused with the message for the researcher;
`upload.services.Upload` runs them before it stores a file.
"""

import codecs
import itertools
import math

import soundfile
from django.conf import settings

from clamservices.transcripts import TranscriptError
from clamservices.utterances import TIERED_EXTENSIONS, is_tiered, read_tiers
from scripts.models import converter_kind
from upload.models import ProjectFile
from upload.names import extension_of

AUDIO_EXTENSIONS = {"wav", "flac", "ogg", "mp3", "aiff", "aif"}
LIBSNDFILE_EXTENSIONS = {"wav", "flac", "ogg", "aiff", "aif"}
TEXT_KINDS = {ProjectFile.Kind.TRANSCRIPT, ProjectFile.Kind.DICTIONARY}
SNIFF_BYTES = 64 * 1024


class FileRefused(ValueError):
    """The file is not added; the message says why, for the user."""


class NotUTF8(FileRefused):
    """A text in another encoding than UTF-8: `encoding` is "UTF-16" or "UTF-32" when Equestria can tell, else "".
    The upload adds how the service could convert it, when it offers to."""

    def __init__(self, message, encoding=""):
        super().__init__(message)
        self.encoding = encoding


def input_templates(pipeline):
    """The FA script's input templates, all profiles, in order; and by lower-case extension (first wins)."""
    by_extension = {}
    templates = []
    for profile in pipeline.fa_script.profiles.prefetch_related("input_templates"):
        for template in profile.input_templates.all():
            templates.append(template)
            by_extension.setdefault(template.extension.lower(), template)
    return templates, by_extension


def template_for(templates, name, paired=False):
    """The template a file called `name` is of, or None: of the templates whose rule takes the name (`matches_name`:
    an input template's fixed name takes any file, which CLAM renames; an output template's only that name), the one
    that names it most closely — its fixed name exactly, then the longest extension (".folia.xml" before ".xml"),
    then a fixed name with the file's extension, then any fixed name; the first of equals. The input templates of an
    upload and the output templates of a run's outputs alike.

    `paired`: the input templates of an aligner, which pairs recordings and transcripts by their stems. A fixed name
    then comes after every extension even when it is the file's name: "lexicon.txt" next to "lexicon.wav" is that
    recording's transcript, as it was before fixed names came first, not the service's "lexicon.txt" dictionary."""
    def closeness(template):
        if template.filename:  # an input's takes any name, so after every extension unless it is this one
            if template.filename.lower() == name.lower() and not paired:
                return math.inf
            return -1 if extension_of(template.filename) == extension_of(name) else -2
        return len(template.extension)

    return max((t for t in templates if t.matches_name(name)), key=closeness, default=None)


def accepted_extensions(project):
    """What the project's pipeline takes, as the pages and messages list it (`listed_names`)."""
    return listed_names(input_templates(project.pipeline)[0])


def listed_names(templates):
    """"input.txt (fixed name), .dict, .folia.xml, .txt": `listed_templates`, as the pages and messages name them."""
    return ", ".join(f"{t.filename} (fixed name)" if t.filename else f".{t.extension}" for t in listed_templates(templates))


def listed_templates(templates):
    """The templates that name what a pipeline takes, as the pages (and the API) list them: those of a fixed name
    first, then one per extension (as the template writes it: ".TextGrid", as Praat names them) in the order of
    their lower-case forms."""
    fixed, by_extension = {}, {}
    for template in templates:
        if template.filename:
            fixed.setdefault(template.filename, template)
        elif template.extension:
            by_extension.setdefault(template.extension.lower(), template)
    return [*fixed.values(), *(by_extension[e] for e in sorted(by_extension))]


def template_extension(template):
    """The lower-case extension of a template's files: its own, else its fixed name's ("input.txt": "txt")."""
    return template.extension.lower() or extension_of(template.filename)


def kind_of(template):
    extension = template_extension(template)
    if extension in TIERED_EXTENSIONS:
        return ProjectFile.Kind.TRANSCRIPT  # utterance tiers (clamservices.utterances), whatever format CLAM declares
    if extension in AUDIO_EXTENSIONS or template.mimetype.startswith("audio/"):
        return ProjectFile.Kind.AUDIO
    if extension == "dict" or "dictionary" in template.label.lower() or "lexicon" in template.label.lower():
        return ProjectFile.Kind.DICTIONARY
    if extension == "txt" or template.mimetype.startswith("text/"):
        return ProjectFile.Kind.TRANSCRIPT
    return ProjectFile.Kind.OTHER


def text_fault(head, rest=None):
    """Why a file is not text as Equestria takes it (UTF-8, a byte-order mark allowed, no NUL byte in its first
    SNIFF_BYTES), in the words of the upload's refusal; "" when it is. `head`: its first SNIFF_BYTES (all of a shorter
    file); `rest`: the chunks after them, to check all of it — without, only the head is checked (a run's outputs, for
    the text viewer), and a character cut by its end is no fault."""
    if b"\x00" in head[:SNIFF_BYTES]:
        return "this is not a text file (it contains NUL bytes)"
    # Incrementally, so a large file never sits in memory.
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    fed = at = 0
    try:
        for chunk in itertools.chain((head,), rest or ()):
            # Where in the file the bytes decoded now start (the decoder's error counts from there): those it held
            # back from the chunk before (a character cut in two), then this chunk; a byte-order mark it drops is
            # not counted by it.
            held, first = decoder.getstate()
            at = fed - len(held) + (len(codecs.BOM_UTF8) if first and (held + chunk).startswith(codecs.BOM_UTF8) else 0)
            fed += len(chunk)
            decoder.decode(chunk)
        if rest is not None or len(head) < SNIFF_BYTES:  # the end of the file
            at = fed - len(decoder.getstate()[0])
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return (f"the text is not UTF-8 (byte {at + exc.start} cannot be decoded); "
                "save it as UTF-8 in your editor and upload it again")
    return ""


def _check_text(path, name):
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        if wide := wide_unicode(head):  # else called "not a text file" for its NUL bytes
            raise NotUTF8(f"{name}: this text is {wide}; save it as UTF-8 in your editor and upload it again", wide)
        if fault := text_fault(head, iter(lambda: f.read(1024 * 1024), b"")):
            raise (NotUTF8 if "not UTF-8" in fault else FileRefused)(f"{name}: {fault}")
    if not head.decode("utf-8-sig", errors="ignore").strip():
        raise FileRefused(f"{name}: the file contains no text")


class ConverterTwice(FileRefused):
    """Two conversions chosen for the files of one template (the API tells it by its own code)."""


def chosen_converters(templates, values):
    """{template id: converter id} of the conversions a researcher chose (the upload form's, or the API's,
    `converter` values): a converter's id applies to every template that declares it, "<template id>:<converter
    id>" to that template only. Raises FileRefused for a value no template declares, or two for one template."""
    chosen = {}
    for value in (v.strip() for v in values):
        if not value:
            continue  # the form's "as the service takes them"
        matched = [(t, cid) for t in templates for cid, _ in t.converters if value in (cid, f"{t.template_id}:{cid}")]
        if not matched:
            offered = "; ".join(f"{cid} ({label}, for “{t.label}” files)"
                                for t in templates for cid, label in t.converters)
            raise FileRefused(f"Nothing was added: “{value}” is not a conversion the service offers; "
                              + (f"it offers: {offered}" if offered else "it offers none"))
        for template, converter_id in matched:
            if chosen.get(template.template_id, converter_id) != converter_id:
                raise ConverterTwice(f"Nothing was added: two conversions were chosen for “{template.label}” files; "
                                  "choose one")
            chosen[template.template_id] = converter_id
    return chosen


def converted_files(template, converter_id):
    """The files a converter takes, as the pages say it: ".pdf files", or "files of any type"."""
    extensions = template.converted_extensions(converter_id)
    if extensions is None:
        return "files of any type; the service judges them"
    return ", ".join(f".{e}" for e in extensions) + " files"


# CLAM's format classes that a researcher knows by other words.
_FORMAT_WORDS = {"PlainTextFormat": "plain text in UTF-8"}


def conversion_options(template):
    """[(value, text)] of the upload form's “… files are” choice for a template with converters: first the
    template's own format, then each conversion with the files it takes (the value is "<template id>:<converter
    id>", as chosen_converters reads it)."""
    own = _FORMAT_WORDS.get(template.format) or template.format.removesuffix("Format") or template.label
    extension = template_extension(template)
    options = [("", f"{own}{f' (.{extension})' if extension else ''}, as the service takes them")]
    options += [(f"{template.template_id}:{cid}", f"{label} ({converted_files(template, cid)})")
                for cid, label in template.converters]
    return options


def wide_unicode(head):
    """"UTF-32" or "UTF-16" for a text that is in it by its byte-order mark, or by UTF-16's pattern without one (a
    NUL byte every other byte, as in Latin letters: most of one half of the bytes NUL, few of the other); else ""."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    sample = head[:4096]
    halves = sorted((sample[0::2].count(0), sample[1::2].count(0)))
    if len(sample) >= 4 and halves[1] >= 0.75 * len(sample) / 2 and halves[0] <= 0.1 * len(sample) / 2:
        return "UTF-16"
    return ""


PDF_MAGIC = b"%PDF-"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97–2003 (.doc) and other OLE compound files


def check_converted(path, name, template, converter_id):
    """What Equestria can tell of a file the service converts when it receives it (`converter_id`, chosen by the
    researcher): not empty, and of the kind the converter takes (by its first bytes); a text in another encoding
    that is UTF-8 already is refused, as converting it would garble its letters. Raises FileRefused; the service
    judges the rest, and a conversion that fails there leaves the file out of the run with its reason."""
    if path.stat().st_size == 0:
        raise FileRefused(f"{name}: the file is empty")
    label = template.converter_label(converter_id)
    kind = converter_kind(converter_id, label)
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if kind == "pdf" and PDF_MAGIC not in head[:1024]:
        raise FileRefused(f"{name}: this is not a PDF document (it does not begin as one), and “{label}” converts PDF "
                          "documents")
    if kind == "word" and not head.startswith(OLE_MAGIC):
        docx = head.startswith(b"PK")
        raise FileRefused(
            f"{name}: this is not a Word 97–2003 document"
            + (" (it is a .docx, of Word 2007 or later, named .doc)" if docx else "")
            + f", and “{label}” converts those; save it as “Word 97–2003 (.doc)” or as plain text (UTF-8)"
        )
    if kind == "encoding":
        wide = next((f"UTF-{bits}" for bits in ("16", "32") if bits in f"{converter_id} {label}"), "")
        if wide and not wide_unicode(head) and b"\x00" not in head:
            raise FileRefused(
                f"{name}: this text is not {wide} (it has no byte-order mark and no NUL bytes), and “{label}” "
                f"converts {wide} texts; upload it as the service takes them, without this conversion"
            )
        if (found := wide_unicode(head)) and not wide:
            raise NotUTF8(f"{name}: this text is {found}, which “{label}” does not convert; save it as UTF-8 in your "
                          "editor and upload it again", found)
        if b"\x00" in head and not wide:
            raise FileRefused(f"{name}: this is not a text file (it contains NUL bytes)")
        if _utf8_with_letters_beyond_ascii(path):
            raise FileRefused(
                f"{name}: this text is UTF-8 already (its letters beyond ASCII read correctly as UTF-8), and "
                f"“{label}” would garble them; upload it as the service takes them, without this conversion"
            )
    return {}


def _utf8_with_letters_beyond_ascii(path):
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    beyond = False
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                beyond = beyond or not chunk.isascii()
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return beyond


def _check_audio(path, name):
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        raise FileRefused(f"{name}: this is not audio that can be read (damaged, or not really a {extension_of(name).upper()} file)") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise FileRefused(f"{name}: the recording contains no audio")
    return {"duration": info.frames / info.samplerate, "sample_rate": info.samplerate, "channels": info.channels}


def check_content(path, name, kind, aligner=True):
    """Metadata of a file that passes the content check for its kind; raises FileRefused.

    `aligner`: the file is for the forced aligner, so a TextGrid or EAF must hold utterance tiers it reads;
    another service (a one-service pipeline's) may take any TextGrid or EAF, which it checks itself."""
    if path.stat().st_size == 0:
        raise FileRefused(f"{name}: the file is empty")
    if kind == ProjectFile.Kind.AUDIO:
        if extension_of(name) not in LIBSNDFILE_EXTENSIONS:
            return {}
        return _check_audio(path, name)
    if kind == ProjectFile.Kind.TRANSCRIPT and is_tiered(name):
        if aligner:
            _check_tiers(path, name)
    elif kind in TEXT_KINDS:
        _check_text(path, name)
    return {}


def _check_tiers(path, name):
    # The aligner's own reader, so the upload refuses what the aligner could not read, with its words. Not
    # the UTF-8 check: Praat saves a TextGrid with any non-ASCII character as UTF-16.
    try:
        read_tiers(path, name)
    except TranscriptError as exc:
        raise FileRefused(f"{name}: {exc}") from None


def only_one(name, template, other):
    """The refusal of a second file for a template that takes one."""
    return FileRefused(
        f"{name}: the pipeline takes only one “{template.label}” file and the project has {other.name}; "
        "delete it or tick “replace”"
    )


def over_project_limit(name):
    """The refusal of a file that would take the project over its limit."""
    return FileRefused(
        f"{name}: the project would exceed its limit of {human_size(settings.UPLOAD_MAX_PROJECT_BYTES)}; delete files first"
    )


def check_text_size(name, size, kind):
    """Refuses a transcript or dictionary over its own limit, far below the one for any file."""
    if kind == ProjectFile.Kind.TRANSCRIPT and is_tiered(name):
        if size > settings.UPLOAD_MAX_TIERED_TRANSCRIPT_BYTES:
            raise FileRefused(
                f"{name}: the transcript is larger than the limit of "
                f"{human_size(settings.UPLOAD_MAX_TIERED_TRANSCRIPT_BYTES)} (a two-hour recording's TextGrid or ELAN "
                "file of utterances has about 1 MB); is this the right file? Cut long recordings and their "
                "transcripts into parts"
            )
        return
    if kind == ProjectFile.Kind.TRANSCRIPT and size > settings.UPLOAD_MAX_TRANSCRIPT_BYTES:
        raise FileRefused(
            f"{name}: the transcript is larger than the limit of {human_size(settings.UPLOAD_MAX_TRANSCRIPT_BYTES)} "
            "(a two-hour recording has about 100 KB of text); is this the right file? Cut long recordings and "
            "their transcripts into parts"
        )
    if kind == ProjectFile.Kind.DICTIONARY and size > settings.UPLOAD_MAX_DICTIONARY_BYTES:
        raise FileRefused(
            f"{name}: the dictionary is larger than the limit of {human_size(settings.UPLOAD_MAX_DICTIONARY_BYTES)}; "
            "keep only the words your transcripts need"
        )


def human_size(size):
    """A size as the pages say it: "1.0 MB" (units of 1024)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


def too_large(name):
    """The refusal of a file over the limit for any one file (also said of files the upload handler stopped)."""
    return f"{name}: the file is larger than the limit of {human_size(settings.UPLOAD_MAX_FILE_BYTES)}"
