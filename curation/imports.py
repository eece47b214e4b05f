"""Bring rows into a project: all-or-nothing by default, every skipped row reported.

Rows stream from the format reader into batched INSERTs inside one transaction, so memory
stays flat on large files; on the first bad row (unless skip_bad) the reader goes on only to
collect up to MAX_ERRORS errors for the report, and the transaction is rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from curation import formats
from curation.errors import InvalidInput
from curation.formats import jsonio
from curation.formats.base import FormatError, Row
from curation.models import CONTENT_FIELDS, AuditEvent, Project, Record, content_hash
from curation.rows import answer_tool_name, row_content

BATCH = 2000
MAX_ERRORS = 50
PREVIEW_ROWS = 20
DETECT_CHARS = 256 * 1024
BULK_CACHE_KB = 65536


@dataclass
class ImportReport:
    project: str
    format: str
    detected: str = ""
    reason: str = ""
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
        first = report.errors[0] if report.errors else None
        count = len(report.errors)
        where = ""
        if first:
            where = f"line {first['line']}"
            if first["index"] is not None:
                where += f" (record {first['index']})"
        super().__init__(
            f"Nothing was imported: {count}{'+' if report.more_errors else ''} "
            f"error{'s' if count != 1 else ''}, the first at {where}: "
            f"{first['message'] if first else 'the file could not be read'}",
            hint=(first and first["hint"])
            or "fix the rows named in the report, or skip bad rows to keep the good ones",
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
    dedup: bool = True,
    status: str = Record.Status.NEW,
    source: str = "",
    detected: str = "",
    reason: str = "",
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import rows (a reader may yield FormatError items for bad rows it stepped over).

    Rows whose content hash is already in the project (or earlier in the file) are skipped
    and counted as duplicates, unless `dedup=False` keeps them (a file that must round-trip
    exactly, duplicates included).
    """
    if status not in Record.Status.values:
        raise InvalidInput(
            f"{status!r} is not a record status",
            hint=f"use one of {', '.join(Record.Status.values)}",
        )
    report = ImportReport(
        project=project.slug, format=format_name, detected=detected, reason=reason, source=source
    )
    seen = set(project.records.values_list("content_hash", flat=True))
    project_tools = project.tools or []
    try:
        with (
            _bulk_load(),
            transaction.atomic(),
            _Inserter(project, status=status, source=source[:255]) as insert,
        ):
            for item in _guard(rows):
                report.read += 1
                if isinstance(item, FormatError):
                    entry = _error_dict(item)
                    if skip_bad:
                        report.skipped.append(entry)
                        continue
                    if len(report.errors) >= MAX_ERRORS:
                        report.more_errors = True
                        break
                    report.errors.append(entry)
                    continue
                if report.errors:
                    continue  # already failing: read on only to find more errors
                content = row_content(item)
                digest = content_hash(content)
                if digest in seen:
                    if dedup:
                        report.duplicates += 1
                        continue
                else:
                    seen.add(digest)
                problems = tool_problems(item, project_tools) if _has_calls(item) else []
                report.flagged += bool(problems)
                insert.add(item, content, digest, problems)
                if len(insert.batch) >= BATCH:
                    report.imported += insert.flush()
                    if on_progress:
                        on_progress(report.read)
            if report.errors:
                raise _Rollback
            if not report.read:
                raise InvalidInput(
                    f"{source or 'the file'} holds no rows",
                    hint="choose a file with at least one row",
                )
            report.imported += insert.flush()
            insert.wait()
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


def _has_calls(row: Row) -> bool:
    """Whether the row holds any tool call (the tool check is skipped for the rest)."""
    for messages in (row.messages, row.chosen, row.rejected):
        for message in messages or ():
            if isinstance(message, dict) and message.get("tool_calls"):
                return True
    return False


