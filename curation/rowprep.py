"""From a format's rows to the column values of new records, with no Django in sight.

Everything an import does per row that does not need the database lives here: the content
hash, the answer's tool name, the tool-call check, the JSON text of each JSON column. Being
plain Python, it runs in the importing process for small inputs and in a helper process for
large files (`produce`), which then overlaps with the database writes on another core. (A
thread cannot: the database driver takes the interpreter lock back after every row.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator

from curation import helper_process, record_content
from curation.formats.base import FormatError, Row

#: Fields that make up a record's content; the content hash and exports read exactly these.
CONTENT_FIELDS = (
    "kind",
    "system",
    "instruction",
    "input",
    "output",
    "history",
    "messages",
    "tools",
    "chosen",
    "rejected",
)
JSON_CONTENT_FIELDS = frozenset({"history", "messages", "tools", "chosen", "rejected"})
#: The Row fields a record stores (its content plus what it keeps of the source's spelling).
ROW_FIELDS = (*CONTENT_FIELDS, "extra", "meta")

#: The record columns a prepared row holds, in order; the rest are the same for a whole import.
PREPARED_COLUMNS = (
    *CONTENT_FIELDS,
    "extra",
    "meta",
    "source_index",
    "content_hash",
    "tool_name",
    "problems",
    "has_problems",
)
HASH_AT = PREPARED_COLUMNS.index("content_hash")
PROBLEMS_AT = PREPARED_COLUMNS.index("has_problems")

_JSON_SLOTS = tuple(name in JSON_CONTENT_FIELDS for name in CONTENT_FIELDS)
# The JSON columns hold what json.dumps writes (curation.fields.OrderedJSONField).
_encode = json.JSONEncoder(allow_nan=False).encode
_EMPTY_OBJECT, _EMPTY_LIST = _encode({}), _encode([])


def content_hash(content: dict) -> str:
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def row_content(row) -> dict:
    return {name: getattr(row, name) for name in CONTENT_FIELDS}


def has_calls(row: Row) -> bool:
    """Whether the row holds any tool call (the tool check is skipped for the rest)."""
    for messages in (row.messages, row.chosen, row.rejected):
        for message in messages or ():
            if isinstance(message, dict) and message.get("tool_calls"):
                return True
    return False


def tool_problems(row: Row, project_tools: list) -> list[dict]:
    from curation.toolcheck import check_tool_calls

    tools = record_content.tools_of(row, project_tools)
    return [
        {"code": p.code, "message": p.message, "hint": p.hint} for p in check_tool_calls(row, tools)
    ]


_TEXT_FIELDS = tuple(name for name in CONTENT_FIELDS if name not in JSON_CONTENT_FIELDS)


def prepare(row: Row, project_tools: list) -> tuple:
    """The PREPARED_COLUMNS values of the record `row` becomes, ready for the database.

    Raises FormatError (located at the row) for content no database column can hold: the
    format readers refuse it already, rows built in code may still carry it.
    """
    content = [getattr(row, name) for name in CONTENT_FIELDS]
    try:
        digest = content_hash(dict(zip(CONTENT_FIELDS, content, strict=True)))
        for i, is_json in enumerate(_JSON_SLOTS):
            if is_json and content[i] is not None:
                content[i] = _encode(content[i])
        extra = _encode(row.extra) if row.extra else _EMPTY_OBJECT
        meta = _encode(row.meta)
    except UnicodeEncodeError:
        raise _unstorable(row, "holds a lone UTF-16 surrogate (like \\ud800)") from None
    except ValueError:
        raise _unstorable(row, "holds NaN or Infinity, which JSON cannot hold") from None
    except RecursionError:
        raise _unstorable(row, "is nested too deeply") from None
    tool_name = record_content.tool_name(row)
    for name in _TEXT_FIELDS:
        value = getattr(row, name)
        if isinstance(value, str) and "\x00" in value:
            raise _unstorable(row, f'has a NUL character in "{name}"')
    if "\x00" in tool_name:
        raise _unstorable(row, "has a NUL character in the tool name")
    problems = tool_problems(row, project_tools) if has_calls(row) else []
    return (
        *content,
        extra,
        meta,
        row.index,
        digest,
        tool_name,
        _encode(problems) if problems else _EMPTY_LIST,
        bool(problems),
    )


def _unstorable(row: Row, what: str) -> FormatError:
    return FormatError(
        row.line,
        f"the row {what}",
        index=row.index,
        hint="remove it from the row (a database text column cannot store it)",
    )


def prepare_all(
    items: Iterable[Row | FormatError], project_tools: list
) -> Iterator[tuple | FormatError]:
    for item in items:
        if isinstance(item, FormatError):
            yield item
            continue
        try:
            yield prepare(item, project_tools)
        except FormatError as e:
            yield e


def rows_and_errors(
    source, format_name: str, *, mapping: dict | None
) -> Iterator[Row | FormatError]:
    """The reader's rows with its skipped-row reports in between, in file order; a fatal
    FormatError (bad bytes, truncated JSON) comes last. `source` is a text stream."""
    from curation import formats

    module = formats.get(format_name)
    pending: list[FormatError] = []
    kwargs = {"mapping": mapping} if mapping else {}
    try:
        for row in module.read(source, on_bad_row=pending.append, **kwargs):
            if pending:
                yield from pending
                pending.clear()
            yield row
    except FormatError as e:
        yield from pending
        yield e
        return
    yield from pending


# --- the helper process ----------------------------------------------------------------------

BATCH = 2000


def produce(conn, path: str, format_name: str, mapping: dict | None, project_tools: list) -> None:
    """Run in a helper process: read `path` and send batches of prepared rows to `conn`.

    Messages: ("batch", items, bytes read) with items prepared tuples or FormatErrors as
    [line, message, index, hint] lists; then ("done",) (or helper_process's "crash").
    """
    from curation.formats import jsonio

    def work() -> None:
        with open(path, "rb") as raw, jsonio.open_text(raw) as text:
            batch: list = []
            for item in prepare_all(
                rows_and_errors(text, format_name, mapping=mapping), project_tools
            ):
                if isinstance(item, FormatError):  # sent as a list: prepared rows are tuples
                    item = [item.line, item.message, item.index, item.hint]
                batch.append(item)
                if len(batch) >= BATCH:
                    conn.send(("batch", batch, raw.tell()))
                    batch = []
            conn.send(("batch", batch, raw.tell()))
        conn.send(("done",))

    helper_process.serve(conn, work)
