# ApiToken moved to core (core/0001_initial); its table stays. Only Django's state changes.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_move_authtoken_keys"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="ApiToken")],
        ),
    ]
