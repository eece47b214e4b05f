"""Export snapshots: list and download (reviewers and up), create (engineers), as in the UI."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api import permissions
from api.serializers import SnapshotCreateSerializer, SnapshotSerializer, paged
from api.views.base import ApiView
from api.views.docs import CURSOR, errors
from core.errors import CurationError
from curation import exports
from curation.models import ExportSnapshot, Role

TAGS = ["exports"]
SNAPSHOT_EXAMPLE = {
    "id": 5,
    "project": "shop",
    "format": "openai_chat",
    "filters": {"status": ["accepted"]},
    "split_seed": 0,
    "test_ratio": 0.1,
    "counts": {"train": 900, "test": 100},
    "files": [
        {
            "split": "train",
            "rows": 900,
            "sha256": "3b1f…",
            "download": "http://localhost:8000/api/snapshots/5/files/train/",
        }
    ],
    "created_by": "emil",
    "created_at": "2025-01-01T00:00:00Z",
}


class SnapshotList(ApiView):
    @extend_schema(
        operation_id="snapshots_list",
        summary="Export snapshots of a project, newest first",
        parameters=CURSOR,
        responses={200: paged(SnapshotSerializer), **errors()},
        examples=[
            OpenApiExample(
                "Page", value={"next": None, "previous": None, "results": [SNAPSHOT_EXAMPLE]}
            )
        ],
        tags=TAGS,
    )
    def get(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.REVIEWER)
        return self.paginate(
            project.snapshots.select_related("project", "created_by"), SnapshotSerializer
        )

    @extend_schema(
        operation_id="snapshots_create",
        summary="Export the matching records as an immutable snapshot (train/test files)",
        request=SnapshotCreateSerializer,
        responses={201: SnapshotSerializer, **errors(400)},
        examples=[
            OpenApiExample(
                "Accepted records as OpenAI chat",
                value={"format": "openai_chat", "status": ["accepted"], "test_ratio": 0.1},
                request_only=True,
            ),
            OpenApiExample("Snapshot", value=SNAPSHOT_EXAMPLE, response_only=True),
        ],
        tags=TAGS,
    )
    def post(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        data = self.body(SnapshotCreateSerializer)
        snapshot = exports.create_snapshot(
            project,
            request.user,
            format_name=data["format"],
            status=data["status"],
            filters=data.get("filters") or {},
            test_ratio=data["test_ratio"],
            seed=data["seed"],
            tools=data["tools"],
            datasets=data["datasets"],
        )
        return Response(SnapshotSerializer(snapshot, context={"request": request}).data, 201)


class SnapshotDetail(ApiView):
    @extend_schema(
        operation_id="snapshots_retrieve",
        summary="One snapshot with its files' download links",
        responses={200: SnapshotSerializer, **errors()},
        examples=[OpenApiExample("Snapshot", value=SNAPSHOT_EXAMPLE)],
        tags=TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        snapshot = permissions.in_project(request, ExportSnapshot.objects, pk, Role.REVIEWER)
        return Response(SnapshotSerializer(snapshot, context={"request": request}).data)


class BinaryRenderer(BaseRenderer):
    """Lets a client ask for the file with Accept: application/octet-stream."""

    media_type = "application/octet-stream"
    format = "bin"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class SnapshotFile(ApiView):
    renderer_classes = [JSONRenderer, BinaryRenderer]

    @extend_schema(
        operation_id="snapshots_download",
        summary="Download a snapshot's file of one split (train or test)",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file as written at export time."
            ),
            **errors(),
        },
        tags=TAGS,
    )
    def get(self, request: Request, pk: int, split: str) -> FileResponse:
        snapshot = permissions.in_project(request, ExportSnapshot.objects, pk, Role.REVIEWER)
        try:
            path = exports.snapshot_file(snapshot, split).resolve()
        except CurationError as e:
            raise Http404(str(e)) from None
        # A manifest edited by hand must not serve files from outside the data dir.
        if path.is_relative_to(Path(settings.DATA_DIR).resolve()) and path.is_file():
            exports.record_download(snapshot, request.user, path.name, via="api")
            return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
        raise Http404(_("Snapshot #%(id)s has no %(split)s file.") % {"id": pk, "split": split})
