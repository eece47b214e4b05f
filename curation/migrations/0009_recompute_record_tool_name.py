"""Record.tool_name is the first tool the record's answer calls, as curation.record_content
reads the answer (its final reply, a run of assistant messages, or its chosen candidate).
It used to be the last assistant message anywhere, so rows like [user, call A, user] named A
and [user, call A, assistant "ok"] named none: recompute it for every record."""

from django.db import migrations

from curation import record_content

BATCH = 2000


def recompute(apps, schema_editor):
    Record = apps.get_model("curation", "Record")
    changed = []
    fields = ("kind", "system", "instruction", "input", "output", "history", "messages", "chosen")
    for record in Record.objects.only("tool_name", *fields).iterator(chunk_size=BATCH):
        name = record_content.tool_name(record)
        if name != record.tool_name:
            record.tool_name = name
            changed.append(record)
        if len(changed) >= BATCH:
            Record.objects.bulk_update(changed, ["tool_name"])
            changed = []
    Record.objects.bulk_update(changed, ["tool_name"])


class Migration(migrations.Migration):
    dependencies = [("curation", "0008_login_throttle")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
