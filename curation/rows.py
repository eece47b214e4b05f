"""The bridge between the formats' plain Row and the Record model (fields mirror 1:1)."""

from __future__ import annotations

from curation.formats.base import Row
from curation.models import Project, Record
from curation.rowprep import ROW_FIELDS, answer_tool_name, content_hash, row_content  # noqa: F401


def row_to_record(row: Row, project: Project, **fields) -> Record:
    record = Record(project=project, **{name: getattr(row, name) for name in ROW_FIELDS}, **fields)
    record.content_hash = content_hash(row_content(row))
    record.tool_name = answer_tool_name(row)
    return record


def record_to_row(record: Record) -> Row:
    return Row(**{name: getattr(record, name) for name in ROW_FIELDS}, index=record.pk or 0)


def record_messages(row: Row | Record, *, answer: bool = True) -> list[dict]:
    """A record as OpenAI-style messages: what drafting, training and comparison feed to
    training.prompting. With answer=False the answer is left off (the prompt to draft from).

    The answer of a conversation is its trailing assistant turns, or the chosen candidate
    when the record holds candidates; of an instruction pair, its output.
    """
    from training.prompting import instruction_messages

    if row.kind == Record.Kind.INSTRUCTION:
        output = row.output if answer else None
        if answer and output is None and row.chosen:
            output = row.chosen[0].get("content") or ""
        return instruction_messages(
            row.instruction or "",
            row.input or "",
            output,
            system=row.system or "",
            history=row.history,
        )
    messages = [{"role": "system", "content": row.system}] if row.system else []
    messages += [dict(m) for m in row.messages or []]
    if row.chosen:
        if answer:
            messages += [dict(m) for m in row.chosen]
    elif not answer:
        while messages and messages[-1].get("role") == "assistant":
            messages.pop()
    return messages
