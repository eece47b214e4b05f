"""The seed's preference rows: `messages` (the prompt), `chosen` and `rejected` messages.

`{"messages": [...], "chosen": {"role": "assistant", ...}, "rejected": {...}}`, optional
`tools`. In a Row, `chosen`/`rejected` are one-message lists; a plain leading system message
becomes `system`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from . import convert, jsonio
from .base import BadRow, Row, key_order, ordered, write_error
from .openai_chat import check_tool_calls, parse_messages, parse_tools

NAME = "messages_preference"
CAPABILITIES = ("read", "write")
KNOWN = frozenset(("messages", "chosen", "rejected", "tools"))
#: Rows are written with their tool schemas (a list under `tools`).
HOLDS_TOOLS = True
_ORDER = ["messages", "chosen", "rejected", "tools"]


def _parse(obj: dict) -> Row:
    system, messages = parse_messages(obj.get("messages"), "messages")
    row = Row(kind="conversation", system=system, messages=messages, tools=parse_tools(obj))
    for key in ("chosen", "rejected"):
        value = obj.get(key)
        if type(value) is not dict or type(value.get("role")) is not str:
            raise BadRow(
                f'"{key}" is missing or not a message',
                hint=f'give "{key}" as {{"role": "assistant", "content": ...}}',
            )
        check_tool_calls(value, f'"{key}"')
        setattr(row, key, [value])
    if not obj.keys() <= KNOWN:
        row.extra = {k: v for k, v in obj.items() if k not in KNOWN}
    row.meta = {"format": NAME}
    keys = key_order(obj, [k for k in _ORDER if k in obj] + list(row.extra))
    if keys:
        row.meta["keys"] = keys
    return row


def read(stream: IO[str], *, on_bad_row: jsonio.OnBadRow | None = None) -> Iterator[Row]:
    return jsonio.read_rows(stream, _parse, on_bad_row=on_bad_row)


def dump(row: Row) -> dict:
    chosen, rejected = convert.answers(row, NAME)
    obj: dict = {"messages": convert.with_system(row, convert.chat(row))}
    for key, messages in (("chosen", chosen), ("rejected", rejected)):
        if len(messages) != 1:
            raise write_error(
                row,
                f'"{key}" has {len(messages)} messages; {NAME} holds one',
                hint="export it as openai_dpo or conversational trl_preference",
            )
        obj[key] = messages[0]
    if row.tools is not None:
        obj["tools"] = row.tools
    convert.add_extra(row, obj, KNOWN)
    return ordered(obj, convert.source_meta(row, NAME).get("keys"))


def write(rows: Iterable[Row], stream: IO[str], *, array: bool = False) -> jsonio.Written:
    return jsonio.write_objects(map(dump, rows), stream, array=array)
