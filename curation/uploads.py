"""Files uploaded through the browser: keep, preview, import (inline when small, as a worker
job when large), read the state, clean up.

An upload lives in UPLOAD_DIR/<project>/<token>/: the file under a name of our own
(`upload` plus a plain suffix: the user's name is kept in the state only, so no name,
however long or however like the state files, can break or hijack the folder) and
`state.json` (who, options, then the job). A large file's import is a Job of kind "import"
that the db_worker runs in a child process (`curation.import_entry`): no thread in a web
process, the same progress, cancel and orphan handling as every job, and the import itself
all-or-nothing. The worker's sweep removes unconfirmed uploads after a day, folders an
interrupted upload left without a state after an hour, and the file of every finished import.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import CurationError, NotFound
from curation import imports
from curation.models import Project
from jobs import services as jobs
from jobs.models import Job

#: Files past this size are imported by the worker; smaller ones in the request.
BACKGROUND_BYTES = 5 * 1024 * 1024
STATE_FILE = "state.json"
DATA_STEM = "upload"
#: What the page shows of the user's file name (the name is never a path here).
NAME_CHARS = 120
UNCONFIRMED_FOR = timedelta(hours=24)
INTERRUPTED_FOR = timedelta(hours=1)
FINISHED_FOR = timedelta(hours=24)
SWEEP_EVERY_S = 60

_TOKEN = re.compile(r"^[0-9a-f]{16}$")
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
_last_sweep = 0.0


def upload_dir(project: Project, token: str) -> Path:
    if not _TOKEN.match(token):
        raise NotFound(_("No such upload."))
    return Path(settings.UPLOAD_DIR) / project.slug / token


def data_name(user_name: str) -> str:
    """The stored file's name: ours, with the user's suffix when it is a plain one (format
    detection and the helper process look at it)."""
    suffix = Path(user_name.replace("\\", "/").rsplit("/", 1)[-1]).suffix
    return DATA_STEM + (suffix.lower() if _SUFFIX.match(suffix) else "")


def display_name(user_name: str) -> str:
    name = user_name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload"
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def save_state(folder: Path, state: dict) -> None:
    tmp = folder / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    tmp.replace(folder / STATE_FILE)


def _read_state(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def keep_upload(project: Project, user, upload, options: dict) -> tuple[str, imports.Preview]:
    """Store an uploaded file and preview it; (token, preview). Nothing is imported yet.

    A file that cannot be previewed is removed again and the error raised."""
    token = secrets.token_hex(8)
    folder = upload_dir(project, token)
    folder.mkdir(parents=True)
    path = folder / data_name(upload.name or "")
    try:
        with open(path, "wb") as f:
            for chunk in upload.chunks():
                f.write(chunk)
        preview = imports.preview_file(path, options["format"] or None)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    save_state(
        folder,
        {
            "user": user.pk,
            "file": path.name,
            "name": display_name(upload.name or ""),
            "size": path.stat().st_size,
            **options,
            "format": preview.format,
            "state": "uploaded",
        },
    )
    return token, preview


def upload_state(project: Project, token: str, user) -> tuple[Path, dict]:
    """The upload's folder and state as the page shows it (a job's state folded in)."""
    folder = upload_dir(project, token)
    state = _read_state(folder)
    if state is None or state.get("user") != user.pk:
        raise NotFound(_("No such upload."))
    if state.get("job"):
        state = _with_job(state, Job.objects.filter(pk=state["job"]).first())
    return folder, state


def _with_job(state: dict, job: Job | None) -> dict:
    """The page's state of an upload imported by a job (Job rows read through job_state)."""
    if job is None:
        return state | {"state": "failed", "error": {"message": _("The import job is gone.")}}
    if not job.is_finished:
        fraction = float(job.metrics.get("fraction") or 0.0)
        rows = int(job.metrics.get("rows") or 0)
        return state | {
            "state": "running",
            "queued": job.status == Job.Status.QUEUED,
            "fraction": fraction,
            "rows": rows,
        }
    result = job.result or {}
    if job.status == Job.Status.SUCCEEDED:
        return state | {"state": "done", "fraction": 1.0, "report": result.get("report")}
    error = result.get("error") or {"message": job.error, "hint": ""}
    if job.status == Job.Status.CANCELLED:
        error = {"message": _("The import was cancelled; nothing was written."), "hint": ""}
    return state | {"state": "failed", "error": error, "report": result.get("report")}


