from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import permissions
from api.errors import error_body
from api.serializers import ProjectDetailSerializer, ProjectSerializer, paged
from api.views.base import ApiView
from api.views.docs import CURSOR, errors
from curation import selectors

PROJECT_EXAMPLE = {
    "slug": "shop",
    "name": "Live shop assistant",
    "description": "",
    "task_kind": "tool_calling",
    "system_prompt": "你是一个淘宝直播的助手。",
    "prompt_template": "{system}\n### instruction\n{instruction}\n### input\n{input}\n"
    "### response\n{response}",
    "tools": [{"type": "function", "function": {"name": "check_stock", "parameters": {}}}],
    "guidelines": "",
    "annotation_overlap": 1,
    "role": "engineer",
    "record_count": 1000,
    "created_at": "2025-01-01T00:00:00Z",
}


class ProjectList(ApiView):
    @extend_schema(
        operation_id="projects_list",
        summary="The projects you are a member of",
        parameters=CURSOR,
        responses={200: paged(ProjectSerializer), **errors()},
        examples=[
            OpenApiExample(
                "Page", value={"next": None, "previous": None, "results": [PROJECT_EXAMPLE]}
            )
        ],
        tags=["projects"],
    )
    def get(self, request: Request) -> Response:
        return self.paginate(selectors.projects_for(request.user), ProjectSerializer)


class ProjectDetail(ApiView):
    @extend_schema(
        operation_id="projects_retrieve",
        summary="One project, with record counts per status",
        responses={200: ProjectDetailSerializer, **errors()},
        examples=[
            OpenApiExample(
                "Project",
                value={**PROJECT_EXAMPLE, "counts": {"new": 900, "accepted": 100}},
            )
        ],
        tags=["projects"],
    )
    def get(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug)
        return Response(ProjectDetailSerializer(project, context={"request": request}).data)


class NoSuchEndpoint(ApiView):
    permission_classes = []
    schema = None  # not an endpoint: left out of the OpenAPI schema

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs, self.headers = args, kwargs, self.default_response_headers
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        response = Response(
            error_body(
                "not_found",
                _("There is no API endpoint at %(path)s.") % {"path": request.path},
                hint=_("Paths end with a slash; ids are positive numbers. See /api/docs/."),
            ),
            status=404,
        )
        return self.finalize_response(request, response, *args, **kwargs)
