from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import permissions
from api.errors import error_body
from api.serializers import (
    ProjectCreateSerializer,
    ProjectDetailSerializer,
    ProjectSerializer,
    ProjectSettingsSerializer,
    paged,
)
from api.views.base import ApiView
from api.views.docs import CURSOR, ERROR_EXAMPLE, errors
from curation import projects, selectors
from curation.models import Role

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

    @extend_schema(
        operation_id="projects_create",
        summary="Create a project (you become its engineer)",
        description="Who may create projects is the server's TUNEDESK_PROJECT_CREATORS setting.",
        request=ProjectCreateSerializer,
        responses={201: ProjectDetailSerializer, **errors(400, 409)},
        examples=[
            OpenApiExample(
                "New project",
                value={"slug": "invoices", "name": "Invoices", "task_kind": "tool_calling"},
                request_only=True,
            ),
            ERROR_EXAMPLE,
        ],
        tags=["projects"],
    )
    def post(self, request: Request) -> Response:
        projects.require_creator(request.user)  # before the body: 403 says more than 400
        data = self.body(ProjectCreateSerializer)
        project = projects.create_project(request.user, **data)
        project = selectors.project_for(request.user, project.slug, role=Role.ENGINEER)
        return Response(
            ProjectDetailSerializer(project, context={"request": request}).data, status=201
        )


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

    @extend_schema(
        operation_id="projects_partial_update",
        summary="Change a project's settings (engineers)",
        description="Tools have their own endpoint, members theirs.",
        request=ProjectSettingsSerializer,
        responses={200: ProjectDetailSerializer, **errors(400)},
        tags=["projects"],
    )
    def patch(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        serializer = ProjectSettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        projects.update_project(project, request.user, **serializer.validated_data)
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
