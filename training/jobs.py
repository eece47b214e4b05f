"""Background jobs: queue one, run its work in a child process, follow it, cancel it.

The child (training, drafting, comparison) imports no Django. It talks to us through files
in its work directory: `progress.jsonl` (one JSON object per line: done, total and any
figures), `result.json` when it finishes well, and `job.log` (its stdout and stderr). This
module turns those into the Job row. A crash, an OOM kill or a cancel ends only the child;
the worker marks the job and goes on with the next one.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from curation.errors import InvalidInput
from training.models import Job

HEARTBEAT_EVERY_S = 5
# A running job whose worker has not written a heartbeat for this long has lost its worker.
ORPHAN_AFTER = timedelta(seconds=90)
LOG_TAIL_CHARS = 4000
CANCEL_GRACE_S = 10


def create_job(
    kind: str, *, project=None, actor=None, params: dict, total: int = 0, queue: str = "default"
) -> Job:
    if queue not in settings.TASKS["default"]["QUEUES"]:
        raise InvalidInput(
            f"{queue!r} is not a job queue",
            hint=f"use one of {', '.join(settings.TASKS['default']['QUEUES'])}",
        )
    job = Job.objects.create(
        kind=kind, project=project, created_by=actor, params=params, total=total, queue=queue
    )
    workdir = Path(settings.JOBS_DIR) / f"{kind}-{job.pk}"
    # A new job starts with an empty folder: one left by an earlier job with this id (after a
    # database reset, or a rolled-back test) must not pass its outputs off as this job's.
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    job.workdir = str(workdir)
    job.save(update_fields=["workdir"])
    return job


def enqueue(job: Job) -> Job:
    from training.tasks import run_job

    def send() -> None:
        result = run_job.using(queue_name=job.queue).enqueue(job.pk)
        Job.objects.filter(pk=job.pk).update(task_id=str(result.id))

    # Enqueue only once the job row is committed, so the worker always finds it.
    transaction.on_commit(send)
    return job


def request_cancel(job: Job) -> Job:
    """Ask the worker to stop the job; a queued job is cancelled on the spot."""
    if job.is_finished:
        return job
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now(), cancel_requested=True
    )
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    job.refresh_from_db()
    return job


def mark_orphans() -> int:
    """Fail running jobs whose worker stopped writing heartbeats (killed, host lost)."""
    stale = timezone.now() - ORPHAN_AFTER
    return Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=stale).update(
        status=Job.Status.FAILED,
        finished_at=timezone.now(),
        error=(
            "The worker running this job stopped (no heartbeat for "
            f"{int(ORPHAN_AFTER.total_seconds())} s), so the job was marked failed. "
            "Launch it again; its files are kept in its work directory."
        ),
    )


def _die_with_parent() -> None:
    # Linux: the child gets SIGKILL when the worker dies, so no run outlives its worker
    # unobserved (PR_SET_PDEATHSIG = 1).
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - chars))
        return f.read().decode("utf-8", errors="replace")


def read_new_lines(path: Path, offset: int) -> tuple[list[dict], int]:
    """Complete JSON lines appended to `path` since `offset`; a half-written last line waits."""
    if not path.exists():
        return [], offset
    with path.open("rb") as f:
        f.seek(offset)
        chunk = f.read()
    end = chunk.rfind(b"\n") + 1
    items = []
    for line in chunk[:end].splitlines():
        if line.strip():
            items.append(json.loads(line))
    return items, offset + end


def run_child(
    job: Job,
    argv: list[str],
    *,
    ingest: Callable[[Job], None] | None = None,
    poll_s: float = 1.0,
) -> Job:
    """Run `argv` for `job` until it ends; keep the row in step; return the finished job."""
    workdir = Path(job.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    now = timezone.now()
    started = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    if not started:  # cancelled while queued, or picked up twice
        job.refresh_from_db()
        return job
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    with (workdir / "job.log").open("ab") as log:
        child = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            env=env,
            preexec_fn=_die_with_parent,
        )
    Job.objects.filter(pk=job.pk).update(pid=child.pid)
    offset, beat, cancelled_at = 0, timezone.now(), None
    while True:
        try:
            returncode = child.wait(timeout=poll_s)
        except subprocess.TimeoutExpired:
            returncode = None
        offset = _sync_progress(job, workdir, offset)
        if ingest:
            ingest(job)
        if returncode is not None:
            break
        if timezone.now() - beat > timedelta(seconds=HEARTBEAT_EVERY_S):
            beat = timezone.now()
            Job.objects.filter(pk=job.pk).update(heartbeat_at=beat)
        if cancelled_at is None and Job.objects.filter(pk=job.pk, cancel_requested=True).exists():
            cancelled_at = timezone.now()
            child.terminate()
        elif cancelled_at and (timezone.now() - cancelled_at).total_seconds() > CANCEL_GRACE_S:
            child.kill()
    return _finish(job, returncode)


def _sync_progress(job: Job, workdir: Path, offset: int) -> int:
    items, offset = read_new_lines(workdir / "progress.jsonl", offset)
    if items:
        # Fold every new line in order: a fast child writes several between two polls, and a
        # figure only its earlier lines carry (the last train loss before an eval line) stays.
        merged = dict(job.metrics)
        for item in items:
            merged.update(item)
        update = {"metrics": merged, "heartbeat_at": timezone.now()}
        if "done" in merged:
            update["done"] = int(merged["done"])
        if "total" in merged:
            update["total"] = int(merged["total"])
        Job.objects.filter(pk=job.pk).update(**update)
        job.metrics = update["metrics"]
    return offset


def _finish(job: Job, returncode: int) -> Job:
    workdir = Path(job.workdir)
    job.refresh_from_db()
    log_tail = tail(workdir / "job.log")
    fields = {"finished_at": timezone.now(), "log_tail": log_tail, "pid": None}
    if job.cancel_requested:
        fields["status"] = Job.Status.CANCELLED
    elif returncode == 0:
        fields["status"] = Job.Status.SUCCEEDED
        result_path = workdir / "result.json"
        if result_path.exists():
            fields["result"] = json.loads(result_path.read_text())
    else:
        fields["status"] = Job.Status.FAILED
        fields["error"] = describe_exit(returncode, log_tail)
    Job.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


def describe_exit(returncode: int, log_tail: str) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        cause = " (the out-of-memory killer, or someone, killed it)" if name == "SIGKILL" else ""
        return f"The job's process was stopped by {name}{cause}. The log's last lines are below."
    last = next((line for line in reversed(log_tail.splitlines()) if line.strip()), "")
    return f"The job's process exited with code {returncode}: {last}"


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
