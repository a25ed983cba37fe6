"""What the API sends and takes, as JSON. The rules about what may be created or uploaded are the pages'
own (upload.forms, upload.services, upload.checks); these serializers only shape and document the data."""

from django.urls import reverse
from rest_framework import serializers

from pipelines.models import RecordingOutcome, Run


class ParameterSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The parameter's CLAM id: the key to send when starting a run.")
    name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.ChoiceField(choices=["boolean", "choice", "integer", "float", "string", "text"])
    default = serializers.JSONField(allow_null=True, help_text="What the service uses when nothing is sent.")
    choices = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), allow_null=True,
                                    help_text="Of a choice: [{id, label}].")
    multiple = serializers.BooleanField(allow_null=True, help_text="Of a choice: several may be chosen.")
    minimum = serializers.FloatField(allow_null=True, help_text="Of a number.")
    maximum = serializers.FloatField(allow_null=True, help_text="Of a number.")
    max_length = serializers.IntegerField(allow_null=True, help_text="Of a string or text, in characters.")


class ConverterSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="What an upload's `converter` names.")
    label = serializers.CharField(help_text="The service's name for the conversion, e.g. “Convert from Latin-1”.")
    extensions = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                       help_text="The extensions of the files it converts (without the dot); null: "
                                                 "files of any name (a converter Equestria does not know; the service "
                                                 "judges them).")


class InputSerializer(serializers.Serializer):
    extension = serializers.CharField(help_text="Without the dot, as the aligner writes it: wav, txt, TextGrid.")
    filename = serializers.CharField(allow_null=True, help_text="The name the aligner stores this input under, "
                                                                "whatever yours is: a file no other input takes is "
                                                                "for it; else null.")
    kind = serializers.ChoiceField(choices=["audio", "transcript", "dictionary", "other"])
    label = serializers.CharField()
    optional = serializers.BooleanField()
    unique = serializers.BooleanField(help_text="A project takes only one file of it.")
    converters = ConverterSerializer(many=True, help_text="Other formats the service converts into this one when it "
                                     "receives a file (a one-service pipeline's): send the id as `converter` with the "
                                     "upload.")


class PipelineSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What a new project's `pipeline` names.")
    kind = serializers.ChoiceField(choices=["alignment", "single"], help_text="`alignment`: forced alignment of "
                                   "recordings with their transcripts; `single`: runs one service on the files its "
                                   "inputs take, its outputs are the results.")
    language = serializers.CharField()
    approximate = serializers.BooleanField(
        help_text="The aligner has no acoustic model of this language: its phones are mapped to another language's.")
    description = serializers.CharField()
    inputs = InputSerializer(many=True, help_text="The files a project of this pipeline takes: fixed names, then "
                                                  "by extension.")
    parameters = ParameterSerializer(many=True, help_text="What a researcher may set when starting a run.")


class UnpairedSerializer(serializers.Serializer):
    names = serializers.ListField(child=serializers.CharField())
    badge = serializers.CharField()
    message = serializers.CharField()


class ReadinessSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="Every recording has its transcript: a run can start.")
    pairs = serializers.IntegerField(help_text="Recordings with a transcript with words.")
    missing = serializers.ListField(child=serializers.CharField(),
                                    help_text="What the aligner still needs (of its first profile).")
    unpaired = UnpairedSerializer(many=True, help_text="Files that cannot be aligned yet, and what to do.")
    warnings = serializers.ListField(child=serializers.CharField(),
                                     help_text="Files a run would leave out though it can start (of a one-service "
                                               "pipeline: a conversion the service no longer offers), and what to do.")


class ProjectSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    pipeline = serializers.CharField(source="pipeline.name")
    state = serializers.CharField(help_text="As the project list shows it: empty, needs files, ready to align, "
                                            "a run's stage, …")
    file_count = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Bytes of all its files.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    page = serializers.SerializerMethodField(help_text="The project's page on the site.")

    def get_page(self, project) -> str:
        return self.context["request"].build_absolute_uri(project.get_absolute_url())


class ProjectDetailSerializer(ProjectSerializer):
    busy = serializers.CharField(allow_null=True, help_text="Why files cannot be added or deleted now, or null.")
    readiness = ReadinessSerializer()


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    pipeline = serializers.CharField(help_text="A pipeline's name, from /api/v1/pipelines/.")


class ProjectRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class PairingSerializer(serializers.Serializer):
    paired = serializers.BooleanField()
    badge = serializers.CharField(help_text="“with a.txt”, “no transcript”, “too long”, …")
    message = serializers.CharField(help_text="What to do, when the file list says more than the badge.")


class FileSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["audio", "transcript", "dictionary", "other"])
    template = serializers.CharField(source="template_id", help_text="The aligner's input template it is for.")
    converter = serializers.CharField(help_text="The id of the conversion the service runs on it when it receives it "
                                                "(chosen at upload); empty: it is sent as it is.")
    converter_label = serializers.CharField(help_text="That conversion's label, as the service gave it when it was "
                                                      "chosen (also once the service no longer offers it); empty with "
                                                      "`converter`.")
    size = serializers.IntegerField()
    duration = serializers.FloatField(allow_null=True, help_text="Seconds, of a recording.")
    sample_rate = serializers.IntegerField(allow_null=True)
    channels = serializers.IntegerField(allow_null=True)
    uploaded_at = serializers.DateTimeField()
    pairing = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()

    def get_pairing(self, f) -> PairingSerializer(allow_null=True):
        found = self.context.get("pairing", {}).get(f.pk)
        if found is None:
            return None
        paired, badge, message = found
        return {"paired": paired, "badge": badge, "message": message}

    def get_download(self, f) -> str:
        return self.context["request"].build_absolute_uri(reverse("api-download-file", args=[f.project_id, f.pk]))


class UploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), help_text="Recordings, transcripts, dictionaries, "
                                  "or .zip archives of them (unpacked); as many `files` parts as you like.")
    replace = serializers.BooleanField(required=False, default=False,
                                       help_text="Replace files of the project that have the same name.")
    converter = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="Conversions the service runs on the files of this upload when it receives them (a one-service "
        "pipeline's: the `converters` of its inputs): a converter's id, for the files of every input that offers it, "
        "or `<input template id>:<converter id>`; as many `converter` parts as inputs. A file is converted when the "
        "converter takes its extension (“Convert from PDF Document”: .pdf), others of the upload are sent as they "
        "are; unknown ids are refused (`unknown_converter`), two for one input too (`converter_twice`).")


class RefusedSerializer(serializers.Serializer):
    name = serializers.CharField()
    code = serializers.CharField(help_text="`file_refused`, or `file_too_large` for a file the server stopped "
                                           "receiving.")
    detail = serializers.CharField(help_text="The message the upload page shows.")


class UploadResultSerializer(serializers.Serializer):
    added = FileSerializer(many=True)
    refused = RefusedSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField(), help_text="About names changed, junk skipped in "
                                                                           "archives.")


class DeletedProjectSerializer(serializers.Serializer):
    detail = serializers.CharField()
    files = serializers.IntegerField()
    stopped = serializers.IntegerField(help_text="Processes of a running alignment that were stopped.")


# Runs and their results


class ProgressSerializer(serializers.Serializer):
    percent = serializers.IntegerField(help_text="Of the current step, 0–100.")
    status = serializers.CharField(help_text="The step's state: queued, uploading, running, downloading, …")
    message = serializers.CharField(help_text="What the step is doing, as the run page says it (may be empty).")


class ProgressDetailSerializer(ProgressSerializer):
    waiting = serializers.CharField(allow_null=True, help_text="Why the step waits (no worker runs, one stopped), as "
                                                               "the run page says it; else null.")


class RunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    stage = serializers.ChoiceField(choices=Run.Stage.values)
    stage_label = serializers.CharField(help_text="The stage as the run page says it: “aligning”, “waiting for your "
                                                  "review of the pronunciations”, “done with problems”, …")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    progress = ProgressSerializer(allow_null=True, help_text="Of the step under way; null when none is.")
    error = serializers.CharField(allow_null=True, help_text="Of a failed run: why; of one done with problems: what "
                                                             "was not used (“Not every file was used: report.pdf was "
                                                             "left out: …”); as the run page says it.")
    url = serializers.CharField(help_text="This run in the API: follow it there.")
    page = serializers.CharField(help_text="The run's page on the site.")


