# The Job model moved here from training/. Its table (training_job) was made by
# training/0003_job and stays as it is: this migration changes Django's state only, and
# training/0005_job_moved_to_jobs points the foreign keys here and drops the old state. The
# content type moves too, so permissions and admin history follow the model.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="training", target="jobs"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    if not types.filter(app_label=target, model="job").exists():
        types.filter(app_label=source, model="job").update(app_label=target)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="jobs", target="training")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("curation", "0001_initial"),
        ("training", "0004_runs_comparisons"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Job",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=[("draft", "Drafting"), ("train", "Training"), ("compare", "Comparison"), ("import", "Import")], max_length=10, verbose_name="kind")),
                        ("status", models.CharField(choices=[("queued", "Queued"), ("running", "Running"), ("succeeded", "Succeeded"), ("failed", "Failed"), ("cancelled", "Cancelled")], default="queued", max_length=10, verbose_name="status")),
                        ("queue", models.CharField(default="default", max_length=40, verbose_name="queue")),
                        ("params", models.JSONField(blank=True, default=dict)),
                        ("done", models.PositiveIntegerField(default=0)),
                        ("total", models.PositiveIntegerField(default=0)),
                        ("metrics", models.JSONField(blank=True, default=dict, help_text="Latest progress figures.")),
                        ("result", models.JSONField(blank=True, default=dict)),
                        ("error", models.TextField(blank=True)),
                        ("log_tail", models.TextField(blank=True)),
                        ("workdir", models.CharField(blank=True, max_length=500)),
                        ("pid", models.IntegerField(blank=True, null=True)),
                        ("worker", models.CharField(blank=True, help_text="host:pid of the worker.", max_length=200)),
                        ("task_id", models.CharField(blank=True, max_length=64)),
                        ("cancel_requested", models.BooleanField(default=False)),
                        ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("project", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="jobs", to="curation.project")),
                    ],
                    options={
                        "verbose_name": "job",
                        "verbose_name_plural": "jobs",
                        "ordering": ["-created_at", "-id"],
                        "db_table": "training_job",
                        "indexes": [models.Index(fields=["status", "heartbeat_at"], name="training_jo_status_0e0373_idx")],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_type, move_content_type_back, elidable=True),
    ]
