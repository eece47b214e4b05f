"""Move DRF authtoken keys (stored in plain text) into ApiToken as digests, then drop
authtoken's table so no key is left in the database.

rest_framework.authtoken is no longer installed, so its model cannot be loaded: the table
is read with plain SQL if it exists. Its migration records go too, so installing the app
again would create a fresh, empty table.
"""

import hashlib
from datetime import UTC

from django.db import migrations

TABLE = "authtoken_token"


def move_keys(connection, ApiToken) -> int:
    """Every authtoken key as an ApiToken named "migrated"; the number moved."""
    with connection.cursor() as cursor:
        if TABLE not in connection.introspection.table_names(cursor):
            return 0
        qn = connection.ops.quote_name
        cursor.execute(f"SELECT {qn('key')}, {qn('user_id')}, {qn('created')} FROM {qn(TABLE)}")
        rows = cursor.fetchall()
        for key, user_id, created in rows:
            # The same digest and prefix as api.tokens.digest_of/prefix_of for an old key
            # (copied, not imported: a migration must not change when the app code does).
            token = ApiToken.objects.create(
                user_id=user_id,
                name="migrated",
                prefix=key[:8],
                digest=hashlib.sha256(key.encode()).hexdigest(),
            )
            if created is not None:
                if created.tzinfo is None:  # SQLite hands back naive UTC
                    created = created.replace(tzinfo=UTC)
                ApiToken.objects.filter(pk=token.pk).update(created=created)
        cursor.execute(f"DROP TABLE {qn(TABLE)}")
        cursor.execute(
            f"DELETE FROM {qn('django_migrations')} WHERE {qn('app')} = %s", ["authtoken"]
        )
    return len(rows)


def forwards(apps, schema_editor):
    move_keys(schema_editor.connection, apps.get_model("api", "ApiToken"))


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    # Backwards leaves the digests: the plain keys cannot be recovered, by design.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
