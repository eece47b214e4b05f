"""Reads for the records list, the queues and the history: filters, search, keyset pages.

Pages are keyset pages (records after an id), so page 2000 costs what page 1 does; counts
stop at COUNT_CAP, so a filter over 100k records never counts them all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from django.db.models import Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast

from curation.models import Draft, Project, Record, RecordEvent, Tag

COUNT_CAP = 1000
PAGE_SIZE = 50
#: Sentinel for "no tool" (a text answer) in the tool filter.
NO_TOOL = "-"
CONTENT_TEXT = ("system", "instruction", "input", "output")
CONTENT_JSON = ("messages", "chosen", "rejected")


@dataclass(frozen=True)
class RecordFilter:
    q: str = ""
    status: str = ""
    assignee: str = ""  # a user id, or "none"
    tool: str = ""  # a tool name, or NO_TOOL
    tag: str = ""
    split: str = ""  # train, test, or "none"
    problems: str = ""  # yes / no
    has_draft: str = ""  # yes / no
    corrected: str = ""  # yes / no

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RecordFilter:
        return cls(**{f.name: str(params.get(f.name, "")).strip() for f in fields(cls)})

    def as_params(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}

    @property
    def active(self) -> bool:
        return bool(self.as_params())


def search_q(text: str) -> Q:
    """Case-insensitive substring search over a record's content, Chinese included.

    JSON columns are searched as their stored text. SQLite keeps non-ASCII there as \\uXXXX
    escapes (Django writes JSON with ensure_ascii), PostgreSQL's jsonb as the characters, so
    both spellings of the term are looked for.
    """
    spellings = {text, json.dumps(text)[1:-1]}
    q = Q()
    for name in CONTENT_TEXT:
        q |= Q(**{f"{name}__icontains": text})
    for name in CONTENT_JSON:
        for spelling in spellings:
            q |= Q(**{f"_{name}_text__icontains": spelling})
    return q


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def filter_records(project: Project, f: RecordFilter) -> QuerySet[Record]:
    records = Record.objects.filter(project=project)
    if f.q:
        records = records.annotate(
            **{f"_{name}_text": Cast(name, TextField()) for name in CONTENT_JSON}
        ).filter(search_q(f.q))
    if f.status:
        records = records.filter(status=f.status)
    if f.assignee == "none":
        records = records.filter(assignee__isnull=True)
    elif f.assignee.isdigit():
        records = records.filter(assignee_id=int(f.assignee))
    if f.tool == NO_TOOL:
        records = records.filter(tool_name="")
    elif f.tool:
        records = records.filter(tool_name=f.tool)
    if f.tag:
        records = records.filter(
            Exists(
                Tag.records.through.objects.filter(
                    record_id=OuterRef("pk"), tag__project=project, tag__name=f.tag
                )
            )
        )
    if f.split == "none":
        records = records.filter(split="")
    elif f.split:
        records = records.filter(split=f.split)
    if (flag := _yes_no(f.problems)) is not None:
        records = records.filter(has_problems=flag)
    if (flag := _yes_no(f.has_draft)) is not None:
        has = Exists(Draft.objects.filter(record=OuterRef("pk")))
        records = records.filter(has if flag else ~has)
    if (flag := _yes_no(f.corrected)) is not None:
        corrected = Exists(
            RecordEvent.objects.filter(record=OuterRef("pk"), action="submit", data__corrected=True)
        )
        records = records.filter(corrected if flag else ~corrected)
    return records


@dataclass
class Page:
    records: list[Record]
    next_after: int | None
    count: int
    count_capped: bool

    @property
    def count_label(self) -> str:
        return f"{self.count}+" if self.count_capped else str(self.count)


def records_page(
    project: Project, f: RecordFilter, *, after: int | None = None, size: int = PAGE_SIZE
) -> Page:
    """One page of matching records, newest id first, starting below `after`."""
    records = filter_records(project, f)
    count = records.order_by()[: COUNT_CAP + 1].count()
    page = records.order_by("-id")
    if after:
        page = page.filter(pk__lt=after)
    drafted = Draft.objects.filter(record=OuterRef("pk"))
    rows = list(
        page.select_related("assignee")
        .prefetch_related("tags")
        .annotate(has_draft=Exists(drafted))[: size + 1]
    )
    more = len(rows) > size
    rows = rows[:size]
    return Page(
        records=rows,
        next_after=rows[-1].pk if more and rows else None,
        count=min(count, COUNT_CAP),
        count_capped=count > COUNT_CAP,
    )


def review_queue(project: Project) -> QuerySet[Record]:
    return (
        Record.objects.filter(project=project, status=Record.Status.SUBMITTED)
        .select_related("submitted_by")
        .order_by("submitted_at", "id")
    )


def my_queue(project: Project, user) -> dict:
    """What an annotator sees on their queue page."""
    mine = Record.objects.filter(project=project, assignee=user)
    return {
        "returned": list(
            mine.filter(status=Record.Status.RETURNED).select_related("reviewed_by")[:50]
        ),
        "in_progress": list(mine.filter(status=Record.Status.IN_PROGRESS)[:20]),
        "assigned": mine.filter(status=Record.Status.NEW).order_by()[: COUNT_CAP + 1].count(),
        "pool": Record.objects.filter(
            project=project, status=Record.Status.NEW, assignee__isnull=True
        )
        .order_by()[: COUNT_CAP + 1]
        .count(),
        "submitted_by_me": RecordEvent.objects.filter(
            record__project=project, actor=user, action__in=("submit", "annotate")
        ).count(),
    }


def history(record: Record) -> list[RecordEvent]:
    return list(record.history_events.select_related("actor").order_by("-created_at", "-id"))
