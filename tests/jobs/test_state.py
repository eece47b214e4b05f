"""One read of a job's state for every door: an orphan reads failed everywhere at once, with
no page opened and no worker alive; reads never write; the worker's sweep marks the row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services as jobs
from jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def jobs_dir(settings, tmp_path):
    settings.JOBS_DIR = tmp_path / "jobs"


def running_job(project, *, silent_for: timedelta) -> Job:
    job = jobs.create_job("draft", project=project, params={})
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        started_at=timezone.now() - silent_for,
        heartbeat_at=timezone.now() - silent_for,
    )
    return job


def stored_status(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def test_an_orphan_reads_failed_through_the_api_without_any_sweep(project, people, api_for):
    job = running_job(project, silent_for=jobs.ORPHAN_AFTER + timedelta(seconds=1))
    body = api_for("engineer").get(f"/api/jobs/{job.pk}/").json()
    assert body["status"] == "failed"
    assert "stopped" in body["error"]
    assert stored_status(job) == Job.Status.RUNNING  # the read wrote nothing


def test_a_job_with_a_recent_heartbeat_reads_running(project, people, api_for):
    job = running_job(project, silent_for=timedelta(seconds=2))
    assert api_for("engineer").get(f"/api/jobs/{job.pk}/").json()["status"] == "running"


def test_pages_lists_and_the_admin_read_the_same_state(project, people, client):
    from django.test import Client

    job = running_job(project, silent_for=jobs.ORPHAN_AFTER * 2)
    client.force_login(people["engineer"])
    page = client.get(f"/p/{project.slug}/drafting/{job.pk}/").content.decode()
    assert "Failed" in page and "stopped" in page
    assert Job.objects.get(pk=job.pk).status == Job.Status.FAILED  # every load, lists too
    admin = Client()
    admin.force_login(type(people["engineer"]).objects.create_superuser("root", "", "x"))
    listed = admin.get("/admin/jobs/job/").content.decode()
    assert "Failed" in listed
    assert stored_status(job) == Job.Status.RUNNING


def test_the_sweep_marks_the_row(project):
    job = running_job(project, silent_for=jobs.ORPHAN_AFTER * 2)
    jobs.sweep(force=True)
    assert stored_status(job) == Job.Status.FAILED


def test_registered_sweeps_run_and_a_locked_database_skips_a_round(monkeypatch):
    from django.db import OperationalError

    calls = []

    def locked():
        calls.append("locked")
        raise OperationalError("database is locked")

    monkeypatch.setattr(jobs, "_sweeps", [locked, lambda: calls.append("next")])
    jobs.sweep(force=True)
    assert calls == ["locked", "next"]
