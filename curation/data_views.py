"""Data in and out in the browser: upload → preview → import (with progress) → report;
export snapshots and their downloads; the near-duplicates review page.

An upload is kept under UPLOAD_DIR/<project>/<token>/ with a small state.json (the options,
then the progress and the report), so the preview, the import and the report are separate
requests. Files over BACKGROUND_BYTES are imported in a background thread that updates
state.json after each batch; the status fragment polls it. The import is one transaction
either way, so a crash mid-way leaves the project as it was.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import CurationError
from curation import dedup, exports, imports, selectors, shown
from curation.formats import FORMATS
from curation.models import ExportSnapshot, Project, Record, Role

BACKGROUND_BYTES = 5 * 1024 * 1024
_TOKEN = re.compile(r"^[0-9a-f]{16}$")
_SAFE_NAME = re.compile(r"[^\w.\-]+")


def _readable_formats() -> list[str]:
    return [name for name, m in FORMATS.items() if "read" in m.CAPABILITIES]


def _upload_dir(project: Project, token: str) -> Path:
    if not _TOKEN.match(token):
        raise Http404(_("No such upload."))
    return Path(settings.UPLOAD_DIR) / project.slug / token


def _state(project: Project, token: str, user) -> tuple[Path, dict]:
    folder = _upload_dir(project, token)
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Http404(_("No such upload.")) from None
    if state["user"] != user.pk:
        raise Http404(_("No such upload."))
    return folder, state


def _save_state(folder: Path, state: dict) -> None:
    tmp = folder / "state.json.tmp"
    tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    tmp.replace(folder / "state.json")


def _import_context(project: Project, **extra) -> dict:
    return {
        "project": project,
        "formats": _readable_formats(),
        "statuses": Record.Status.choices,
        **extra,
    }


@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the upload form. POST: keep the file and show how Tunedesk reads its first rows."""
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    if request.method == "GET":
        return render(request, "curation/data/import.html", _import_context(project))
    upload = request.FILES.get("file")
    options = {
        "format": request.POST.get("format", ""),
        "skip_bad": request.POST.get("skip_bad") == "on",
        "keep_duplicates": request.POST.get("keep_duplicates") == "on",
        "status": request.POST.get("status", Record.Status.NEW),
    }
    if upload is None:
        context = _import_context(project, error=CurationError(_("Choose a file to import.")))
        return render(request, "curation/data/import.html", context, status=400)
    token = secrets.token_hex(8)
    folder = _upload_dir(project, token)
    folder.mkdir(parents=True)
    path = folder / (_SAFE_NAME.sub("_", Path(upload.name).name) or "upload")
    with open(path, "wb") as f:
        for chunk in upload.chunks():
            f.write(chunk)
    try:
        preview = imports.preview_file(path, options["format"] or None)
    except CurationError as e:
        shutil.rmtree(folder, ignore_errors=True)
        context = _import_context(project, error=e, options=options, failed_report=_report_of(e))
        return render(request, "curation/data/import.html", context, status=e.status)
    state = {
        "user": request.user.pk,
        "file": path.name,
        "size": path.stat().st_size,
        **options,
        "format": preview.format,
        "state": "uploaded",
    }
    _save_state(folder, state)
    context = _import_context(
        project,
        preview=preview,
        preview_rows=[shown.shown_row(row) for row in preview.rows],
        token=token,
        state=state,
    )
    return render(request, "curation/data/import.html", context)


def _report_of(error: CurationError) -> dict | None:
    report = getattr(error, "report", None)
    return report.as_dict() if report else None


def _run_import(project: Project, user, folder: Path, state: dict) -> None:
    state = dict(state, state="running", fraction=0.0, rows=0)
    _save_state(folder, state)

    def progress(fraction: float, rows: int) -> None:
        _save_state(folder, dict(state, fraction=round(fraction, 3), rows=rows))

    try:
        report = imports.import_file(
            project,
            folder / state["file"],
            actor=user,
            format_name=state["format"],
            skip_bad=state["skip_bad"],
            dedup=not state["keep_duplicates"],
            status=state["status"],
            on_progress=progress,
        )
    except CurationError as e:
        state.update(state="failed", error=e.as_dict(), report=_report_of(e))
    except Exception as e:  # a bug must still end the progress bar, with its message
        state.update(state="failed", error={"message": str(e), "hint": "", "code": "error"})
        _save_state(folder, state)
        raise
    else:
        state.update(state="done", fraction=1.0, report=report.as_dict())
    _save_state(folder, state)
    (folder / state["file"]).unlink(missing_ok=True)


