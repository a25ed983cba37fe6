"""What the API sends and takes, as JSON. The rules about what may be created or uploaded are the pages'
own (upload.forms, upload.services, upload.checks); these serializers only shape and document the data."""

from django.urls import reverse
from rest_framework import serializers


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


class InputSerializer(serializers.Serializer):
    extension = serializers.CharField(help_text="Without the dot, as the aligner writes it: wav, txt, TextGrid.")
    filename = serializers.CharField(allow_null=True, help_text="The name the aligner stores this input under, "
                                                                "whatever yours is: a file no other input takes is "
                                                                "for it; else null.")
    kind = serializers.ChoiceField(choices=["audio", "transcript", "dictionary", "other"])
    label = serializers.CharField()
    optional = serializers.BooleanField()
    unique = serializers.BooleanField(help_text="A project takes only one file of it.")


class PipelineSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What a new project's `pipeline` names.")
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

