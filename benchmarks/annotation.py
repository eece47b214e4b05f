"""How the annotation workspace scales: server time and query count at 1k and 100k records.

    .venv/bin/python benchmarks/annotation.py [--small 1000] [--large 100000] [--repeat 60]

Builds a throw-away database (SQLite in a temp dir, or DATABASE_URL when set), fills one
project with generated tool-calling records, and times real requests through Django's test
client (views, services, templates; no network): "next record" (claim + redirect), "open
editor", "save" (optimistic save of a tool call) and the filtered records list (status + tool
filter, first page). It prints median and p95 per operation, the queries each makes, and the
large/small ratio. Targets (issue 6): p95 under 25 ms, the same query count at both sizes,
ratio under 1.5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(data_dir: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["TUNEDESK_DATA_DIR"] = data_dir
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fill(project, *, upto: int, template_rows: list[dict]) -> None:
    from curation import record_content
    from curation.models import Record, content_hash

    have = project.records.count()
    batch = []
    for i in range(have, upto):
        row = template_rows[i % len(template_rows)]
        messages = [dict(m) for m in row["messages"]]
        messages[0]["content"] = f"{messages[0]['content']} #{i}"
        record = Record(project=project, kind="conversation", messages=messages)
        record.content_hash = content_hash(record.content())
        record.tool_name = record_content.tool_name(record)
        batch.append(record)
        if len(batch) == 5000:
            Record.objects.bulk_create(batch)
            batch = []
    Record.objects.bulk_create(batch)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def measure(op, repeat: int) -> tuple[float, float, int]:
    """(median ms, p95 ms, queries) of `op()`; `op(prepare=True)` readies each run untimed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(repeat):
        op(prepare=True)
        start = time.perf_counter()
        op()
        times.append((time.perf_counter() - start) * 1000)
    op(prepare=True)
    with CaptureQueriesContext(connection) as captured:
        op()
    return statistics.median(times), percentile(times, 0.95), len(captured)


def operations(project, client, user):
    from django.urls import reverse

    from curation import answers
    from curation.models import Record

    state = {"record": None}

    def next_record(prepare=False):
        if prepare:
            # Finish the previous claim so each run takes a fresh record from the pool.
            Record.objects.filter(project=project, assignee=user, status="in_progress").update(
                status="submitted"
            )
            return
        response = client.post(reverse("curation:annotate_next", args=[project.slug]))
        assert response.status_code == 302, response.status_code
        state["record"] = int(response.url.rstrip("/").rsplit("/", 1)[1])

    def open_editor(prepare=False):
        if prepare:
            if state["record"] is None:
                next_record()
            return
        response = client.get(reverse("curation:record_edit", args=[state["record"]]))
        assert response.status_code == 200, response.status_code

    def save(prepare=False):
        record = Record.objects.get(pk=state["record"])
        if prepare:
            return
        s = answers.state_from_record(record)
        data = {
            "version": record.version,
            "choice": f"tool:{s['tool']}" if s["mode"] == "tool" else s["mode"] or "text",
            "arguments_json": s["arguments_json"],
            "content": s["content"] or "好的",
            "call_id": s.get("call_id", ""),
        }
        response = client.post(
            reverse("curation:record_save", args=[record.pk]), data, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200, response.content[:300]

    def filtered_list(prepare=False):
        if prepare:
            return
        response = client.get(
            reverse("curation:records", args=[project.slug]),
            {"status": "new", "tool": "issue_coupon"},
        )
        assert response.status_code == 200

    def search(prepare=False):
        if prepare:
            return
        response = client.get(reverse("curation:records", args=[project.slug]), {"q": "优惠券"})
        assert response.status_code == 200

    return {
        "next record": next_record,
        "open editor": open_editor,
        "save": save,
        "filtered list": filtered_list,
        "search (优惠券)": search,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=60)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tunedesk-bench-") as data_dir:
        setup_django(data_dir)
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        from curation import demo_data
        from curation.models import Membership, Project, Role

        project = Project.objects.create(
            slug="bench", name="bench", tools=demo_data.TOOLS, guidelines=demo_data.GUIDELINES
        )
        user = get_user_model().objects.create_user("anna", password="x")
        Membership.objects.create(project=project, user=user, role=Role.ENGINEER)
        client = Client()
        client.force_login(user)
        rows = demo_data.generate(seed=0, n=1000)
        results = {}
        for size in (args.small, args.large):
            started = time.perf_counter()
            fill(project, upto=size, template_rows=rows)
            print(f"filled {size} records in {time.perf_counter() - started:.1f} s", flush=True)
            results[size] = {
                name: measure(op, args.repeat)
                for name, op in operations(project, client, user).items()
            }
        print(f"\ndatabase: {connection.vendor}; {args.repeat} runs per operation\n")
        head = f"{'operation':<16} {'size':>7} {'median ms':>10} {'p95 ms':>8} {'queries':>8}"
        print(head)
        print("-" * len(head))
        for name in results[args.small]:
            for size in (args.small, args.large):
                median, p95, queries = results[size][name]
                print(f"{name:<16} {size:>7} {median:>10.2f} {p95:>8.2f} {queries:>8}")
        print(f"\n{'operation':<16} {'p95 ratio':>10} {'median ratio':>13} {'same queries':>13}")
        for name in results[args.small]:
            small, large = results[args.small][name], results[args.large][name]
            print(
                f"{name:<16} {large[1] / small[1]:>10.2f} {large[0] / small[0]:>13.2f} "
                f"{str(small[2] == large[2]):>13}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
