"""Messages and tools as people read them: tool calls as calls, tool results as results.

Pages (upload preview, editor, review) show a conversation through these plain dicts rather
than walking raw message JSON in templates, so every tool shape a file may carry — OpenAI's
`{"type": "function", "function": {...}}` and the bare `{"name", "parameters"}` — and every
spelling of arguments (an object or a JSON string) reads the same. Pure: no Django.
"""

from __future__ import annotations

import json

from curation import record_content


def tool_name(tool) -> str:
    """The name of a tool schema or a tool call, whichever shape it has."""
    name = record_content.call_parts(tool)[0]
    return name if isinstance(name, str) else "" if name is None else str(name)


def tool_names(tools) -> list[str]:
    return [tool_name(t) for t in tools or [] if tool_name(t)]


def pretty_json(value, *, indent: int | None = 2) -> str:
    """A JSON value (or text holding one) indented for reading; other text as it is."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, ValueError):
            return value
        if isinstance(value, str):
            return value
    return json.dumps(value, ensure_ascii=False, indent=indent)


def shown_call(call, *, indent: int | None = 2) -> dict:
    _name, arguments = record_content.call_parts(call)
    return {
        "id": call.get("id", "") if isinstance(call, dict) else "",
        "name": tool_name(call),
        "arguments": pretty_json({} if arguments is None else arguments, indent=indent),
    }


def shown_messages(messages, *, indent: int | None = 2) -> list[dict]:
    """Each message as {role, content, calls, result_of}: a tool result names the call (and
    tool) it answers, found through `tool_call_id` or, failing that, the latest call."""
    names: dict[str, str] = {}
    last_call = ""
    shown = []
    for message in messages or []:
        if not isinstance(message, dict):
            shown.append({"role": "?", "content": str(message), "calls": [], "result_of": ""})
            continue
        role = message.get("role", "")
        calls = [
            shown_call(c, indent=indent)
            for c in message.get("tool_calls") or []
            if isinstance(c, dict)
        ]
        for call in calls:
            names[call["id"]] = call["name"]
            last_call = call["name"]
        content = message.get("content")
        if not isinstance(content, str):
            content = "" if content is None else json.dumps(content, ensure_ascii=False)
        result_of = ""
        if role in ("tool", "function", "observation"):
            call_id = message.get("tool_call_id", "")
            result_of = names.get(call_id) or message.get("name") or last_call
            content = pretty_json(content, indent=indent)
        shown.append({"role": role, "content": content, "calls": calls, "result_of": result_of})
    return shown


def shown_row(row) -> dict:
    """A parsed file row (formats.Row) for the upload preview."""
    return {
        "row": row,
        "messages": shown_messages(row.messages, indent=None),
        "chosen": shown_messages(row.chosen, indent=None),
        "rejected": shown_messages(row.rejected, indent=None),
        "tools": tool_names(row.tools),
    }
