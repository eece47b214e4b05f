"""Prompt-template text, export only: `{"text": ...}` per row, for plain causal-LM training.

The template is a `str.format` string over {system}, {instruction}, {input}, {response} and
{tools} (the row's tools as JSON, "" when none). The default is the seed's layout; a first
line that is just "{system}" is left out when the row has no system prompt.

Rows are flattened like this: for instruction rows, `input` is the history (as "user: …" /
"assistant: …" lines) followed by the row's input. For conversations, `instruction` is the
last user message, `input` the transcript before it and `response` everything after it:
assistant text as is, tool calls as {"name", "arguments"} JSON lines, tool results as
"tool: …" lines. For preference rows the response is the chosen answer.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from typing import IO

from . import convert, jsonio
from .base import FormatError, Row, write_error

NAME = "template_text"
CAPABILITIES = ("write",)
DEFAULT_TEMPLATE = (
    "{system}\n### instruction\n{instruction}\n### input\n{input}\n### response\n{response}"
)
PLACEHOLDERS = ("system", "instruction", "input", "response", "tools")


def check_template(template: str) -> None:
    """Raise FormatError for a template with unknown or malformed placeholders."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise FormatError(
            0, f"the template is malformed ({e})", hint="write braces as {{ and }}"
        ) from None
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        raise FormatError(
            0,
            f"the template uses {{{unknown[0]}}}, which is not a placeholder",
            hint="use " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS),
        )


def _say(message: dict) -> str:
    if message.get("tool_calls"):
        calls = []
        for call in message["tool_calls"]:
            function = call.get("function", {}) if type(call) is dict else {}
            arguments = function.get("arguments", "")
            try:
                arguments = json.loads(arguments) if type(arguments) is str else arguments
            except json.JSONDecodeError:
                pass
            calls.append(jsonio.dumps({"name": function.get("name"), "arguments": arguments}))
        text = "\n".join(calls)
        return f"{message['content']}\n{text}" if message.get("content") else text
    content = message.get("content")
    return content if type(content) is str else jsonio.dumps(content)


def _transcript(messages: list[dict]) -> str:
    return "\n".join(f"{m.get('role')}: {_say(m)}" for m in messages)


def fields(row: Row) -> dict[str, str]:
    """The placeholder values for a row."""
    tools = jsonio.dumps(row.tools) if row.tools else ""
    if row.chosen is not None:
        chosen, _ = convert.answers(row, NAME)
        answer = chosen
    else:
        answer = None
    if row.kind != "conversation":
        history = [
            {"role": r, "content": t}
            for q, a in row.history or ()
            for r, t in (("user", q), ("assistant", a))
        ]
        context = "\n".join(filter(None, [_transcript(history), row.input or ""]))
        response = (
            _transcript(answer)
            if answer and len(answer) > 1
            else (answer[0].get("content") if answer else row.output)
        )
        if row.instruction is None or response is None:
            raise write_error(
                row, "the row has no instruction or no answer", hint="fill both before exporting"
            )
        return {
            "system": row.system or "",
            "instruction": row.instruction,
            "input": context,
            "response": response,
            "tools": tools,
        }
    messages = list(row.messages or ())
    if answer:
        messages += answer
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if last_user is None or last_user == len(messages) - 1:
        raise write_error(
            row,
            "the conversation has no user message followed by an answer",
            hint="add the answer before exporting",
        )
    after = messages[last_user + 1 :]
    response = "\n".join(
        _say(m) if m.get("role") == "assistant" else f"{m.get('role')}: {_say(m)}" for m in after
    )
    return {
        "system": row.system or "",
        "instruction": _say(messages[last_user]),
        "input": _transcript(messages[:last_user]),
        "response": response,
        "tools": tools,
    }


def render(row: Row, template: str = DEFAULT_TEMPLATE) -> str:
    values = fields(row)
    if not values["system"] and template.startswith("{system}\n"):
        template = template[len("{system}\n") :]
    return template.format_map(values)


def write(
    rows: Iterable[Row], stream: IO[str], *, template: str = DEFAULT_TEMPLATE, array: bool = False
) -> jsonio.Written:
    check_template(template)
    return jsonio.write_objects(({"text": render(r, template)} for r in rows), stream, array=array)
