"""On SQLite a large import holds the write lock only for its last, short step: the rows are
staged in a TEMP table first. Still all-or-nothing, and nothing is visible until the end."""

from __future__ import annotations

import io
import sqlite3

import pytest
from django.db import connection

from curation import imports
from curation.formats import alpaca
from curation.models import Record

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's single writer"),
]


def rows(n: int, *, bad_at: int | None = None):
    lines = [
        '{"instruction": "bad"}' if i == bad_at else f'{{"instruction": "q{i}", "output": "a"}}'
        for i in range(n)
    ]
    return alpaca.read(io.StringIO("\n".join(lines) + "\n"))


def other_writer() -> sqlite3.Connection:
    # Another process's connection: no busy wait, so a held lock fails at once.
    return sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)


def test_other_writers_write_while_an_import_stages_its_rows(project, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 100)
    other = other_writer()
    seen = []

    def during(rows_read: int) -> None:
        # Another writer takes the lock and commits mid-import; the import's rows are unseen.
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE curation_project SET name = name WHERE id = ?", (project.pk,))
        other.execute("COMMIT")
        seen.append(other.execute("SELECT count(*) FROM curation_record").fetchone()[0])

    report = imports.import_rows(
        project, rows(1000), actor=None, format_name="alpaca", on_progress=during
    )
    assert report.imported == 1000 and len(seen) >= 5
    assert set(seen) == {0}
    assert other.execute("SELECT count(*) FROM curation_record").fetchone()[0] == 1000


def test_a_bad_last_row_leaves_nothing_and_no_stage(project, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 100)
    with pytest.raises(imports.ImportFailed):
        imports.import_rows(project, rows(1000, bad_at=999), actor=None, format_name="alpaca")
    assert not Record.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM temp.sqlite_master WHERE name LIKE '%import_stage%'")
        assert cursor.fetchone()[0] == 0
    imports.import_rows(project, rows(10), actor=None, format_name="alpaca")
    assert Record.objects.count() == 10  # the next import starts clean
