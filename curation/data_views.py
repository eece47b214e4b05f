"""Data in and out in the browser: upload → preview → import (with progress) → report;
export snapshots and their downloads; the near-duplicates review page.

Uploads are kept, previewed and imported by curation.uploads: a large file's import is a
job the db_worker runs (no thread here), and the status fragment polls its state.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import CurationError, NotFound
from curation import dedup, exports, selectors, shown, uploads
from curation.formats import FORMATS
from curation.models import ExportSnapshot, Record, Role


def _readable_formats() -> list[str]:
    return [name for name, m in FORMATS.items() if "read" in m.CAPABILITIES]


def _import_context(project, **extra) -> dict:
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
    try:
        token, preview = uploads.keep_upload(project, request.user, upload, options)
    except CurationError as e:
        failed = uploads.report_of(e)
        context = _import_context(project, error=e, options=options, failed_report=failed)
        return render(request, "curation/data/import.html", context, status=e.status)
    state = uploads.upload_state(project, token, request.user)[1]
    context = _import_context(
        project,
        preview=preview,
        preview_rows=[shown.shown_row(row) for row in preview.rows],
        token=token,
        state=state,
    )
    return render(request, "curation/data/import.html", context)


def _upload_or_404(call, *args):
    try:
        return call(*args)
    except NotFound:
        raise Http404(_("No such upload.")) from None


@require_POST
def import_confirm(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    _upload_or_404(uploads.confirm_upload, project, token, request.user)
    return import_status(request, slug, token)


def import_status(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    state = _upload_or_404(uploads.upload_state, project, token, request.user)[1]
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
