"""ShareGPT as LLaMA-Factory reads it: `conversations` of `from`/`value` turns.

Turn tags: human, gpt, system, function_call, observation (user/assistant/tool are read as
synonyms). Top-level `system` and `tools` (a JSON string or a list, OpenAI or glaive shape);
preference rows add `chosen` and `rejected` turn objects.

In a Row: `messages` are OpenAI-style. A function_call turn (a JSON string {"name",
"arguments"}, or a list of them for parallel calls) becomes an assistant message with
`tool_calls` (arguments as a JSON string, ids "call_0", "call_1", ... per row); an observation
becomes a `tool` message linked to the call it answers. A leading system turn or the `system`
key become `Row.system`. `tools` are normalised to the OpenAI shape. Ids are not written back
(ShareGPT links calls and results by order). `meta` keeps the source's exact spelling.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from . import convert, jsonio
from .base import BadRow, Row, ordered, write_error

NAME = "sharegpt"
CAPABILITIES = ("read", "write")
#: Rows are written with their tool schemas (`tools`, a JSON string as LLaMA-Factory reads it).
HOLDS_TOOLS = True

# Tags a turn may carry, mapped to the message roles they become.
_ROLE_OF_TAG = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "function_call": "function_call",
    "observation": "observation",
    "tool": "observation",
}
_MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id")


@dataclass(frozen=True)
class Dialect:
    name: str
    messages: str
    role: str
    content: str
    tags: dict  # role -> the tag this dialect writes by default

    @property
    def known(self) -> frozenset[str]:
        return frozenset((self.messages, "chosen", "rejected", "system", "tools"))


SHAREGPT = Dialect(
    NAME,
    "conversations",
    "from",
    "value",
    {
        "user": "human",
        "assistant": "gpt",
        "system": "system",
        "function_call": "function_call",
        "observation": "observation",
    },
)


# --- tools -----------------------------------------------------------------------------------


def _is_openai_tool(tool: object) -> bool:
    return (
        type(tool) is dict
        and len(tool) == 2
        and tool.get("type") == "function"
        and type(tool.get("function")) is dict
    )


def normalise_tools(tools: object) -> tuple[list, str | list]:
    """Tools in OpenAI shape, and the source shape ("openai", "flat" or one per tool)."""
    if type(tools) is str:
        try:
            tools = jsonio.loads(tools) if tools.strip() else []
        except json.JSONDecodeError as e:
            raise BadRow(
                f'"tools" is not valid JSON text ({e.msg})', hint="write tools as a JSON list"
            ) from None
    if type(tools) is not list or not all(type(t) is dict for t in tools):
        raise BadRow(
            '"tools" is not a list of tool objects',
            hint='give "tools" as a list of {"name", "description", "parameters"} objects',
        )
    shapes = ["openai" if _is_openai_tool(t) else "flat" for t in tools]
    out = [
        t if s == "openai" else {"type": "function", "function": t}
        for t, s in zip(tools, shapes, strict=True)
    ]
    uniform = set(shapes)
    shape: str | list = shapes if len(uniform) > 1 else (uniform.pop() if uniform else "flat")
    return out, shape


def read_tools(value: object) -> tuple[list, dict]:
    """OpenAI-shaped tools and the meta needed to write `value` back as it was."""
    tools, shape = normalise_tools(value)
    meta: dict = {"as": "string" if type(value) is str else "list", "shape": shape}
    if type(value) is str and value != write_tools(tools, meta):
        meta["raw"] = value
    return tools, meta


def write_tools(tools: list, meta: dict) -> str | list:
    """Tools in the source's spelling (default: a JSON string of glaive-shaped tools)."""
    raw = meta.get("raw")
    if raw is not None:
        try:
            if normalise_tools(raw)[0] == tools:
                return raw
        except BadRow:
            pass
    shape = meta.get("shape", "flat")
    shapes = shape if type(shape) is list and len(shape) == len(tools) else [shape] * len(tools)
    out = [
        t["function"] if s == "flat" and _is_openai_tool(t) else t
        for t, s in zip(tools, shapes, strict=True)
    ]
    return out if meta.get("as") == "list" else jsonio.dumps(out)


# --- function calls --------------------------------------------------------------------------


def parse_calls(value: str) -> list[tuple[str, str]]:
    """(name, arguments as JSON text) for each call in a function_call turn's value."""
    hint = 'write the call as {"name": "...", "arguments": {...}}'
    try:
        data = jsonio.loads(value)
    except json.JSONDecodeError as e:
        raise BadRow(f"the function_call is not valid JSON ({e.msg})", hint=hint) from None
    items = data if type(data) is list else [data]
    calls = []
    for item in items:
        if type(item) is not dict or type(item.get("name")) is not str or "arguments" not in item:
            raise BadRow('the function_call lacks a "name" or "arguments"', hint=hint)
        if len(item) != 2:
            extra = ", ".join(k for k in item if k not in ("name", "arguments"))
            raise BadRow(
                f"the function_call has fields ShareGPT does not define ({extra})", hint=hint
            )
        args = item["arguments"]
        calls.append((item["name"], args if type(args) is str else jsonio.dumps(args)))
    if not calls:
        raise BadRow("the function_call is an empty list", hint=hint)
    return calls


