# Job moved to the jobs app (jobs/0001_initial): the foreign keys point there and the old
# model leaves training's state. The table and its rows do not change.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0004_runs_comparisons"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="trainingrun",
                    name="job",
                    field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="run", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="comparison",
                    name="job",
                    field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="comparison", to="jobs.job"),
                ),
                migrations.DeleteModel(name="Job"),
            ],
        ),
    ]
