"""OpenAI preference fine-tuning JSON Lines: `input` {messages, tools?, parallel_tool_calls?},
`preferred_output` and `non_preferred_output` (lists of assistant messages).

In a Row: `messages`/`system`/`tools` from `input`, `chosen`/`rejected` from the two outputs.
Other keys inside `input` (such as `parallel_tool_calls`) go to `Row.extra`, and `meta`
remembers that they belong inside `input`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from . import convert, jsonio
from .base import BadRow, Row, key_order, ordered
from .openai_chat import check_messages, parse_messages, parse_tools

NAME = "openai_dpo"
CAPABILITIES = ("read", "write")
KNOWN = frozenset(("input", "preferred_output", "non_preferred_output"))
INPUT_KNOWN = frozenset(("messages", "tools"))
#: Rows are written with their tool schemas (a list under `tools`).
HOLDS_TOOLS = True
_ORDER = ["input", "preferred_output", "non_preferred_output"]
# Keys that belong inside `input` when a row from another format is written.
_INPUT_EXTRA = ("parallel_tool_calls",)


def _parse(obj: dict) -> Row:
    given = obj.get("input")
    if type(given) is not dict:
        raise BadRow(
            '"input" is missing or not an object',
            hint='give every row "input": {"messages": [...]}',
        )
    system, messages = parse_messages(given.get("messages"), "input.messages")
    row = Row(
        kind="conversation",
        system=system,
        messages=messages,
        tools=parse_tools(given),
        chosen=check_messages(obj.get("preferred_output"), "preferred_output"),
        rejected=check_messages(obj.get("non_preferred_output"), "non_preferred_output"),
    )
    meta: dict = {"format": NAME}
    inner = {k: v for k, v in given.items() if k not in INPUT_KNOWN}
    outer = {k: v for k, v in obj.items() if k not in KNOWN}
    if inner.keys() & outer.keys():
        raise BadRow(
            f'"{next(iter(inner.keys() & outer.keys()))}" is both inside and outside "input"',
            hint="keep one of them",
        )
    row.extra = inner | outer
    if list(inner) != [k for k in _INPUT_EXTRA if k in inner]:
        meta["input_keys"] = list(inner)
    keys = key_order(given, [k for k in ("messages", "tools") if k in given] + list(inner))
    if keys:
        meta["input_order"] = keys
    keys = key_order(obj, [k for k in _ORDER if k in obj] + list(outer))
    if keys:
        meta["keys"] = keys
    row.meta = meta
    return row


def read(stream: IO[str], *, on_bad_row: jsonio.OnBadRow | None = None) -> Iterator[Row]:
    return jsonio.read_rows(stream, _parse, on_bad_row=on_bad_row)


def dump(row: Row) -> dict:
    chosen, rejected = convert.answers(row, NAME)
    meta = convert.source_meta(row, NAME)
    inside = set(meta.get("input_keys", _INPUT_EXTRA))
    given: dict = {"messages": convert.with_system(row, convert.chat(row))}
    if row.tools is not None:
        given["tools"] = row.tools
    outer = Row(
        extra={k: v for k, v in row.extra.items() if k not in inside},
        line=row.line,
        index=row.index,
    )
    convert.add_extra(
        Row(extra={k: v for k, v in row.extra.items() if k in inside}), given, INPUT_KNOWN
    )
    obj = {
        "input": ordered(given, meta.get("input_order")),
        "preferred_output": chosen,
        "non_preferred_output": rejected,
    }
    convert.add_extra(outer, obj, KNOWN)
    return ordered(obj, meta.get("keys"))


def write(rows: Iterable[Row], stream: IO[str], *, array: bool = False) -> jsonio.Written:
    return jsonio.write_objects(map(dump, rows), stream, array=array)