class _Inserter:
    """Batched INSERTs of new records straight from rows.

    bulk_create costs ~7 µs per field per row in Django's SQL compiler (and SQLite caps a
    statement at ~30 records of this width); one prepared statement run by executemany
    over plain tuples is about ten times faster, which is what a 100k-row import needs.
    """

    def __init__(self, project: Project, *, status: str, source: str) -> None:
        now = timezone.now()
        constant = {
            "project": project.pk,
            "status": status,
            "source": source,
            "split": "",
            "split_locked": False,
            "version": 1,
            "review_comment": "",
            "created_at": now,
            "updated_at": now,
        }
        if status in (Record.Status.SUBMITTED, Record.Status.ACCEPTED):
            constant["submitted_at"] = now
        self.fields = [f for f in Record._meta.concrete_fields if not f.primary_key]
        self.template = [
            f.get_db_prep_save(constant.get(f.name, f.get_default()), connection)
            for f in self.fields
        ]
        self.at = {f.name: i for i, f in enumerate(self.fields)}
        self.content_slots = [
            (self.at[name], name, Record._meta.get_field(name).get_internal_type() == "JSONField")
            for name in CONTENT_FIELDS
        ]
        ops = connection.ops
        # The JSON columns are text on every database (curation.fields.OrderedJSONField).
        self.encode_json = _JSON.encode
        self.empty_object, self.empty_list = self.encode_json({}), self.encode_json([])
        columns = ", ".join(ops.quote_name(f.column) for f in self.fields)
        # The raw driver's own placeholder: the writer thread bypasses Django's cursor.
        placeholder = "?" if connection.vendor == "sqlite" else "%s"
        placeholders = ", ".join([placeholder] * len(self.fields))
        table = ops.quote_name(Record._meta.db_table)
        self.sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
        self.batch: list[list] = []
        connection.ensure_connection()
        self._raw = connection.connection
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        self._pending: Future | None = None

    def add(self, row: Row, content: dict, digest: str, problems: list[dict]) -> None:
        out = self.template.copy()
        encode = self.encode_json
        for i, name, is_json in self.content_slots:
            value = content[name]
            out[i] = encode(value) if is_json and value is not None else value
        at = self.at
        out[at["extra"]] = encode(row.extra) if row.extra else self.empty_object
        out[at["meta"]] = encode(row.meta)
        out[at["source_index"]] = row.index
        out[at["content_hash"]] = digest
        out[at["tool_name"]] = answer_tool_name(row)
        out[at["problems"]] = encode(problems) if problems else self.empty_list
        out[at["has_problems"]] = bool(problems)
        self.batch.append(out)

    def flush(self) -> int:
        """Hand the batch to the writer thread; returns how many records it holds.

        The database driver releases the GIL while it writes, so parsing the next batch
        overlaps with inserting this one. The thread uses this thread's connection (inside
        its transaction) and only while this thread waits for it or parses.
        """
        count = len(self.batch)
        self.wait()
        if count:
            self._pending = self._pool.submit(self._write, self.batch)
            self.batch = []
        return count

    def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def __enter__(self) -> _Inserter:
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def _write(self, batch: list) -> None:
        cursor = self._raw.cursor()
        try:
            cursor.executemany(self.sql, batch)
        finally:
            cursor.close()


_JSON = json.JSONEncoder()


@contextmanager
def _bulk_load() -> Iterator[None]:
    """A larger SQLite page cache while importing: the record table's ten indexes (content
    hashes land at random places) otherwise spill the default 2 MB cache on every batch."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = -{BULK_CACHE_KB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {before}")


class _Rollback(Exception):
    pass


def _guard(rows: Iterable[Row | FormatError]) -> Iterator[Row | FormatError]:
    """Turn a reader's fatal FormatError (truncated file, bad encoding) into a last item."""
    try:
        yield from rows
    except FormatError as e:
        yield e


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


# --- files -----------------------------------------------------------------------------------


@dataclass
class Preview:
    """The first rows of a file as Tunedesk understood them; nothing is written."""

    format: str
    detected: bool
    reason: str
    task_kind: str
    rows: list[Row]
    errors: list[dict]


