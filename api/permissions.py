"""The API's role checks: the very selectors the UI calls, so both answer alike.

Outsiders get 404 (they learn nothing of a project), members whose role is too low 403.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from curation import selectors
from curation.models import Project, Record, Role


def project(request, slug: str, role: str = Role.ANNOTATOR) -> Project:
    return selectors.project_for(request.user, slug, role=role)


def record(request, pk: int, role: str = Role.ANNOTATOR) -> Record:
    return selectors.record_for(request.user, pk, role=role)


def in_project(request, queryset: QuerySet, pk: int, role: str) -> Model:
    """An object that belongs to a project, if the user holds `role` there."""
    obj = queryset.select_related("project").filter(pk=pk).first()
    if obj is None or obj.project is None:
        raise Http404(_("No such %(what)s.") % {"what": queryset.model._meta.verbose_name})
    obj.project = project(request, obj.project.slug, role)
    return obj
