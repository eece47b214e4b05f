"""The demo install: people, the live-shop project and its generated records."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from curation import demo_data
from curation.formats import get as get_format
from curation.imports import import_rows
from curation.models import Membership, Project, Record, Role

DEMO_SLUG = "live-shop"
DEMO_USERS = (
    ("engineer", Role.ENGINEER, True),
    ("reviewer", Role.REVIEWER, False),
    ("anna", Role.ANNOTATOR, False),
    ("ben", Role.ANNOTATOR, False),
)


@dataclass
class DemoSetup:
    project: Project
    users: list[str]
    created_records: int


@transaction.atomic
def setup_demo(
    *, password: str, seed: int = 0, rows: int = 1000, queue_rows: int = 200
) -> DemoSetup:
    User = get_user_model()
    users = {}
    for username, _role, staff in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": staff, "is_superuser": staff}
        )
        if created:
            user.set_password(password)
            user.save()
        users[username] = user
    project, _ = Project.objects.get_or_create(
        slug=DEMO_SLUG,
        defaults={
            "name": "直播助手 · Live-shop assistant",
            "description": "Tool calling for a live-stream shop: pick the tool, fill its "
            "arguments, or ask when the request is unclear. Generated demo data.",
            "task_kind": Project.TaskKind.TOOL_CALLING,
            "system_prompt": demo_data.SYSTEM_PROMPT,
            "tools": demo_data.TOOLS,
            "guidelines": demo_data.GUIDELINES,
        },
    )
    for username, role, _staff in DEMO_USERS:
        Membership.objects.get_or_create(
            project=project, user=users[username], defaults={"role": role}
        )
    created = 0
    if not project.records.exists():
        # The curated set: answers are right by construction, so they go in as accepted and
        # are what the demo trains and compares on.
        gold = demo_data.generate(seed=seed, n=rows)
        created += _import(project, gold, users["engineer"], Record.Status.ACCEPTED, f"seed={seed}")
        # The work queue: fresh requests without answers, for the model to draft and the
        # annotators to correct.
        known = {row["messages"][0]["content"] for row in gold}
        queue = [
            {"messages": row["messages"][:1]}
            for row in demo_data.generate(seed=seed + 1, n=queue_rows)
            if row["messages"][0]["content"] not in known
        ]
        created += _import(project, queue, users["engineer"], Record.Status.NEW, f"seed={seed + 1}")
    return DemoSetup(project=project, users=list(users), created_records=created)


def _import(project: Project, rows: list[dict], actor, status: str, label: str) -> int:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    report = import_rows(
        project,
        get_format("openai_chat").read(io.StringIO(text)),
        actor=actor,
        format_name="openai_chat",
        status=status,
        source=f"demo_data {label}",
    )
    return report.imported
