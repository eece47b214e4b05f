"""Permission-aware reads. Outsiders get 404 (they learn nothing of a project);
members whose role is too low get 403."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from curation.models import ROLE_RANK, Project, Record, Role


def projects_for(user) -> QuerySet[Project]:
    projects = Project.objects.all()
    if not user.is_superuser:
        projects = projects.filter(memberships__user=user)
    return projects.annotate(
        record_count=Count("records", distinct=True),
    )


def project_for(user, slug: str, *, role: str = Role.ANNOTATOR) -> Project:
    project = Project.objects.filter(slug=slug).first()
    held = project.role_of(user) if project else None
    if held is None:
        raise Http404(_("No such project."))
    if ROLE_RANK[held] < ROLE_RANK[role]:
        raise PermissionDenied(
            _("This needs the %(role)s role in this project.") % {"role": Role(role).label}
        )
    project.user_role = held
    project.user_role_label = Role(held).label
    return project


def record_for(user, pk: int, *, role: str = Role.ANNOTATOR) -> Record:
    record = Record.objects.select_related("project").filter(pk=pk).first()
    if record is None:
        raise Http404(_("No such record."))
    project = project_for(user, record.project.slug, role=role)
    record.project = project
    return record


def status_counts(project: Project) -> dict[str, int]:
    counts = dict.fromkeys(Record.Status.values, 0)
    rows = project.records.values("status").annotate(n=Count("id")).order_by()
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def problem_count(project: Project) -> int:
    return project.records.filter(Q(has_problems=True)).count()