def confirm_upload(project: Project, token: str, user) -> dict:
    """Import a previewed upload: in this request when small, else as a worker job. Asking
    twice imports once (the state moves on before the import starts)."""
    folder, state = upload_state(project, token, user)
    if state["state"] != "uploaded":
        return state
    if state["size"] > BACKGROUND_BYTES:
        job = jobs.create_job(
            Job.Kind.IMPORT,
            project=project,
            actor=user,
            params={"upload": token, "file": state["name"], "size": state["size"]},
        )
        config = {
            "project": project.pk,
            "actor": user.pk,
            "path": str(folder / state["file"]),
            "format": state["format"],
            "skip_bad": state["skip_bad"],
            "dedup": not state["keep_duplicates"],
            "status": state["status"],
        }
        (Path(job.workdir) / "import.json").write_text(json.dumps(config), encoding="utf-8")
        save_state(folder, state | {"job": job.pk})
        jobs.enqueue(job)
        return _with_job(state, job)
    save_state(folder, state | {"state": "running", "fraction": 0.0, "rows": 0})
    try:
        report = imports.import_file(
            project,
            folder / state["file"],
            actor=user,
            format_name=state["format"],
            skip_bad=state["skip_bad"],
            dedup=not state["keep_duplicates"],
            status=state["status"],
        )
    except CurationError as e:
        state |= {"state": "failed", "error": e.as_dict(), "report": report_of(e)}
    except Exception as e:  # a bug still ends the import with its message, then surfaces
        save_state(folder, state | {"state": "failed", "error": {"message": str(e), "hint": ""}})
        raise
    else:
        state |= {"state": "done", "fraction": 1.0, "report": report.as_dict()}
    finally:
        (folder / state["file"]).unlink(missing_ok=True)
    save_state(folder, state)
    return state


def report_of(error: CurationError) -> dict | None:
    report = getattr(error, "report", None)
    return report.as_dict() if report else None


def run_import_job(job: Job) -> Job:
    """The worker's handler for jobs of kind "import" (registered in CurationConfig.ready)."""
    workdir = Path(job.workdir)
    return jobs.run_child(
        job, jobs.python_module("curation.import_entry", str(workdir / "import.json"))
    )


def sweep_uploads(*, now: float | None = None, force: bool = False) -> int:
    """Remove what no page will need again; the number of folders removed. Run by the
    worker's sweep (at most every SWEEP_EVERY_S)."""
    global _last_sweep
    now = time.time() if now is None else now
    if not force and now - _last_sweep < SWEEP_EVERY_S:
        return 0
    _last_sweep = now
    root = Path(settings.UPLOAD_DIR)
    if not root.is_dir():
        return 0
    folders = [f for p in root.iterdir() if p.is_dir() for f in p.iterdir() if f.is_dir()]
    finished_jobs = set(
        Job.objects.filter(kind=Job.Kind.IMPORT, status__in=Job.FINISHED).values_list(
            "pk", flat=True
        )
    )
    removed = 0
    for folder in folders:
        if not _TOKEN.match(folder.name):
            continue
        age = now - folder.stat().st_mtime
        state = _read_state(folder)
        if state is None:
            stale = age > INTERRUPTED_FOR.total_seconds()
        elif state["state"] == "uploaded" and not state.get("job"):
            stale = age > UNCONFIRMED_FOR.total_seconds()
        else:
            finished = state["state"] in ("done", "failed") or state.get("job") in finished_jobs
            if finished:
                (folder / state["file"]).unlink(missing_ok=True)
            stale = finished and age > FINISHED_FOR.total_seconds()
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
