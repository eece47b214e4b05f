"""A project's people and tools, for scripts: the same services as the settings pages."""

from __future__ import annotations

from dataclasses import asdict

from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import permissions
from api.serializers import (
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    ToolsSerializer,
)
from api.views.base import ApiView
from api.views.docs import ERROR_EXAMPLE, errors
from curation import members, projects
from curation.models import Role

MEMBER_EXAMPLE = {
    "username": "anna",
    "email": "anna@example.com",
    "role": "annotator",
    "created_at": "2025-01-01T00:00:00Z",
}
ToolChangeSerializer = inline_serializer(
    "ToolChange",
    {
        "tools": serializers.ListField(child=serializers.DictField()),
        "newly_flagged": serializers.IntegerField(help_text="Records the change flagged."),
        "examples": serializers.ListField(child=serializers.DictField()),
        "flagged": serializers.IntegerField(help_text="Records flagged now, in all."),
    },
)


def _member(project, username: str):
    user = None
    if "\x00" not in username:  # PostgreSQL refuses NUL in a query
        user = get_user_model().objects.filter(username=username).first()
    if user is None or not project.memberships.filter(user=user).exists():
        raise Http404(_("%(user)s is not a member of this project.") % {"user": username})
    return user


def _members(project) -> list[dict]:
    memberships = project.memberships.select_related("user").order_by("user__username")
    return MemberSerializer(memberships, many=True).data


class MemberList(ApiView):
    @extend_schema(
        operation_id="members_list",
        summary="The project's members and their roles",
        responses={200: MemberSerializer(many=True), **errors()},
        examples=[OpenApiExample("Members", value=[MEMBER_EXAMPLE], response_only=True)],
        tags=["members"],
    )
    def get(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        return Response(_members(project))

    @extend_schema(
        operation_id="members_create",
        summary="Add someone by username or e-mail address (engineers)",
        request=MemberAddSerializer,
        responses={201: MemberSerializer, **errors(400)},
        examples=[
            OpenApiExample("Add", value={"user": "anna", "role": "annotator"}, request_only=True),
            ERROR_EXAMPLE,
        ],
        tags=["members"],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        data = self.body(MemberAddSerializer)
        membership = members.add_member(project, request.user, who=data["user"], role=data["role"])
        return Response(MemberSerializer(membership).data, status=201)


class MemberDetail(ApiView):
    @extend_schema(
        operation_id="members_partial_update",
        summary="Change a member's role (engineers)",
        description="A project keeps at least one engineer.",
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, **errors(400)},
        tags=["members"],
    )
    def patch(self, request: Request, slug: str, username: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        user = _member(project, username)
        data = self.body(MemberRoleSerializer)
        membership = members.change_role(project, request.user, user, role=data["role"])
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        operation_id="members_destroy",
        summary="Remove a member (engineers); their open claims go back to the queue",
        request=None,
        responses={
            200: inline_serializer("MemberRemoved", {"released": serializers.IntegerField()}),
            **errors(),
        },
        tags=["members"],
    )
    def delete(self, request: Request, slug: str, username: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        user = _member(project, username)
        return Response({"released": members.remove_member(project, request.user, user)})


class ProjectTools(ApiView):
    @extend_schema(
        operation_id="tools_retrieve",
        summary="The project's tool schemas (OpenAI tools shape)",
        responses={200: ToolsSerializer, **errors()},
        tags=["tools"],
    )
    def get(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ANNOTATOR)
        return Response({"tools": project.tools or []})

    @extend_schema(
        operation_id="tools_update",
        summary="Replace the tool schemas (engineers); records are checked again",
        description=(
            "Each tool is checked against the OpenAI tools shape and its parameters against "
            "the JSON Schema meta-schema; errors name the tool and the field (tool_errors)."
        ),
        request=ToolsSerializer,
        responses={200: ToolChangeSerializer, **errors(400)},
        tags=["tools"],
    )
    def put(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        data = self.body(ToolsSerializer)
        change = projects.set_tools(project, request.user, data["tools"])
        body = asdict(change)
        return Response(
            {
                "tools": project.tools,
                "newly_flagged": body["broken_count"],
                "examples": body["broken"],
                "flagged": project.records.filter(has_problems=True).count(),
            }
        )
