"""Pipeline now lives in `scripts` (scripts 0005): a Run points at it there, and this app forgets the model.

State only: the table `pipelines_pipeline` stays, as scripts.Pipeline's, with its rows.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('pipelines', '0003_outcomes'),
        ('scripts', '0005_pipeline'),
        # The project's foreign key must point at scripts.Pipeline before this app's model goes.
        ('upload', '0002_project_pipeline_in_scripts'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='run',
                    name='pipeline',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='runs', to='scripts.pipeline'),
                ),
                migrations.DeleteModel(name='Pipeline'),
            ],
            database_operations=[],
        ),
    ]