def _detect(path: Path, format_name: str | None) -> tuple[str, bool, str]:
    """(format, detected?, reason): the named format, or the detector's guess."""
    if format_name:
        module = formats.get(format_name)
        if "read" not in getattr(module, "CAPABILITIES", ()):
            readable = [n for n, m in formats.FORMATS.items() if "read" in m.CAPABILITIES]
            raise InvalidInput(
                f"the {format_name} format can be exported but not imported",
                hint="import as one of " + ", ".join(readable),
            )
        return format_name, False, ""
    from curation.formats.detect import detect

    try:
        with jsonio.open_text(path) as text:
            detection = detect(text.read(DETECT_CHARS))
    except FormatError as e:
        report = ImportReport(project="", format="", source=path.name, ok=False)
        report.errors.append(_error_dict(e))
        raise ImportFailed(report) from None
    return detection.name, True, f"{detection.reason} (confidence {detection.confidence:.0%})"


def _rows_and_errors(
    path_or_stream, format_name: str, *, mapping: dict | None
) -> Iterator[Row | FormatError]:
    """The reader's rows with its skipped-row reports in between, in file order; a fatal
    FormatError (bad bytes, truncated JSON) comes last."""
    module = formats.get(format_name)
    pending: list[FormatError] = []
    kwargs = {"mapping": mapping} if mapping else {}
    try:
        for row in module.read(path_or_stream, on_bad_row=pending.append, **kwargs):
            if pending:
                yield from pending
                pending.clear()
            yield row
    except FormatError as e:
        yield from pending
        yield e
        return
    yield from pending


def task_kind_of(row: Row) -> str:
    """The project task kind a file's first row suggests."""
    if row.chosen is not None or row.rejected is not None:
        return Project.TaskKind.PREFERENCE
    if row.tools or answer_tool_name(row):
        return Project.TaskKind.TOOL_CALLING
    if row.kind == Record.Kind.CONVERSATION:
        return Project.TaskKind.CHAT
    return Project.TaskKind.INSTRUCTION


def preview_file(
    path: Path, format_name: str | None = None, limit: int = PREVIEW_ROWS, *, mapping=None
) -> Preview:
    """Parse the first `limit` rows (detecting the format unless named) without writing."""
    path = Path(path)
    check_upload_size(path)
    name, detected, reason = _detect(path, format_name)
    rows: list[Row] = []
    errors: list[dict] = []
    with jsonio.open_text(path) as text:
        for item in _rows_and_errors(text, name, mapping=mapping):
            if isinstance(item, FormatError):
                errors.append(_error_dict(item))
            else:
                rows.append(item)
            if len(rows) + len(errors) >= limit:
                break
    kind = task_kind_of(rows[0]) if rows else ""
    return Preview(name, detected, reason, kind, rows, errors)


def import_file(
    project: Project,
    path: Path,
    *,
    actor,
    format_name: str | None = None,
    skip_bad: bool = False,
    dedup: bool = True,
    status: str = Record.Status.NEW,
    mapping: dict | None = None,
    on_progress: Callable[[float, int], None] | None = None,
) -> ImportReport:
    """Import a file all-or-nothing (or skipping bad rows); detects the format unless named.

    `on_progress(fraction of bytes read, rows read)` is called after each batch.
    """
    path = Path(path)
    check_upload_size(path)
    name, detected, reason = _detect(path, format_name)
    size = path.stat().st_size
    with open(path, "rb") as raw, jsonio.open_text(raw) as text:
        progress = None
        if on_progress:

            def progress(rows: int) -> None:
                on_progress(min(raw.tell() / size, 1.0), rows)

        report = import_rows(
            project,
            _rows_and_errors(text, name, mapping=mapping),
            actor=actor,
            format_name=name,
            skip_bad=skip_bad,
            dedup=dedup,
            status=status,
            source=path.name,
            detected=name if detected else "",
            reason=reason,
            on_progress=progress,
        )
    return report


def create_project_for_file(
    slug: str, path: Path, *, format_name: str | None = None, mapping: dict | None = None
) -> Project:
    """A new project named `slug` whose task kind is guessed from the file's first rows."""
    preview = preview_file(Path(path), format_name, mapping=mapping)
    if not preview.rows:
        first = preview.errors[0]["text"] if preview.errors else "no rows were found"
        raise InvalidInput(
            f"cannot guess the task kind of {Path(path).name}: {first}",
            hint="fix the file, or create the project first",
        )
    return Project.objects.create(slug=slug, name=slug, task_kind=preview.task_kind)
