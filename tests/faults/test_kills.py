"""Faults mid-job: kill -9 of a job's child, of the worker, and (PostgreSQL, opt-in) a
database restart. Each must end in a clear job state and lose no record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _wait_for(predicate, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.fixture
def kept_records(project):
    from curation.models import Record

    Record.objects.bulk_create(
        Record(project=project, kind="instruction", instruction=f"问 {i}", content_hash=f"k{i}")
        for i in range(25)
    )
    return set(project.records.values_list("pk", "version"))


def test_kill_9_of_a_child_fails_the_job_with_the_reason(project, kept_records):
    from jobs import services as jobs
    from jobs.models import Job

    job = jobs.create_job("train", project=project, params={})

    def worker():
        try:
            jobs.run_child(job, SLEEPER, poll_s=0.1)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    pid = _wait_for(lambda: Job.objects.get(pk=job.pk).pid)
    os.kill(pid, signal.SIGKILL)
    thread.join(30)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "SIGKILL" in job.error
    assert set(project.records.values_list("pk", "version")) == kept_records


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_kill_9_of_the_worker_ends_its_child_and_the_job_is_marked_failed(project, kept_records):
    from jobs import services as jobs
    from jobs.models import Job

    job = jobs.create_job("train", project=project, params={})
    script = (
        "import django, sys; django.setup(); from jobs import services as jobs; "
        "from jobs.models import Job; "
        f"jobs.run_child(Job.objects.get(pk={job.pk}), {SLEEPER!r}, poll_s=0.1)"
    )
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env)
    try:
        child = _wait_for(lambda: Job.objects.get(pk=job.pk).pid, timeout=60)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        # The child dies with its worker (PR_SET_PDEATHSIG), so no run goes on unobserved.
        _wait_for(lambda: not _alive(child), timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING
    # The next worker task finds the job without heartbeats for ORPHAN_AFTER.
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - jobs.ORPHAN_AFTER - timedelta(seconds=1)
    )
    assert jobs.mark_orphans() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "stopped" in job.error and "Launch it again" in job.error
    assert set(project.records.values_list("pk", "version")) == kept_records


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("TUNEDESK_TEST_PG_RESTART") != "1",
    reason="restarts the PostgreSQL server: opt in with TUNEDESK_TEST_PG_RESTART=1 "
    "(for CI, where nothing else uses the server)",
)
def test_a_database_restart_mid_job_ends_in_a_clear_state(project, kept_records):
    from django.db import close_old_connections

    from jobs import services as jobs
    from jobs.models import Job

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    job = jobs.create_job("train", project=project, params={})
    outcome = {}

    def worker():
        try:
            outcome["job"] = jobs.run_child(
                job, [sys.executable, "-c", "import time; time.sleep(8)"], poll_s=0.2
            )
        except Exception as e:  # the worker's poll hit the restart
            outcome["error"] = e
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    _wait_for(lambda: Job.objects.get(pk=job.pk).pid)
    subprocess.run(["pg_ctlcluster", "15", "main", "restart"], check=True, timeout=120)
    thread.join(60)
    close_old_connections()
    connection.close()
    job = Job.objects.get(pk=job.pk)
    if "error" in outcome:
        # The worker lost its connection mid-poll: the job is left running without a
        # heartbeat, which the next worker turns into a clear failure.
        Job.objects.filter(pk=job.pk).update(
            heartbeat_at=timezone.now() - jobs.ORPHAN_AFTER - timedelta(seconds=1)
        )
        jobs.mark_orphans()
        job.refresh_from_db()
    assert job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED)
    assert job.status == Job.Status.SUCCEEDED or job.error
    assert set(project.records.values_list("pk", "version")) == kept_records
