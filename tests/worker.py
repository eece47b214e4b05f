"""Start a real `manage.py db_worker` against the test database, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{port}/{db['NAME']}"


@contextmanager
def db_worker(*, queues: str = "*", log: Path | None = None):
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "TUNEDESK_DATA_DIR": str(settings.DATA_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
    }
    out = open(log, "ab") if log else subprocess.DEVNULL
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            queues,
            "--interval",
            "0.2",
            "--no-startup-delay",
            "--no-reload",
        ],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        if log:
            out.close()
