"""The db_worker outlives a locked database: it backs off, retries, and runs the next job."""

from __future__ import annotations

import sqlite3
import time

import pytest
from django.db import connection

from jobs import services as jobs
from jobs.models import Job
from tests.worker import db_worker

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's single writer"),
]


@pytest.fixture(autouse=True)
def jobs_dir(settings, tmp_path):
    settings.JOBS_DIR = tmp_path / "jobs"


def handled(job: Job, *, within_s: float = 120) -> Job:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job.pk)
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} was not run")


def test_the_worker_survives_a_locked_database_and_runs_the_next_job(
    project, tmp_path, monkeypatch
):
    monkeypatch.setenv("TUNEDESK_SQLITE_BUSY_TIMEOUT", "0.2")
    log = tmp_path / "worker.log"
    with db_worker(log=log) as worker:
        # A job of a kind nobody handles fails at once: proof the worker took it.
        first = handled(jobs.enqueue(jobs.create_job("nobody", project=project, params={})))
        assert "No handler" in first.error
        lock = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # as a long import held it before imports were staged
        try:
            time.sleep(3)  # fifteen of the worker's busy timeouts
            assert worker.poll() is None, log.read_text()[-2000:]
        finally:
            lock.execute("ROLLBACK")
        second = handled(jobs.enqueue(jobs.create_job("nobody", project=project, params={})))
        assert "No handler" in second.error
        assert worker.poll() is None
    assert "trying again" in log.read_text()
