"""Pipeline moves from `pipelines` to `scripts` (issue 15), so that app dependencies run one way.

Only Django's idea of the model moves: the table keeps its name (`db_table = "pipelines_pipeline"`),
so no row, key or foreign-key constraint of any database is touched, on SQLite as on PostgreSQL.
Renaming the table instead would rebuild every referencing table on SQLite and leave the old
names on PostgreSQL's sequence, indexes and constraints, for nothing a user sees. The content type
moves with the model, so the admin's history and staff permissions on pipelines stay attached.
`pipelines` 0004 and `upload` 0002 point their foreign keys at the moved model.
"""

import django.db.models.deletion
from django.db import migrations, models


def _move_content_type(apps, schema_editor, source, target):
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    # A fresh database has no content types yet (they are made after migrating); a database that
    # already has the target (made by a partial migrate) keeps both rather than merge permissions.
    if not content_types.filter(app_label=target, model="pipeline").exists():
        content_types.filter(app_label=source, model="pipeline").update(app_label=target)


def forwards(apps, schema_editor):
    _move_content_type(apps, schema_editor, "pipelines", "scripts")


def backwards(apps, schema_editor):
    _move_content_type(apps, schema_editor, "scripts", "pipelines")


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        # The table was created, and last changed, by pipelines' migrations.
        ('pipelines', '0003_outcomes'),
        ('scripts', '0004_worker_heartbeat'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Pipeline',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, unique=True)),
                        ('language', models.CharField(help_text='e.g. en-us, nl', max_length=50)),
                        ('description', models.TextField(blank=True)),
                        ('phone_set', models.TextField(blank=True, help_text='Phones the aligner knows, separated by spaces; reviewed pronunciations are checked against them. Empty: any phones.')),
                        ('dictionary_output', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scripts.outputtemplate', verbose_name='G2P output with the dictionary')),
                        ('fa_dictionary_input', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scripts.inputtemplate', verbose_name='FA input taking a dictionary')),
                        ('fa_script', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='fa_pipelines', to='scripts.script', verbose_name='forced-alignment script')),
                        ('g2p_input', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scripts.inputtemplate', verbose_name='G2P input taking the word list')),
                        ('g2p_script', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='g2p_pipelines', to='scripts.script', verbose_name='G2P script')),
                        ('oov_output', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scripts.outputtemplate', verbose_name='FA output listing OOV words')),
                    ],
                    options={
                        'ordering': ['name'],
                        'db_table': 'pipelines_pipeline',
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
