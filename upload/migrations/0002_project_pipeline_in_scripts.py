"""A Project's pipeline is now scripts.Pipeline: the same table (see scripts 0005), so only the state changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scripts', '0005_pipeline'),
        ('upload', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='project',
                    name='pipeline',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='projects', to='scripts.pipeline'),
                ),
            ],
            database_operations=[],
        ),
    ]
