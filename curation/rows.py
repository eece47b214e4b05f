"""The bridge between the formats' plain Row and the Record model (fields mirror 1:1)."""

from __future__ import annotations

from curation import record_content
from curation.formats.base import Row
from curation.models import Project, Record
from curation.rowprep import ROW_FIELDS, content_hash, row_content  # noqa: F401


def row_to_record(row: Row, project: Project, **fields) -> Record:
    record = Record(project=project, **{name: getattr(row, name) for name in ROW_FIELDS}, **fields)
    record.content_hash = content_hash(row_content(row))
    record.tool_name = record_content.tool_name(row)
    return record


def record_to_row(record: Record) -> Row:
    return Row(**{name: getattr(record, name) for name in ROW_FIELDS}, index=record.pk or 0)
