"""Many clients at once on PostgreSQL: the queue never hands one record to two annotators,
the version check never loses an update, and two workers never run one job twice.

SQLite serialises every write, so these races cannot happen there; the tests run only
against a real PostgreSQL server (DATABASE_URL), as .ci/run does.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="row locking races need PostgreSQL: set DATABASE_URL=postgres://... (.ci/run does)",
    ),
    pytest.mark.django_db(transaction=True),
]
THREADS = 8


def in_threads(work, items):
    """Run work(item) for every item on THREADS threads, each with its own connection."""

    def run(item):
        try:
            return work(item)
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, items))


@pytest.fixture
def annotators(project, make_user):
    from curation.models import Membership, Role

    users = [make_user(f"annotator{i}") for i in range(THREADS)]
    for user in users:
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    return users


@pytest.fixture
def queue(project):
    from curation.models import Record

    return Record.objects.bulk_create(
        Record(
            project=project,
            kind="instruction",
            instruction=f"问题 {i}",
            output=f"答案 {i}",
            content_hash=f"h{i}",
        )
        for i in range(60)
    )


def test_no_record_is_handed_to_two_annotators_and_every_one_is_submitted_once(
    project, annotators, queue
):
    from curation import workflow
    from curation.models import RecordEvent

    start = threading.Barrier(THREADS)

    def work(user) -> list[int]:
        start.wait()
        done = []
        while (record := workflow.next_record(project, user)) is not None:
            record = workflow.save_record(
                record, user, version=record.version, state={"output": f"{user.username} 改"}
            )
            workflow.submit_record(record, user, version=record.version)
            done.append(record.pk)
        return done

    results = in_threads(work, annotators)
    claims = Counter(RecordEvent.objects.filter(action="claim").values_list("record_id", flat=True))
    submits = Counter(
        RecordEvent.objects.filter(action="submit").values_list("record_id", flat=True)
    )
    assert sorted(pk for done in results for pk in done) == sorted(r.pk for r in queue)
    assert set(claims.values()) == {1}
    assert set(submits.values()) == {1}
    assert sum(1 for done in results if done) > 1  # the work really was shared


def test_racing_saves_lose_no_update(project, people, queue):
    """Every thread adds one to a counter kept in the answer, retrying on 409: the final
    count is the number of increments, so no save overwrote another unseen."""
    from curation import workflow
    from curation.models import Record

    record = queue[0]
    increments = 5
    editors = [people["reviewer"], people["engineer"]] * (THREADS // 2)
    conflicts = []

    def work(user) -> None:
        for _ in range(increments):
            while True:
                fresh = Record.objects.select_related("project").get(pk=record.pk)
                count = int(fresh.output) if fresh.output.isdigit() else 0
                try:
                    workflow.save_record(
                        fresh, user, version=fresh.version, state={"output": str(count + 1)}
                    )
                    break
                except workflow.EditConflict:
                    conflicts.append(user.username)

    in_threads(work, editors)
    record.refresh_from_db()
    assert int(record.output) == THREADS * increments
    assert record.version == 1 + THREADS * increments
    assert conflicts  # the threads really raced


def test_two_workers_never_run_one_job_twice(project, tmp_path):
    """Two worker threads both try every queued job; the compare-and-set start lets each
    job's child process run exactly once."""
    from jobs import services as jobs
    from jobs.models import Job

    queued = [jobs.create_job("draft", project=project, params={}, total=1) for _ in range(12)]
    marks = {job.pk: tmp_path / f"ran-{job.pk}" for job in queued}

    def worker(_name) -> int:
        ran = 0
        for job in Job.objects.filter(pk__in=marks).order_by("pk"):
            script = f"open({str(marks[job.pk])!r}, 'a').write('x')"
            job = jobs.run_child(job, [sys.executable, "-c", script], poll_s=0.05)
            ran += 1
        return ran

    in_threads(worker, ["one", "two"])
    assert {pk: Path(mark).read_text() for pk, mark in marks.items()} == dict.fromkeys(marks, "x")
    assert set(Job.objects.filter(pk__in=marks).values_list("status", flat=True)) == {
        Job.Status.SUCCEEDED
    }
