"""The label of the conversion chosen for a file, kept with its id: a re-import of a service that no longer declares
the converter takes the label with it. Filled for the files whose service still declares their converter."""

from django.db import migrations, models


def fill_labels(apps, schema_editor):
    ProjectFile = apps.get_model("upload", "ProjectFile")
    InputTemplate = apps.get_model("scripts", "InputTemplate")
    chosen = ProjectFile.objects.exclude(converter="").filter(converter_label="").select_related("project__pipeline")
    labels = {}  # {(script id, template id, converter id): label}, the first template of that id as the upload's
    for template in InputTemplate.objects.order_by("profile__index", "order", "pk") \
            .values_list("profile__script_id", "template_id", "converters"):
        script, template_id, converters = template
        for converter_id, label in converters or []:
            labels.setdefault((script, template_id, converter_id), label)
    for f in chosen.iterator():
        label = labels.get((f.project.pipeline.fa_script_id, f.template_id, f.converter))
        if label:  # else the service no longer declares it: its label is not known any more
            ProjectFile.objects.filter(pk=f.pk).update(converter_label=label)


class Migration(migrations.Migration):

    dependencies = [
        ('scripts', '0009_pipeline_kind'),
        ('upload', '0003_projectfile_converter'),
    ]

    operations = [
        migrations.AddField(
            model_name='projectfile',
            name='converter_label',
            field=models.CharField(blank=True, help_text='The label the service gave the conversion when the researcher chose it (“Convert from Latin-1”).', max_length=500, verbose_name="conversion's label"),
        ),
        migrations.RunPython(fill_labels, migrations.RunPython.noop),
    ]