def _in_background(project: Project, user, folder: Path, state: dict) -> None:
    try:
        _run_import(project, user, folder, state)
    finally:
        connection.close()


@require_POST
def import_confirm(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    folder, state = _state(project, token, request.user)
    if state["state"] == "uploaded":
        if state["size"] > BACKGROUND_BYTES:
            state["state"] = "running"
            _save_state(folder, state)
            threading.Thread(
                target=_in_background,
                args=(project, request.user, folder, state),
                name=f"import-{token}",
                daemon=True,
            ).start()
        else:
            _run_import(project, request.user, folder, state)
    return import_status(request, slug, token)


def import_status(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    _, state = _state(project, token, request.user)
    context = _import_context(project, token=token, state=state)
    if request.htmx:
        return render(request, "curation/data/import.html#import-status", context)
    return render(request, "curation/data/import.html", context)


# --- export ----------------------------------------------------------------------------------


def export_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Snapshots and their files (reviewers and up); engineers also make new snapshots."""
    project = selectors.project_for(request.user, slug, role=Role.REVIEWER)
    can_export = project.has_role(request.user, Role.ENGINEER)
    context = {
        "project": project,
        "can_export": can_export,
        "formats": exports.writable_formats(),
        "statuses": Record.Status.choices,
        "values": {
            "format": "",
            "status": [Record.Status.ACCEPTED],
            "test_ratio": 0.1,
            "seed": 0,
            "tools": True,
            "datasets": False,
        },
    }
    status = 200
    if request.method == "POST":
        if not can_export:
            selectors.project_for(request.user, slug, role=Role.ENGINEER)  # raises 403
        values = {
            "format": request.POST.get("format", ""),
            "status": request.POST.getlist("status"),
            "test_ratio": request.POST.get("test_ratio", "0.1"),
            "seed": request.POST.get("seed", "0"),
            "tools": request.POST.get("tools") == "1",
            "datasets": request.POST.get("datasets") == "1",
        }
        context["values"] = values
        try:
            snapshot = exports.create_snapshot(
                project,
                request.user,
                format_name=values["format"],
                status=values["status"],
                test_ratio=_number(values["test_ratio"], float, _("test ratio")),
                seed=_number(values["seed"], int, _("seed")),
                tools=values["tools"],
                datasets=values["datasets"],
            )
        except CurationError as e:
            context["error"] = e
            context["export_errors"] = getattr(e, "errors", [])
            status = e.status
        else:
            context["created"] = snapshot
    context["snapshots"] = ExportSnapshot.objects.filter(project=project).select_related(
        "created_by"
    )
    template = "curation/data/export.html"
    if request.htmx and request.method == "POST":
        template += "#export-result"
    return render(request, template, context, status=status)


def _number(text: str, kind, name: str):
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise CurationError(
            _("%(name)s must be a number, not %(text)r.") % {"name": name, "text": text},
            where=name,
        ) from None


def snapshot_download(request: HttpRequest, slug: str, pk: int, split: str) -> FileResponse:
    project = selectors.project_for(request.user, slug, role=Role.REVIEWER)
    snapshot = ExportSnapshot.objects.filter(project=project, pk=pk).first()
    if snapshot is None:
        raise Http404(_("No such snapshot."))
    if split in (exports.MANIFEST, exports.DATASET_INFO):
        path = exports.snapshot_dir(snapshot) / split
    else:
        try:
            path = exports.snapshot_file(snapshot, split)
        except CurationError:
            raise Http404(_("No such file.")) from None
    if not path.is_file():
        raise Http404(_("No such file."))
    name = f"{project.slug}-{snapshot.pk}-{path.name}"
    exports.record_download(snapshot, request.user, path.name, via="web")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name)  # noqa: SIM115


# --- near duplicates -------------------------------------------------------------------------


def duplicates_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    try:
        threshold = min(max(float(request.GET.get("threshold", "0.8")), 0.5), 1.0)
    except ValueError:
        threshold = 0.8
    groups = dedup.near_duplicates(project, threshold=threshold)
    context = {"project": project, "groups": groups, "threshold": threshold}
    return render(request, "curation/data/duplicates.html", context)


def data_home(request: HttpRequest, slug: str) -> HttpResponse:
    return redirect("curation:data_export", slug=slug)
