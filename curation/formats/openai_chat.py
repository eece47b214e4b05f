"""OpenAI chat fine-tuning JSON Lines: `messages`, optional `tools`, `parallel_tool_calls`.

Messages are kept as they are (role, content, name, tool_calls, tool_call_id, weight and any
other key, in order), except that a leading `{"role": "system", "content": text}` becomes
`Row.system`. `parallel_tool_calls` and other top-level keys go to `Row.extra`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from . import convert, jsonio
from .base import BadRow, Row, key_order, ordered

NAME = "openai_chat"
CAPABILITIES = ("read", "write")
KNOWN = frozenset(("messages", "tools"))
#: Rows are written with their tool schemas (a list under `tools`).
HOLDS_TOOLS = True


def check_messages(value: object, key: str) -> list[dict]:
    """`value` when it is a list of messages that each have a role."""
    if type(value) is not list:
        raise BadRow(
            f'"{key}" is missing or not a list',
            hint=f'give every row a "{key}" list of {{"role", "content"}} objects',
        )
    for i, message in enumerate(value):
        if type(message) is not dict or type(message.get("role")) is not str:
            raise BadRow(
                f'message {i} of "{key}" has no "role"',
                hint='give every message a "role" and "content"',
            )
        check_tool_calls(message, f'message {i} of "{key}"')
    return value


def check_tool_calls(message: dict, where: str) -> None:
    """A message's `tool_calls`, when present, must be a list (of calls, checked on import)."""
    calls = message.get("tool_calls")
    if calls is not None and type(calls) is not list:
        raise BadRow(
            f'{where} has "tool_calls" that is {jsonio.kind_of(calls)}, not a list',
            hint='give "tool_calls" as a list of {"id", "type": "function", "function"} objects',
        )


def parse_messages(value: object, key: str) -> tuple[str | None, list[dict]]:
    """(system, messages) from an OpenAI message list; a plain leading system turn is lifted."""
    return convert.lift_system(check_messages(value, key))


def parse_tools(obj: dict) -> list | None:
    """The OpenAI `tools` list of `obj`, None when it has none."""
    if "tools" not in obj:
        return None
    tools = obj["tools"]
    if type(tools) is not list:
        raise BadRow(
            f'"tools" is {jsonio.kind_of(tools)}, not a list',
            hint='give "tools" as a list of {"type": "function", "function": {...}}',
        )
    return tools


def _parse(obj: dict) -> Row:
    system, messages = parse_messages(obj.get("messages"), "messages")
    row = Row(kind="conversation", system=system, messages=messages, tools=parse_tools(obj))
    if not obj.keys() <= KNOWN:
        row.extra = {k: v for k, v in obj.items() if k not in KNOWN}
    row.meta = {"format": NAME}
    keys = key_order(obj, [k for k in ("messages", "tools") if k in obj] + list(row.extra))
    if keys:
        row.meta["keys"] = keys
    return row


def read(stream: IO[str], *, on_bad_row: jsonio.OnBadRow | None = None) -> Iterator[Row]:
    return jsonio.read_rows(stream, _parse, on_bad_row=on_bad_row)


def dump(row: Row) -> dict:
    convert.no_preference(row, NAME)
    obj: dict = {"messages": convert.with_system(row, convert.chat(row))}
    if row.tools is not None:
        obj["tools"] = row.tools
    convert.add_extra(row, obj, KNOWN)
    return ordered(obj, convert.source_meta(row, NAME).get("keys"))


def write(rows: Iterable[Row], stream: IO[str], *, array: bool = False) -> jsonio.Written:
    return jsonio.write_objects(map(dump, rows), stream, array=array)
