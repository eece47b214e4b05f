"""Background jobs: queue one, run its work in a child process, follow it, cancel it, read it.

The child (training, drafting, comparison, a large import) talks to us through files in its
work directory: `progress.jsonl` (one JSON object per line: done, total and any figures,
written by `jobs.progress.ProgressWriter`), `result.json` (`jobs.progress.write_result`), and
`job.log` (its stdout and stderr). This module turns those into the Job row. A crash, an OOM
kill or a cancel ends only the child; the worker marks the job and goes on with the next one.

Every door (pages, API, admin, `--wait`) reads a job through `job_state`, which reports a
running job whose worker went silent as failed, whether or not a worker has swept it yet.
The worker sweeps (`sweep`) on a timer: orphans, and whatever the apps above registered
(`register_sweep`: dead uploads, say).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import InvalidInput
from jobs.lifeline import die_with_parent, kill_tree
from jobs.models import Job

HEARTBEAT_EVERY_S = 5
# A running job whose worker has not written a heartbeat for this long has lost its worker:
# six missed beats, so a worker waiting out a locked database is not taken for dead.
ORPHAN_AFTER = timedelta(seconds=30)
# How often a worker sweeps (orphans, and the sweeps registered by the apps above).
SWEEP_EVERY_S = 10
LOG_TAIL_CHARS = 4000
CANCEL_GRACE_S = 10
# A write the worker must not lose (a job's end) is retried this long on a locked database.
FINAL_WRITE_PATIENCE_S = 600

_sweeps: list[Callable[[], object]] = []
_last_sweep = 0.0


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
    from jobs.tasks import run_job  # tasks imports this module

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


def _orphan_error() -> str:
    return (
        "The worker running this job stopped (no heartbeat for "
        f"{int(ORPHAN_AFTER.total_seconds())} s), so the job was marked failed. "
        "Launch it again; its files are kept in its work directory."
    )


def is_orphan(job: Job, *, now=None) -> bool:
    """Running, and its worker silent (no heartbeat, else no start) for ORPHAN_AFTER."""
    last_sign = job.heartbeat_at or job.started_at
    stale = (now or timezone.now()) - ORPHAN_AFTER
    return job.status == Job.Status.RUNNING and last_sign is not None and last_sign < stale


def job_state(job: Job) -> Job:
    """The job as every door shows it: a running job whose worker went silent reads failed.

    Job.from_db passes every loaded row through here, so pages, the API, the admin and
    `--wait` all read the same state. Reads never write: the row itself is marked by the
    next worker sweep (`mark_orphans`), and reads failed meanwhile even with no worker alive.
    """
    if is_orphan(job):
        job.status = Job.Status.FAILED
        job.error = _orphan_error()
        job.finished_at = job.heartbeat_at or job.started_at
    return job


def mark_orphans() -> int:
    """Fail running jobs whose worker stopped writing heartbeats (killed, host lost)."""
    stale = timezone.now() - ORPHAN_AFTER
    silent = Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale)
    return Job.objects.filter(silent, status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED, finished_at=timezone.now(), error=_orphan_error()
    )


def register_sweep(sweep_fn: Callable[[], object]) -> None:
    """Run `sweep_fn` on every worker sweep (apps register theirs in AppConfig.ready)."""
    if sweep_fn not in _sweeps:
        _sweeps.append(sweep_fn)


def sweep(*, force: bool = False) -> None:
    """Mark orphans and run the registered sweeps, at most every SWEEP_EVERY_S (the worker's
    loop and a job's polling loop both call it). A locked database skips this round."""
    global _last_sweep
    if not force and time.monotonic() - _last_sweep < SWEEP_EVERY_S:
        return
    _last_sweep = time.monotonic()
    for fn in (mark_orphans, *_sweeps):
        try:
            fn()
        except DatabaseError:
            close_old_connections()  # the next round tries again


def retry_on_locked(write: Callable[[], object], *, patience_s: float = FINAL_WRITE_PATIENCE_S):
    """Run `write` until the database takes it: SQLite answers "database is locked" once its
    busy timeout passes, and a database restart drops connections; neither may lose a job's end.
    """
    deadline = time.monotonic() + patience_s
    pause = 0.5
    while True:
        try:
            return write()
        except DatabaseError:
            if time.monotonic() > deadline:
                raise
            close_old_connections()
            time.sleep(pause)
            pause = min(pause * 2, 10)


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
    """Run `argv` for `job` until it ends; keep the row in step; return the finished job.

    Cancel sends the child SIGTERM (a training child stops within a step; `torchrun` passes
    it on to its ranks); a child still alive CANCEL_GRACE_S later is killed with every
    process below it, so the ranks of a multi-process run, which `torchrun` starts in
    sessions of their own and which may sit in a collective that SIGTERM cannot interrupt,
    go too.
    """
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
            # The child gets SIGKILL when the worker dies: no run outlives its worker unobserved.
            preexec_fn=die_with_parent,
        )
    retry_on_locked(lambda: Job.objects.filter(pk=job.pk).update(pid=child.pid))
    offset, beat, cancelled_at = 0, timezone.now(), None
    while True:
        try:
            returncode = child.wait(timeout=poll_s)
        except subprocess.TimeoutExpired:
            returncode = None
        if returncode is not None:
            break
        try:
            offset = _sync_progress(job, workdir, offset)
            if ingest:
                ingest(job)
            if timezone.now() - beat > timedelta(seconds=HEARTBEAT_EVERY_S):
                Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
                beat = timezone.now()
            cancel = Job.objects.filter(pk=job.pk, cancel_requested=True).exists()
        except DatabaseError:
            # Locked (a long write elsewhere) or briefly gone: the child works on, and this
            # poll's writes are made by the next one.
            close_old_connections()
            continue
        if cancelled_at is None and cancel:
            cancelled_at = timezone.now()
            child.terminate()
        elif cancelled_at and (timezone.now() - cancelled_at).total_seconds() > CANCEL_GRACE_S:
            kill_tree(child.pid)
        sweep()

    def last_sync() -> None:
        _sync_progress(job, workdir, offset)
        if ingest:
            ingest(job)

    retry_on_locked(last_sync)
    return retry_on_locked(lambda: _finish(job, returncode))


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
        Job.objects.filter(pk=job.pk).update(**update)  # raises before `offset` moves on
        job.metrics = update["metrics"]
    return offset


def _finish(job: Job, returncode: int) -> Job:
    workdir = Path(job.workdir)
    job.refresh_from_db()
    log_tail = tail(workdir / "job.log")
    result_path = workdir / "result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    fields = {"finished_at": timezone.now(), "log_tail": log_tail, "pid": None}
    if result is not None:
        fields["result"] = result
    if job.cancel_requested:
        fields["status"] = Job.Status.CANCELLED
    elif returncode == 0:
        fields["status"] = Job.Status.SUCCEEDED
    else:
        fields["status"] = Job.Status.FAILED
        # A child that failed for a reason it could name (a bad row, say) says so in its
        # result (jobs.progress.write_result(error=...)); anything else by its exit.
        error = (result or {}).get("error") or {}
        fields["error"] = (
            " ".join(filter(None, [error.get("message"), error.get("hint")]))
            if error
            else describe_exit(returncode, log_tail)
        )
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


def python_module(module: str, *args: str, processes: int = 1) -> list[str]:
    """`python -m module args`; with processes > 1 under `torchrun` on this host, one rank
    per process (the module reads RANK/WORLD_SIZE; see training.entry)."""
    if processes <= 1:
        return [sys.executable, "-m", module, *args]
    launcher = ["torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    return [sys.executable, "-m", *launcher, "-m", module, *args]
