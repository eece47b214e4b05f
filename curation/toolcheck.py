"""Check tool calls against tool schemas (jsonschema); pure, no Django.

Tools may be OpenAI-shaped ({"type": "function", "function": {name, description,
parameters}}), glaive/LLaMA-Factory-shaped ({name, description, parameters}), or a JSON string
of either. Problems say what (code), where (message, tool, argument path) and how to fix it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from jsonschema import exceptions as schema_errors
from jsonschema import validators

from curation.formats.base import Row
from curation.formats.jsonio import kind_of, loads


@dataclass(frozen=True)
class Problem:
    code: str  # unknown_tool, bad_json, arguments_not_object, arguments_double_encoded, ...
    message: str
    hint: str = ""
    where: str = ""  # "message 3", "chosen 0"
    tool: str | None = None
    path: str = ""  # the argument, e.g. "items/0/price"
    # What a translated message needs besides the fields above (curation.answers uses it).
    detail: dict = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return f"{self.message}. Fix: {self.hint.rstrip('.')}." if self.hint else f"{self.message}."


def tool_parameters(tools: list | str | None) -> dict[str, dict | None]:
    """Each tool's name mapped to its parameters schema (None when it has none)."""
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else []
    found: dict[str, dict | None] = {}
    for tool in tools or ():
        if not isinstance(tool, dict):
            continue
        function = tool.get("function") if tool.get("type") == "function" else tool
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            found[function["name"]] = function.get("parameters")
    return found


def _groups(messages_or_row: Row | list[dict]) -> list[tuple[str, list[dict]]]:
    if isinstance(messages_or_row, Row):
        row = messages_or_row
        return [
            (label, ms)
            for label, ms in (
                ("message", row.messages),
                ("chosen", row.chosen),
                ("rejected", row.rejected),
            )
            if ms
        ]
    return [("message", messages_or_row)]


def check_tool_calls(
    messages_or_row: Row | list[dict], tools: list | str | None = None
) -> list[Problem]:
    """Problems with the tool calls in messages (or a Row's messages, chosen and rejected).

    `tools` defaults to the row's own tools.
    """
    if tools is None and isinstance(messages_or_row, Row):
        tools = messages_or_row.tools
    schemas = tool_parameters(tools)
    checkers: dict[str, object] = {}
    problems: list[Problem] = []
    for label, messages in _groups(messages_or_row):
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") != "assistant":
                continue
            for call in message.get("tool_calls") or ():
                problems += _check_call(f"{label} {i}", call, schemas, checkers)
    return problems


def _check_call(where: str, call: object, schemas: dict, checkers: dict) -> list[Problem]:
    function = call.get("function") if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        return [
            Problem(
                "bad_call",
                f"{where}: a tool call has no function name",
                "give every tool call a function name",
                where,
            )
        ]
    if name not in schemas:
        known = ", ".join(f'"{n}"' for n in schemas) or "none are defined"
        return [
            Problem(
                "unknown_tool",
                f'{where} calls "{name}", which is not one of the tools ({known})',
                "call a defined tool, or add this tool to the tool schemas",
                where,
                name,
                detail={"known": list(schemas)},
            )
        ]
    arguments = function.get("arguments")
    said = f'{where}: the arguments of "{name}"'
    if isinstance(arguments, str):
        try:
            arguments = loads(arguments)
        except json.JSONDecodeError as e:
            return [
                Problem(
                    "bad_json",
                    f"{said} are not valid JSON ({e.msg})",
                    "write the arguments as a JSON object",
                    where,
                    name,
                    detail={"error": e.msg},
                )
            ]
        if isinstance(arguments, str):
            try:
                inner = loads(arguments)
            except json.JSONDecodeError:
                inner = None
            if isinstance(inner, dict):
                double = Problem(
                    "arguments_double_encoded",
                    f"{said} are a JSON object encoded twice (a JSON string holding JSON)",
                    'store the object once: {"a": 1}, not "{\\"a\\": 1}"',
                    where,
                    name,
                )
                return [double, *_check_schema(where, name, inner, schemas[name], checkers)]
    if not isinstance(arguments, dict):
        return [
            Problem(
                "arguments_not_object",
                f"{said} are {kind_of(arguments)}, not a JSON object",
                "give the arguments as a JSON object of parameter names and values",
                where,
                name,
                detail={"kind": kind_of(arguments)},
            )
        ]
    return _check_schema(where, name, arguments, schemas[name], checkers)


_HINTS = {
    "required": lambda e: "fill in the required argument",
    "type": lambda e: f"give it the type {e.validator_value}",
    "enum": lambda e: (
        "use one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in e.validator_value)
    ),
    "additionalProperties": lambda e: "remove the argument the tool does not define",
}


def _check_schema(
    where: str, name: str, arguments: dict, schema: dict | None, checkers: dict
) -> list[Problem]:
    if not isinstance(schema, dict):
        return []
    checker = checkers.get(name)
    try:
        if checker is None:
            cls = validators.validator_for(schema)
            cls.check_schema(schema)
            checker = checkers[name] = cls(schema)
        errors = sorted(
            checker.iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path))
        )
    except schema_errors.SchemaError as e:
        return [
            Problem(
                "bad_schema",
                f'the schema of tool "{name}" is invalid ({e.message})',
                "correct the tool schema",
                where,
                name,
                detail={"error": e.message},
            )
        ]
    problems = []
    for error in errors:
        path = "/".join(map(str, error.absolute_path))
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = f"{path}/{missing}".lstrip("/")
        at = f" {path}" if path else ""
        problems.append(
            Problem(
                "schema_violation",
                f'{where}: argument{at} of "{name}": {error.message} ({error.validator})',
                _HINTS.get(error.validator, lambda e: "make the arguments match the tool schema")(
                    error
                ),
                where,
                name,
                path,
                detail={
                    "error": error.message,
                    "validator": error.validator,
                    "expected": error.validator_value
                    if error.validator in ("type", "enum")
                    else None,
                },
            )
        )
    return sorted(problems, key=lambda p: p.path)