def _arguments_value(arguments: str) -> object:
    try:
        value = json.loads(arguments)
    except (json.JSONDecodeError, TypeError):
        return arguments
    return value if type(value) is dict else arguments


def dump_calls(calls: list[tuple[str, str]]) -> str:
    objs = [{"name": name, "arguments": _arguments_value(args)} for name, args in calls]
    return jsonio.dumps(objs[0] if len(objs) == 1 else objs)


def calls_of(message: dict) -> list[tuple[str, str]] | None:
    """(name, arguments) of an OpenAI message's tool calls; None if they are malformed."""
    calls = []
    for call in message["tool_calls"]:
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict or type(function.get("name")) is not str:
            return None
        args = function.get("arguments", "")
        calls.append((function["name"], args if type(args) is str else jsonio.dumps(args)))
    return calls


# --- the format ------------------------------------------------------------------------------


class Codec:
    """Reads and writes one dialect (key and tag names) of ShareGPT."""

    def __init__(self, dialect: Dialect):
        self.d = dialect

    # reading

    def parse(self, obj: dict) -> Row:
        d = self.d
        turns = obj.get(d.messages)
        if type(turns) is not list:
            raise BadRow(
                f'"{d.messages}" is missing or not a list',
                hint=f'give every row a "{d.messages}" list of '
                f'{{"{d.role}": ..., "{d.content}": ...}} turns',
            )
        row = Row(kind="conversation")
        meta: dict = {"format": d.name}
        state = _ReadState()
        if "system" in obj:
            if type(obj["system"]) is not str:
                raise BadRow(
                    f'"system" is {jsonio.kind_of(obj["system"])}, not text',
                    hint='make "system" text',
                )
            row.system = obj["system"]
            meta["system"] = "key"
        elif turns and self._is_system_turn(turns[0]):
            row.system = turns[0][d.content]
            meta["system"] = "turn"
            turns = turns[1:]
        row.messages = [self._message(turn, str(i), state) for i, turn in enumerate(turns)]
        for key in ("chosen", "rejected"):
            if key in obj:
                setattr(row, key, [self._message(obj[key], key, state)])
        if "tools" in obj:
            row.tools, meta["tools"] = read_tools(obj["tools"])
        if not obj.keys() <= d.known:
            row.extra = {k: v for k, v in obj.items() if k not in d.known}
        keys = list(obj)
        if keys != self._order(obj.keys(), row.extra, meta.get("system")):
            meta["keys"] = keys
        for name, value in (
            ("tags", state.tags),
            ("turn_tags", state.turn_tags),
            ("turn_keys", state.turn_keys),
            ("calls", state.raw_calls),
        ):
            if value:
                meta[name] = value
        row.meta = meta
        return row

    def _is_system_turn(self, turn: object) -> bool:
        d = self.d
        return (
            type(turn) is dict
            and list(turn) == [d.role, d.content]
            and turn[d.role] == d.tags["system"]
            and type(turn[d.content]) is str
        )

    def _message(self, turn: object, key: str, state: _ReadState) -> dict:
        d = self.d
        where = f"turn {key}" if key.isdigit() else f'"{key}"'
        if type(turn) is not dict:
            raise BadRow(
                f"{where} is {jsonio.kind_of(turn)}, not an object",
                hint=f'write each turn as {{"{d.role}": ..., "{d.content}": ...}}',
            )
        tag = turn.get(d.role)
        role = _ROLE_OF_TAG.get(tag) if type(tag) is str else None
        if role is None:
            raise BadRow(
                f'{where} has an unknown "{d.role}" {tag!r}',
                hint=f"use one of {', '.join(d.tags.values())}",
            )
        first = state.seen.setdefault(role, tag)
        if first != tag:
            state.turn_tags[key] = tag  # a row mixing synonyms, e.g. "human" and "user"
        elif tag != d.tags[role]:
            state.tags[role] = tag
        value = turn.get(d.content)
        if type(value) is not str:
            raise BadRow(
                f'{where} "{d.content}" is {jsonio.kind_of(value)}, not text',
                hint=f'give every turn a "{d.content}" text',
            )
        extras = (
            {k: v for k, v in turn.items() if k != d.role and k != d.content}
            if len(turn) > 2
            else {}
        )
        for name in extras:
            if name in _MESSAGE_KEYS:
                raise BadRow(
                    f'{where} has "{name}", which ShareGPT does not define',
                    hint="read OpenAI-style messages with the openai_chat format",
                )
        if list(turn) != [d.role, d.content, *extras]:
            state.turn_keys[key] = list(turn)
        if role == "function_call":
            try:
                calls = parse_calls(value)
            except BadRow as e:
                raise BadRow(f"{where}: {e.message}", hint=e.hint) from None
            if dump_calls(calls) != value:
                state.raw_calls[key] = value
            tool_calls = []
            for name, arguments in calls:
                call_id = f"call_{state.calls}"
                state.calls += 1
                state.pending.append(call_id)
                tool_calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                )
            return {"role": "assistant", "tool_calls": tool_calls, **extras}
        if role == "observation":
            message = {"role": "tool", "content": value}
            if state.pending:
                message["tool_call_id"] = state.pending.pop(0)
            return message | extras
        return {"role": role, "content": value, **extras}

    def _order(self, present, extra: dict, system: str | None) -> list:
        order = [self.d.messages, "chosen", "rejected", "system", "tools"]
        if system != "key":
            order.remove("system")
        return [k for k in order if k in present] + list(extra)

    # writing

    def dump(self, row: Row, *, system_as: str = "turn") -> dict:
        d = self.d
        meta = convert.source_meta(row, d.name)
        tags = meta.get("tags", {})
        turns = [self._turn(row, m, str(i), meta) for i, m in enumerate(convert.chat(row))]
        obj: dict = {d.messages: turns}
        if row.system is not None:
            if meta.get("system", system_as) == "key":
                obj["system"] = row.system
            else:
                turns.insert(
                    0, {d.role: tags.get("system", d.tags["system"]), d.content: row.system}
                )
        if row.chosen is not None or row.rejected is not None:
            chosen, rejected = convert.answers(row, d.name)
            for key, messages in (("chosen", chosen), ("rejected", rejected)):
                if len(messages) != 1:
                    raise write_error(
                        row,
                        f'"{key}" has {len(messages)} messages; ShareGPT holds one turn',
                        hint="export it as messages_preference or conversational trl_preference",
                    )
                obj[key] = self._turn(row, messages[0], key, meta)
        if row.tools is not None:
            obj["tools"] = write_tools(row.tools, meta.get("tools", {}))
        convert.add_extra(row, obj, d.known)
        default = self._order(obj.keys(), row.extra, "key" if "system" in obj else None)
        return ordered({k: obj[k] for k in default}, meta.get("keys"))

    def _turn(self, row: Row, message: dict, key: str, meta: dict) -> dict:
        d = self.d
        role = message.get("role")
        where = f"message {key}" if key.isdigit() else f'"{key}"'
        content = message.get("content")
        if role == "assistant" and message.get("tool_calls"):
            if content:
                raise write_error(
                    row,
                    f"{where} has both text and tool calls, which ShareGPT keeps in separate turns",
                    hint="split it into a text answer and a tool call, or export as openai_chat",
                )
            calls = calls_of(message)
            if calls is None:
                raise write_error(
                    row,
                    f"{where} has a malformed tool call",
                    hint="give each tool call a function name and arguments",
                )
            raw = meta.get("calls", {}).get(key)
            value = raw if raw is not None and _same_calls(raw, calls) else dump_calls(calls)
            tag_role = "function_call"
        elif role in ("user", "assistant", "system", "tool"):
            if type(content) is not str:
                raise write_error(
                    row,
                    f"{where} ({role}) has no text content",
                    hint="ShareGPT turns hold text only; export as openai_chat",
                )
            value = content
            tag_role = "observation" if role == "tool" else role
        else:
            raise write_error(
                row,
                f"{where} has the role {role!r}, which ShareGPT cannot hold",
                hint="use system, user, assistant or tool",
            )
        tag = meta.get("turn_tags", {}).get(key)
        if _ROLE_OF_TAG.get(tag) != tag_role:
            tag = meta.get("tags", {}).get(tag_role, d.tags[tag_role])
        turn = {d.role: tag, d.content: value}
        for name, v in message.items():
            if name not in _MESSAGE_KEYS:
                if name in turn:
                    raise write_error(
                        row,
                        f'{where} has a field "{name}" that clashes with a ShareGPT key',
                        hint=f'rename "{name}"',
                    )
                turn[name] = v
        return ordered(turn, meta.get("turn_keys", {}).get(key))

    def read(self, stream: IO[str], *, on_bad_row: jsonio.OnBadRow | None = None) -> Iterator[Row]:
        return jsonio.read_rows(stream, self.parse, on_bad_row=on_bad_row)

    def write(
        self, rows: Iterable[Row], stream: IO[str], *, array: bool = False, system_as: str = "turn"
    ) -> jsonio.Written:
        return jsonio.write_objects(
            (self.dump(r, system_as=system_as) for r in rows), stream, array=array
        )


@dataclass
class _ReadState:
    calls: int = 0
    pending: list = field(default_factory=list)  # ids of calls still awaiting a result
    seen: dict = field(default_factory=dict)  # role -> the first tag used for it
    tags: dict = field(default_factory=dict)
    turn_tags: dict = field(default_factory=dict)
    turn_keys: dict = field(default_factory=dict)
    raw_calls: dict = field(default_factory=dict)


def _same_calls(raw: str, calls: list[tuple[str, str]]) -> bool:
    try:
        return parse_calls(raw) == calls
    except BadRow:
        return False


_codec = Codec(SHAREGPT)
parse = _codec.parse
dump = _codec.dump
read = _codec.read
write = _codec.write
