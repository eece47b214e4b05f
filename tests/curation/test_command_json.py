"""Every --json command ends stdout with one JSON object on every failure: its own, a usage
error, an unknown format, a number too long to read, and a database that is locked, full or
damaged. Without --json the same failures are one clear message, never a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
SQLITE_ONLY = pytest.mark.skipif(connection.vendor != "sqlite", reason="an SQLite file's errors")


def run(*args) -> tuple[dict, str]:
    """(the last stdout line as JSON, the CommandError's message) of a failing command."""
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(*args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1]), str(failed.value)


@pytest.fixture
def rows(tmp_path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"instruction": "问", "output": "答"}\n', encoding="utf-8")
    return path


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ("train", "--project", "nope", "--base-model", "x"),
        ("compare", "--run", "999"),
        ("draft_records", "--project", "nope", "--model", "x"),
        ("tune_and_compare", "--project", "nope", "--base-model", "nope"),
        ("export_records", "--project", "nope", "--format", "alpaca", "--out", "/tmp/x"),
        ("import_records", "/no/such/file.jsonl", "--project", "nope"),
    ],
    ids=lambda a: a[0],
)
def test_a_failure_without_a_summary_still_ends_with_a_json_line(args):
    line, message = run(*args)
    assert line["ok"] is False
    assert line["error"]["message"] and message


@pytest.mark.django_db
def test_an_unknown_format_is_a_clear_message_not_a_traceback(project, rows):
    line, message = run("import_records", str(rows), "--project", "shop", "--format", "nope")
    assert message.startswith('there is no format called "nope". Fix: choose one of alpaca')
    assert line["error"]["code"] == "format"
    assert "alpaca" in line["error"]["hint"]


@pytest.mark.django_db
def test_a_number_past_4300_digits_is_a_clear_message(project, tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text('{"instruction": "问", "output": ' + "9" * 5000 + "}\n", encoding="utf-8")
    line, message = run("import_records", str(path), "--project", "shop")
    assert "more digits than can be read" in message
    assert "more digits than can be read" in json.dumps(line, ensure_ascii=False)
    assert project.records.count() == 0


def test_a_usage_error_ends_with_a_json_line_too():
    out = subprocess.run(
        [sys.executable, "manage.py", "export_records", "--project", "x", "--format", "nope"]
        + ["--out", "/tmp/x", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["error"]["code"] == "usage"
    assert "invalid choice: 'nope'" in line["error"]["message"]


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_locked_database_ends_with_a_json_line(project, rows, settings):
    # Another process holds the write lock; this connection waits half a second, not 20.
    connection.close()
    options = connection.settings_dict["OPTIONS"]
    timeout, options["timeout"] = options.get("timeout"), 0.5
    holder = sqlite3.connect(connection.settings_dict["NAME"], timeout=5)
    try:
        holder.execute("BEGIN IMMEDIATE")
        line, message = run("import_records", str(rows), "--project", "shop")
    finally:
        holder.rollback()
        holder.close()
        connection.close()
        options["timeout"] = timeout
    assert line["error"]["code"] == "database"
    assert "locked" in line["error"]["message"]
    assert "write lock" in line["error"]["hint"]
    assert "locked" in message


@SQLITE_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_full_disk_ends_with_a_json_line(project, tmp_path):
    with connection.cursor() as cursor:  # the file may not grow by a page: SQLITE_FULL
        (pages,) = cursor.execute("PRAGMA page_count").fetchone()
        (free,) = cursor.execute("PRAGMA freelist_count").fetchone()
        (page_size,) = cursor.execute("PRAGMA page_size").fetchone()
        cursor.execute(f"PRAGMA max_page_count = {pages}")
    path = tmp_path / "rows.jsonl"  # more rows than the free pages hold
    count = 2 * (free + 10) * page_size // 1000
    path.write_text(
        "".join(
            json.dumps({"instruction": f"问 {i}", "output": "答" * 330}, ensure_ascii=False) + "\n"
            for i in range(count)
        ),
        encoding="utf-8",
    )
    try:
        line, message = run("import_records", str(path), "--project", "shop")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA max_page_count = 4294967294")
    assert line["error"]["code"] == "database"
    assert "full" in line["error"]["message"], message
    assert "free disk space" in line["error"]["hint"]


@SQLITE_ONLY
@pytest.mark.django_db
def test_a_damaged_database_file_ends_with_a_json_line(tmp_path, rows):
    env = {
        **os.environ,
        "TUNEDESK_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    path = tmp_path / "tunedesk.sqlite3"
    with connection.cursor() as c:  # the test database's schema, as a file
        c.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        )
        schema = [sql for (sql,) in c.fetchall()]
    with sqlite3.connect(path) as db:
        for sql in schema:
            db.execute(sql)
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'curation_record'"
        ).fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    with path.open("r+b") as f:  # the records table's first page becomes noise
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * page_size)
    out = subprocess.run(
        [sys.executable, "manage.py", "import_records", str(rows), "--project", "shop"]
        + ["--create", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["error"]["code"] == "database"
    assert "malformed" in line["error"]["message"]
    assert "damaged" in line["error"]["hint"]
