"""Small helpers shared by the management commands."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from curation.models import Project


def acting_user(username: str | None):
    """The user a command acts as: --user NAME, else the first superuser."""
    users = get_user_model().objects
    user = (
        users.filter(username=username).first()
        if username
        else users.filter(is_superuser=True).first()
    )
    if user is None:
        raise CommandError(
            f"No user {username!r}."
            if username
            else "No acting user: there is no superuser yet."
            " Fix: pass --user NAME of a project engineer."
        )
    return user


def project_by_slug(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        slugs = ", ".join(Project.objects.values_list("slug", flat=True)[:20]) or "none yet"
        raise CommandError(f"No project {slug!r}. Fix: use one of: {slugs}.")
    return project


def wait_for(job, *, poll_s: float = 2.0):
    while True:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(poll_s)
