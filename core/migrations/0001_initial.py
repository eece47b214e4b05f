# ApiToken moved here from api/. Its table (api_apitoken) was made by api/0001_initial and
# stays as it is: this changes Django's state only (api/0003_apitoken_moved_to_core drops the
# old state), and moves the content type so permissions and admin history follow the model.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="api", target="core"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    if not types.filter(app_label=target, model="apitoken").exists():
        types.filter(app_label=source, model="apitoken").update(app_label=target)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="core", target="api")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("api", "0002_move_authtoken_keys"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(help_text='What uses it, e.g. "ci pipeline".', max_length=100, verbose_name="name")),
                        ("prefix", models.CharField(db_index=True, editable=False, max_length=16, verbose_name="prefix")),
                        ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                        ("created", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                        ("last_used", models.DateTimeField(blank=True, editable=False, null=True, verbose_name="last used")),
                        ("revoked_at", models.DateTimeField(blank=True, editable=False, null=True, verbose_name="revoked")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens", to=settings.AUTH_USER_MODEL, verbose_name="user")),
                    ],
                    options={
                        "verbose_name": "API token",
                        "verbose_name_plural": "API tokens",
                        "ordering": ["-created", "-id"],
                        "db_table": "api_apitoken",
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_type, move_content_type_back, elidable=True),
    ]
