"""The child-process runner: success, crash, kill, cancel, orphans — the worker survives all."""

import sys
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services as jobs
from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def jobs_dir(settings, tmp_path):
    settings.JOBS_DIR = tmp_path / "jobs"


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


PROGRESS = (
    "import json, pathlib, sys\n"
    "p = pathlib.Path('{workdir}')\n"
    "with open(p / 'progress.jsonl', 'a') as f:\n"
    "    for i in range(1, 4):\n"
    "        f.write(json.dumps({{'done': i, 'total': 3, 'tokens_per_s': 10.5}}) + '\\n')\n"
    "(p / 'result.json').write_text(json.dumps({{'answer': 42}}))\n"
    "print('all good')\n"
)


def test_a_child_that_succeeds_leaves_its_progress_and_result():
    job = jobs.create_job("draft", params={})
    job = jobs.run_child(job, child(PROGRESS.format(workdir=job.workdir)), poll_s=0.1)
    assert job.status == Job.Status.SUCCEEDED
    assert (job.done, job.total) == (3, 3)
    assert job.metrics["tokens_per_s"] == 10.5
    assert job.result == {"answer": 42}
    assert "all good" in job.log_tail


def test_a_child_that_crashes_fails_the_job_with_its_last_words():
    job = jobs.create_job("draft", params={})
    job = jobs.run_child(job, child("raise SystemExit('tokenizer exploded')"), poll_s=0.1)
    assert job.status == Job.Status.FAILED
    assert "exited with code 1: tokenizer exploded" in job.error


def test_a_killed_child_fails_the_job_and_names_the_signal():
    job = jobs.create_job("train", params={})
    job = jobs.run_child(
        job, child("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"), poll_s=0.1
    )
    assert job.status == Job.Status.FAILED
    assert "SIGKILL" in job.error


def test_cancel_stops_a_running_child_within_seconds():
    job = jobs.create_job("train", params={})

    def cancel_soon():
        time.sleep(1.0)
        jobs.request_cancel(Job.objects.get(pk=job.pk))

    threading.Thread(target=cancel_soon).start()
    started = time.monotonic()
    job = jobs.run_child(job, child("import time; time.sleep(60)"), poll_s=0.1)
    assert job.status == Job.Status.CANCELLED
    assert time.monotonic() - started < 10


def test_a_queued_job_is_cancelled_on_the_spot():
    job = jobs.request_cancel(jobs.create_job("draft", params={}))
    assert job.status == Job.Status.CANCELLED
    # and the worker, when it reaches it, does not start it
    job = jobs.run_child(job, child("raise SystemExit(3)"))
    assert job.status == Job.Status.CANCELLED


def test_a_running_job_without_heartbeat_is_marked_failed():
    job = jobs.create_job("train", params={})
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    fresh = jobs.create_job("train", params={})
    Job.objects.filter(pk=fresh.pk).update(status=Job.Status.RUNNING, heartbeat_at=timezone.now())
    assert jobs.mark_orphans() == 1
    # The stored rows (a read through the model would show the orphan failed either way).
    stored = dict(Job.objects.values_list("pk", "status"))
    assert stored == {job.pk: Job.Status.FAILED, fresh.pk: Job.Status.RUNNING}
    assert "worker running this job stopped" in Job.objects.values("error").get(pk=job.pk)["error"]


def test_an_unknown_queue_is_refused():
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="is not a job queue"):
        jobs.create_job("train", params={}, queue="nosuch")


def test_a_new_job_never_inherits_a_folder_left_by_an_earlier_job_with_its_id(settings):
    first = jobs.create_job("draft", params={})
    stale = settings.JOBS_DIR / f"draft-{first.pk + 1}"
    stale.mkdir(parents=True)
    (stale / "outputs.jsonl").write_text('{"id": 12345, "text": "from another job"}\n')
    job = jobs.create_job("draft", params={})
    assert job.pk == first.pk + 1 and job.workdir == str(stale)
    assert list(stale.iterdir()) == []


def test_half_written_progress_lines_wait_for_their_end(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"done": 1}\n{"done": 2')
    items, offset = jobs.read_new_lines(path, 0)
    assert items == [{"done": 1}]
    with path.open("a") as f:
        f.write("}\n")
    items, _ = jobs.read_new_lines(path, offset)
    assert items == [{"done": 2}]


def test_figures_of_earlier_lines_in_one_poll_are_kept():
    code = (
        "import json, pathlib\n"
        "p = pathlib.Path('{workdir}') / 'progress.jsonl'\n"
        "p.write_text(json.dumps({{'done': 1, 'total': 1, 'loss': 2.5}}) + '\\n'"
        " + json.dumps({{'eval_loss': 2.7}}) + '\\n')\n"
    )
    job = jobs.create_job("train", params={})
    job = jobs.run_child(job, child(code.format(workdir=job.workdir)), poll_s=0.5)
    assert job.metrics["loss"] == 2.5 and job.metrics["eval_loss"] == 2.7
