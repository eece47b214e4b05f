"""Bring rows into a project: all-or-nothing by default, every skipped row reported.

Rows stream from the format reader into batched INSERTs inside one transaction, so memory
stays flat on large files; on the first bad row (unless skip_bad) the reader goes on only to
collect up to MAX_ERRORS errors for the report, and the transaction is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from curation.errors import InvalidInput
from curation.formats.base import FormatError, Row
from curation.models import AuditEvent, Project, Record
from curation.rows import row_to_record

BATCH = 2000
MAX_ERRORS = 50


@dataclass
class ImportReport:
    project: str
    format: str
    detected: str = ""
    source: str = ""
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    flagged: int = 0
    skipped: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    more_errors: bool = False
    ok: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


class ImportFailed(InvalidInput):
    """Nothing was written; `report` lists the first MAX_ERRORS errors."""

    def __init__(self, report: ImportReport) -> None:
        first = report.errors[0]["text"] if report.errors else "the file could not be read"
        count = len(report.errors)
        super().__init__(
            f"Nothing was imported: {count}{'+' if report.more_errors else ''} "
            f"error{'s' if count != 1 else ''}, the first at {first}",
            hint="fix the rows named in the report, or import with skip-bad rows to keep the "
            "good ones",
        )
        self.report = report


def _error_dict(error: FormatError) -> dict:
    return {
        "line": error.line,
        "index": error.index,
        "message": error.message,
        "hint": error.hint,
        "text": str(error),
    }


def tool_problems(row: Row, project_tools: list) -> list[dict]:
    from curation.toolcheck import check_tool_calls

    tools = row.tools if row.tools else project_tools
    return [
        {"code": p.code, "message": p.message, "hint": p.hint} for p in check_tool_calls(row, tools)
    ]


def import_rows(
    project: Project,
    rows: Iterable[Row | FormatError],
    *,
    actor,
    format_name: str,
    skip_bad: bool = False,
    status: str = Record.Status.NEW,
    source: str = "",
    detected: str = "",
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import rows (a reader may yield FormatError items for bad rows it stepped over)."""
    if status not in Record.Status.values:
        raise InvalidInput(
            f"{status!r} is not a record status",
            hint=f"use one of {', '.join(Record.Status.values)}",
        )
    report = ImportReport(
        project=project.slug, format=format_name, detected=detected, source=source
    )
    seen = set(project.records.values_list("content_hash", flat=True))
    project_tools = project.tools or []
    now = timezone.now()
    batch: list[Record] = []
    stamp = {"status": status, "source": source[:255]}
    if status in (Record.Status.SUBMITTED, Record.Status.ACCEPTED):
        stamp["submitted_at"] = now
    try:
        with transaction.atomic():
            for item in _guard(rows):
                if isinstance(item, FormatError):
                    report.read += 1
                    entry = _error_dict(item)
                    if skip_bad:
                        report.skipped.append(entry)
                        continue
                    if len(report.errors) >= MAX_ERRORS:
                        report.more_errors = True
                        break
                    report.errors.append(entry)
                    continue
                report.read += 1
                if report.errors:
                    continue  # already failing: read on only to find more errors
                record = row_to_record(item, project, source_index=item.index, **stamp)
                if record.content_hash in seen:
                    report.duplicates += 1
                    continue
                seen.add(record.content_hash)
                if problems := tool_problems(item, project_tools):
                    record.problems, record.has_problems = problems, True
                    report.flagged += 1
                batch.append(record)
                if len(batch) >= BATCH:
                    _flush(batch)
                    report.imported += len(batch)
                    batch = []
                    if on_progress:
                        on_progress(report.read)
            if report.errors:
                raise _Rollback
            _flush(batch)
            report.imported += len(batch)
            AuditEvent.objects.create(
                actor=actor,
                project=project,
                action="import",
                target=source[:255],
                data={k: v for k, v in report.as_dict().items() if k not in ("skipped", "errors")},
            )
    except _Rollback:
        report.ok, report.imported = False, 0
        raise ImportFailed(report) from None
    return report


class _Rollback(Exception):
    pass


def _guard(rows: Iterable[Row | FormatError]) -> Iterator[Row | FormatError]:
    """Turn a reader's fatal FormatError (truncated file, bad encoding) into a last item."""
    try:
        yield from rows
    except FormatError as e:
        yield e


def _flush(batch: list[Record]) -> None:
    if not batch:
        return
    # No per-record history line: a record's history starts at its created_at and source,
    # and the import itself is one AuditEvent. That keeps 100k-row imports to one INSERT
    # per 500 rows.
    Record.objects.bulk_create(batch, batch_size=500)


def check_upload_size(path: Path) -> None:
    limit = settings.TUNEDESK_MAX_UPLOAD_MB * 1024 * 1024
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"{path.name} is empty", hint="choose a file with at least one row")
    if size > limit:
        raise InvalidInput(
            f"{path.name} is {size / 1024 / 1024:.0f} MB, over the "
            f"{settings.TUNEDESK_MAX_UPLOAD_MB} MB limit",
            hint="split the file, or raise TUNEDESK_MAX_UPLOAD_MB",
        )