class WordToCheckSerializer(serializers.Serializer):
    label = serializers.CharField()
    confidence = serializers.FloatField(help_text="0–1; below 0.5 a word is listed (docs/users/alignment.md).")
    time = serializers.CharField(help_text="Where it starts, as the run page gives it: “1.50 s”, or “0:50.0” in a "
                                           "long recording.")
    speaker = serializers.CharField(allow_null=True, help_text="Of a result with a word tier per speaker.")
    picture = serializers.CharField(help_text="The result picture on the site, at this word.")


class WordsToCheckSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many words are below 0.5 in all.")
    words = WordToCheckSerializer(many=True, help_text="The least confident first (at most the run page's number).")


class OutcomeSerializer(serializers.Serializer):
    recording = serializers.CharField(help_text="The audio file's name (or the transcript's, if no audio).")
    transcript = serializers.CharField(help_text="May be empty.")
    status = serializers.ChoiceField(choices=RecordingOutcome.Status.values)
    status_label = serializers.CharField(help_text="As the run page says it: “aligned with warnings”, …")
    message = serializers.CharField(help_text="Why it was not aligned, or what it waits for (may be empty).")
    warnings = serializers.ListField(child=serializers.CharField())
    result = serializers.CharField(allow_null=True, help_text="Its result's name (see the run's results), or null.")
    words_to_check = WordsToCheckSerializer(allow_null=True, help_text="Of a recording with a result, else null.")
    kept_from_first_alignment = serializers.BooleanField(
        help_text="True when, after the review, its result is the first alignment's (it did not need the reviewed "
                  "pronunciations, so it was not aligned again); false otherwise, and before the review is sent.")


class RunDetailSerializer(RunSerializer):
    progress = ProgressDetailSerializer(allow_null=True, help_text="Of the step under way; null when none is.")
    summary = serializers.CharField(help_text="“3 of 5 recordings aligned (1 with warnings); 2 not aligned”, "
                                              "or empty before any outcome is known.")
    realignment = serializers.CharField(help_text="After the review, as the run page says it: how many recordings are "
                                                  "(or were) aligned again with the reviewed pronunciations and why "
                                                  "(every one, since …; none, as the recordings that waited were "
                                                  "left out or deleted), the others keeping the first alignment's "
                                                  "results; else empty.")
    parameters = serializers.DictField(help_text="The values the run was started with, those that had an effect on "
                                                 "it: a run of the bundled aligner in English (whose phones are "
                                                 "ARPAbet) does not list the phone alphabet of other languages.")
    unknown_words = serializers.ListField(child=serializers.CharField(),
                                          help_text="Words the aligner's dictionary lacked.")
    skipped_words = serializers.ListField(child=serializers.CharField(),
                                          help_text="Unknown words left out in the review, with their recordings.")
    review_page = serializers.CharField(allow_null=True, help_text="While the run waits for your review: the page "
                                                                   "of the pronunciations to review.")
    outcomes = OutcomeSerializer(many=True, help_text="One per recording, as the run page lists them.")
    results = serializers.CharField(help_text="The run's results, each with a download per format.")


class ResultSerializer(serializers.Serializer):
    recording = serializers.CharField(allow_null=True, help_text="Null for an output of a one-service pipeline.")
    name = serializers.CharField(help_text="The result's name: {name} in …/results/{name}/.")
    label = serializers.CharField(required=False,
                                  help_text="Of an output of a one-service pipeline: what the service calls it.")
    size = serializers.IntegerField(required=False,
                                    help_text="Of an output of a one-service pipeline: its size in bytes.")
    of_file = serializers.CharField(required=False, help_text=(
        "Of an output of a one-service pipeline that kept its name on the service: the name of your file it is an "
        "output of. Two of your files had one name on the service (memo.txt, and memo.rot converted into a .txt), so "
        "the outputs of one keep the service's names (memo-2.count is of memo.txt), as the run page and the zip's "
        "names-on-the-service.txt say; null for any other output."))
    downloads = serializers.DictField(child=serializers.CharField(),
                                      help_text="A URL per format: textgrid, eaf, csv, json; of an output of a "
                                                "one-service pipeline, `file` (the output as it is; an output in a "
                                                "subfolder is in the zip only).")
    picture = serializers.CharField(allow_null=True, help_text="The result picture on the site.")


class ResultListSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many results the run has, on all pages.")
    next = serializers.CharField(allow_null=True, help_text="The next page's address; null on the last page.")
    previous = serializers.CharField(allow_null=True, help_text="The previous page's address; null on the first.")
    results = ResultSerializer(many=True, help_text="This page's results, in the run page's order.")
    zip = serializers.DictField(child=serializers.CharField(), allow_null=True,
                                help_text="The zip of the results: all formats (`all`) or one; null while the run "
                                          "has no result.")


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="0: the automatic alignment; each save the next number.")
    alignment = serializers.CharField(help_text="Which alignment of the run this is (a realignment's results "
                                                   "number their versions from 0 again): send it back with a PUT.")
    author = serializers.CharField(allow_null=True, help_text="Who saved it; null for the automatic one.")
    created_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(help_text="This version's intervals (GET); PUT the next number to save a new one.")
    downloads = serializers.DictField(child=serializers.CharField(),
                                      help_text="A URL per format: textgrid, eaf, csv, json.")


class VersionListSerializer(serializers.Serializer):
    versions = VersionSerializer(many=True)


class IntervalSerializer(serializers.Serializer):
    start = serializers.FloatField()
    end = serializers.FloatField()
    label = serializers.CharField(allow_blank=True, help_text="Empty for a pause.")
    confidence = serializers.FloatField(allow_null=True, required=False, help_text="0–1, or null.")


class TierSerializer(serializers.Serializer):
    name = serializers.CharField()
    intervals = IntervalSerializer(many=True, help_text="Contiguous, from `start` to `end` of the version.")


class VersionDetailSerializer(VersionSerializer):
    start = serializers.FloatField()
    end = serializers.FloatField()
    tiers = TierSerializer(many=True, help_text="Every interval tier but the confidence tiers, in the TextGrid's "
                                                "order (pauses included, with empty labels).")


class VersionPutSerializer(serializers.Serializer):
    tiers = TierSerializer(many=True, required=False, help_text="The tiers of the version it was made from, "
                                                                "corrected.")
    textgrid = serializers.CharField(required=False, help_text="Or the whole TextGrid, as text.")
    alignment = serializers.CharField(help_text="The `alignment` of the version it was made from (required): "
                                                "refused with `stale_version` if the run was realigned since.")


class RunStartSerializer(serializers.Serializer):
    parameters = serializers.DictField(required=False, help_text="{id: value} of the pipeline's `parameters`, of "
                                                                 "their types; the others have their defaults.")
    only_complete_pairs = serializers.BooleanField(required=False, default=False, help_text=(
        "Align the complete pairs only, leaving out files without their partner (the page's “Align the … "
        "complete pairs only”); without it such a project cannot start."))


class ReviewWordSerializer(serializers.Serializer):
    word = serializers.CharField()
    proposed = serializers.ListField(child=serializers.CharField(), help_text="The pronunciations proposed for it, "
                                     "phones separated by spaces (may be empty: then type one).")
    recordings = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                       help_text="The recordings that contain it; null when the run cannot tell.")


class ReviewSerializer(serializers.Serializer):
    words = ReviewWordSerializer(many=True, help_text="The unknown words, as the review page lists them.")
    dictionary = serializers.CharField(help_text="The proposed dictionary: one “word PH PH …” per line. Send it "
                                                 "back as it is to accept it, or corrected.")
    phones = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                   help_text="The phones this aligner knows; null when any are taken.")
    approximate = serializers.BooleanField(help_text="Phones are IPA mapped to another language's acoustic model.")
    phone_note = serializers.CharField(help_text="What the review page says of the phones to write (may be empty).")
    page = serializers.CharField(help_text="The review page on the site.")


class ReviewSubmitSerializer(serializers.Serializer):
    dictionary = serializers.CharField(required=False, allow_blank=True, help_text=(
        "The reviewed pronunciations, as the review page's box takes them: one “word PH PH …” per line."))
    skip_missing = serializers.BooleanField(required=False, default=False, help_text=(
        "The page's “Align without these words”: unknown words without a line leave their recordings out."))
    skip = serializers.BooleanField(required=False, default=False, help_text=(
        "Align again without any of the unknown words: the recordings with them are left out (no `dictionary`)."))


class MeSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True, help_text="Where the mails about your runs go.")
    notify_runs = serializers.BooleanField(help_text="“E-mail me about my runs”: a mail when a run needs your review "
                                                     "and when it ends (done, done with problems, failed).")
