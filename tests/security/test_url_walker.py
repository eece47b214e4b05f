"""Walk every URL pattern as each kind of visitor and hold the answers to the permission
table in curation/permissions_table.py. A URL missing from the table fails."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from curation.permissions_table import PK_OF, VISITORS, access

pytestmark = pytest.mark.django_db


def walk(patterns, prefix: list | None = None, namespace: str = ""):
    """(URL name or route, full route pattern parts) for every pattern, depth first."""
    prefix = prefix or []
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = ":".join(filter(None, (namespace, p.namespace)))
            yield from walk(p.url_patterns, prefix + [p.pattern], ns)
        elif isinstance(p, URLPattern):
            parts = [*prefix, p.pattern]
            name = ":".join(filter(None, (namespace, p.name))) if p.name else ""
            yield name or f"{namespace}:{''.join(str(x) for x in parts)}", parts


def _value(group: str, regex: str, values: dict) -> str:
    if group in values:
        return values[group]
    choices = re.fullmatch(r"[\w|]+", regex or "")
    return choices.group(0).split("|")[0] if choices else "1"


def fill(parts, values: dict) -> str:
    """A concrete path for the pattern parts, with arguments from `values`."""
    path = ""
    for part in parts:
        if isinstance(part, RoutePattern):
            path += re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values.get(m[1], "1")), str(part))
        elif isinstance(part, RegexPattern):
            text = str(part).lstrip("^").rstrip("$").replace("\\Z", "")
            text = re.sub(r"\(\?P<(\w+)>([^)]*)\)", lambda m: str(_value(m[1], m[2], values)), text)
            path += text.replace("\\", "")
    return "/" + path


@pytest.fixture
def world(project, people, tmp_path):
    """A record, snapshot (with a file on disk), run, comparison and drafting job."""
    from curation.models import ExportSnapshot, Record
    from jobs.models import Job
    from training.models import BaseModel, Comparison, TrainingRun

    record = Record.objects.create(
        project=project, kind="instruction", instruction="问", output="答", content_hash="x"
    )
    directory = Path("exports") / project.slug / "walker"
    (settings.DATA_DIR / directory).mkdir(parents=True, exist_ok=True)
    line = json.dumps({"messages": [{"role": "user", "content": "问"}]}, ensure_ascii=False)
    (settings.DATA_DIR / directory / "train.jsonl").write_text(line + "\n", encoding="utf-8")
    snapshot = ExportSnapshot.objects.create(
        project=project,
        format="openai_chat",
        directory=str(directory),
        files=[{"split": "train", "path": str(directory / "train.jsonl"), "rows": 1}],
    )
    model = BaseModel.objects.create(name="bundled", kind=BaseModel.Kind.BUNDLED)
    run = TrainingRun.objects.create(
        project=project,
        snapshot=snapshot,
        base_model=model,
        job=Job.objects.create(kind="train", project=project, workdir=str(tmp_path / "run")),
    )
    comparison = Comparison.objects.create(
        project=project,
        run=run,
        snapshot=snapshot,
        contenders=[{"name": "base"}, {"name": "tuned"}],
        job=Job.objects.create(kind="compare", project=project, workdir=str(tmp_path / "cmp")),
    )
    draft_job = Job.objects.create(kind="draft", project=project, workdir=str(tmp_path / "d"))
    return {
        "record": record,
        "snapshot": snapshot,
        "run": run,
        "comparison": comparison,
        "draft_job": draft_job,
    }


def _request(client, method: str, path: str):
    if path.startswith("/api/") and method in ("POST", "PUT"):
        return getattr(client, method.lower())(path, "{}", content_type="application/json")
    return getattr(client, method.lower())(path)


def test_every_url_answers_each_visitor_as_the_permission_table_says(client, people, world):
    project = world["record"].project
    missing, wrong = [], []
    for name, parts in walk(get_resolver().url_patterns):
        entry = access(name)
        if entry is None:
            missing.append(name)
            continue
        values = {
            "slug": project.slug,
            "pk": world[PK_OF.get(name, "record")].pk,
            "split": "train",
            "fmt": "json",
            "token": "no-such-import",
            "object_id": "1",
            "url": "nowhere/",
        }
        path = fill(parts, values)
        for method, expected in entry.items():
            for visitor in VISITORS:
                with transaction.atomic():
                    client.logout()
                    if visitor != "anonymous":
                        client.force_login(people[visitor])
                    status = _request(client, method, path).status_code
                    transaction.set_rollback(True)
                allowed = expected[visitor]
                allowed = allowed if isinstance(allowed, tuple) else (allowed,)
                if status not in allowed:
                    wrong.append(f"{method} {path} ({name}) as {visitor}: {status}, want {allowed}")
    assert not missing, "URLs missing from curation/permissions_table.py: " + ", ".join(missing)
    assert not wrong, "\n".join(wrong)
