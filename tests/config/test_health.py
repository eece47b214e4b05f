"""/healthz answers 503 when the database cannot answer a real query."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]

# The request goes through the whole stack (middleware, URLconf) in a fresh process that
# opens the damaged file.
PROBE = """
import json, django
django.setup()
from django.db import connection
from django.test import Client
with connection.cursor() as c:
    c.execute("SELECT 1")  # the old check: still answers on this file
response = Client().get("/healthz")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def test_health_says_ok_when_the_database_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="damages an SQLite file")
def test_health_reports_a_damaged_database_file(tmp_path, db):
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
    with sqlite3.connect(path) as copy:
        for sql in schema:
            copy.execute(sql)
    with sqlite3.connect(path) as db:
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'curation_record'"
        ).fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    with path.open("r+b") as f:  # the records table's first page becomes noise
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * page_size)

    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 503
    assert result["body"]["status"] == "error"
    assert "malformed" in result["body"]["database"]
