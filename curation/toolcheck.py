"""Check tool calls against tool schemas (jsonschema); pure, no Django.

Tools may be OpenAI-shaped ({"type": "function", "function": {name, description,
parameters}}), glaive/LLaMA-Factory-shaped ({name, description, parameters}), or a JSON string
of either. Problems say what (code), where (message, tool, argument path) and how to fix it.
"""

from __future__ import annotations

import json
import re
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


# --- tool definitions ------------------------------------------------------------------------

#: OpenAI's rule for function names.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolError:
    """A problem with one tool definition: which tool (index), which field, what (code, with
    `detail` for a translated message), and how to fix it."""

    index: int
    field: str  # "tool", "name", "description", "parameters"
    code: str  # not_object, bad_type, bad_name, duplicate_name, not_text, parameters_not_object,
    # parameters_not_object_type, bad_schema
    message: str
    hint: str = ""
    detail: dict = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return f"tool {self.index + 1}, {self.field}: {self.message}. Fix: {self.hint}."


def openai_tool(tool: dict) -> dict:
    """A tool in the OpenAI shape ({"type": "function", "function": {...}}), bare ones wrapped."""
    if isinstance(tool, dict) and tool.get("type") == "function" and "function" in tool:
        return tool
    return {"type": "function", "function": tool}


def check_tool_definitions(tools: object) -> list[ToolError]:
    """Problems with a list of tool definitions: the OpenAI tools shape (a name, an optional
    description, parameters that are an object schema) and each schema against the JSON Schema
    meta-schema. Bare tools ({name, parameters}) are accepted; `openai_tool` wraps them."""
    if not isinstance(tools, list):
        kind = kind_of(tools)
        return [
            ToolError(
                0, "tool", "not_list", f"the tools are {kind}", "give a JSON array", {"kind": kind}
            )
        ]
    errors: list[ToolError] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(openai_tool(tool)["function"], dict):
            kind = kind_of(tool if not isinstance(tool, dict) else tool["function"])
            errors.append(
                ToolError(
                    i, "tool", "not_object", f"it is {kind}", "give a JSON object", {"kind": kind}
                )
            )
            continue
        if "type" in tool and tool["type"] != "function":
            errors.append(
                ToolError(
                    i,
                    "tool",
                    "bad_type",
                    f'"type" is {json.dumps(tool["type"], ensure_ascii=False)}',
                    'use "type": "function"',
                )
            )
            continue
        errors += _check_function(i, openai_tool(tool)["function"], seen)
    return errors


def _check_function(i: int, function: dict, seen: set[str]) -> list[ToolError]:
    errors = []
    name = function.get("name")
    shown = json.dumps(name, ensure_ascii=False)
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        errors.append(
            ToolError(
                i,
                "name",
                "bad_name",
                f"{shown} is not a tool name",
                "use 1 to 64 letters, digits, _ or -",
                {"name": shown},
            )
        )
    elif name in seen:
        errors.append(
            ToolError(
                i,
                "name",
                "duplicate_name",
                f"{shown} is defined twice",
                "rename or remove one",
                {"name": shown},
            )
        )
    else:
        seen.add(name)
    if not isinstance(function.get("description", ""), str):
        errors.append(
            ToolError(i, "description", "not_text", "it is not text", "write it as a string")
        )
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict):
        kind = kind_of(parameters)
        errors.append(
            ToolError(
                i,
                "parameters",
                "parameters_not_object",
                f"the parameters are {kind}",
                'give a JSON Schema object, e.g. {"type": "object", "properties": {}}',
                {"kind": kind},
            )
        )
        return errors
    if parameters.get("type", "object") != "object":
        got = json.dumps(parameters.get("type"), ensure_ascii=False)
        errors.append(
            ToolError(
                i,
                "parameters",
                "parameters_not_object_type",
                f'the schema\'s "type" is {got}, not "object"',
                'arguments are a JSON object: use "type": "object" with "properties"',
                {"type": got},
            )
        )
    try:
        validators.validator_for(parameters).check_schema(parameters)
    except schema_errors.SchemaError as e:
        at = "/".join(map(str, e.absolute_path))
        errors.append(
            ToolError(
                i,
                "parameters",
                "bad_schema",
                f"not a valid JSON Schema{f' at {at}' if at else ''}: {e.message}",
                "correct the schema (see json-schema.org)",
                {"at": at, "error": e.message},
            )
        )
    return errors
