"""A JSON field that keeps the document exactly as written, key order included.

PostgreSQL's jsonb reorders object keys (and drops duplicates), which would break the
promise that an import exports back unchanged (tool schemas keep their key order). This
field stores the JSON text in a text column on every database, as SQLite already does.
It is a JSONField everywhere else (forms, admin, DRF, `icontains`); key and containment
lookups into the document are not used on these columns.
"""

from __future__ import annotations

import json

from django.db import models


class OrderedJSONField(models.JSONField):
    def db_type(self, connection) -> str:
        return "text"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "as_sql"):
            return value
        return json.dumps(value, cls=self.encoder)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "curation.fields.OrderedJSONField", args, kwargs
