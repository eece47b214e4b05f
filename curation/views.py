from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation import selectors
from curation.models import Role
from curation.projects import can_create_projects


def project_list(request: HttpRequest) -> HttpResponse:
    context = {
        "projects": selectors.projects_for(request.user),
        "can_create": can_create_projects(request.user),
    }
    return render(request, "curation/project_list.html", context)


def project_home(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ANNOTATOR)
    context = {
        "project": project,
        "counts": selectors.status_counts(project),
        "problems": selectors.problem_count(project),
        "is_engineer": project.has_role(request.user, Role.ENGINEER),
        "is_reviewer": project.has_role(request.user, Role.REVIEWER),
    }
    return render(request, "curation/project_home.html", context)
