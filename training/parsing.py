"""Read a model's answer back into a record: plain text, tool calls, or flagged as unparseable.

Tool calls are recognised as, in order: OpenAI `tool_calls` from an HTTP backend (arguments a
JSON string), `<tool_call>{...}</tool_call>` blocks (one or several; a missing closing tag at
the end is tolerated), a ```json fenced block, or a bare JSON object/array at the start of
the answer, each with `name` and `arguments`. Arguments given as a JSON string (double
encoded) are decoded. With `tools`, calls are checked against the schemas (unknown tool,
missing required argument, wrong type, ...): schema problems are listed but the calls are
kept. An answer that tries to call a tool but cannot be read is `unparseable`: its text is
kept verbatim and whatever calls could be read are kept too, so nothing is ever dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from training.prompting import function_specs

Kind = Literal["tool_calls", "text", "unparseable"]

_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|$)", re.DOTALL)
_FENCE = re.compile(r"```([A-Za-z_]*)[ \t]*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


@dataclass
class Parsed:
    """kind, the text (verbatim for text and unparseable answers; what surrounds the calls
    otherwise), the calls as `{"name", "arguments": dict}`, and every problem found.
    schema_valid is None when no tool schemas were given."""

    kind: Kind
    text: str
    tool_calls: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    schema_valid: bool | None = None

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "text": self.text,
            "tool_calls": self.tool_calls,
            "problems": self.problems,
            "schema_valid": self.schema_valid,
        }


def parse_output(
    text: str | None, *, tool_calls: list | None = None, tools: list | str | None = None
) -> Parsed:
    text = text or ""
    problems: list[str] = []
    if tool_calls:
        calls = [_openai_call(c, i, problems) for i, c in enumerate(tool_calls, 1)]
        parsed = Parsed("tool_calls", text.strip(), [c for c in calls if c], problems)
        if len(parsed.tool_calls) < len(tool_calls):
            parsed.kind, parsed.text = "unparseable", text
    else:
        parsed = _parse_text(text)
    if tools is not None and parsed.tool_calls:
        parsed.schema_valid = _check_schemas(parsed.tool_calls, tools, parsed.problems)
    return parsed


def _parse_text(text: str) -> Parsed:
    problems: list[str] = []
    blocks = list(_BLOCK.finditer(text))
    if blocks:
        calls = []
        for n, block in enumerate(blocks, 1):
            where = f"tool call {n}"
            if not block.group(0).endswith("</tool_call>"):
                problems.append(f"{where}: no closing </tool_call> (the answer may be cut off)")
            calls += _calls_from_json(block.group(1), where, problems)
        outside = _BLOCK.sub("", text).strip()
        ok = calls and not any(": not JSON" in p or ": no name" in p for p in problems)
        return Parsed(
            "tool_calls" if ok else "unparseable", outside if ok else text, calls, problems
        )
    for fence in _FENCE.finditer(text):
        lang, body = fence.group(1).lower(), fence.group(2)
        if lang not in ("", "json", "tool_call"):
            continue
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            if lang == "tool_call":
                problems.append(f"fenced tool call: not JSON ({exc.msg} at char {exc.pos})")
                return Parsed("unparseable", text, [], problems)
            continue
        if _looks_like_calls(value):
            calls = _calls_from_value(value, "fenced tool call", problems)
            return Parsed("tool_calls", _FENCE.sub("", text, count=1).strip(), calls, problems)
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            value, end = _DECODER.raw_decode(stripped)
        except json.JSONDecodeError as exc:
            if re.match(r'^[\[{]\s*"name"\s*:', stripped):  # clearly a call, cut or broken
                problems.append(f"bare JSON tool call: not JSON ({exc.msg} at char {exc.pos})")
                return Parsed("unparseable", text, [], problems)
            return Parsed("text", text)
        if _looks_like_calls(value):
            calls = _calls_from_value(value, "bare JSON tool call", problems)
            return Parsed("tool_calls", stripped[end:].strip(), calls, problems)
    return Parsed("text", text)


def _looks_like_calls(value: Any) -> bool:
    """A call object ({name, arguments|parameters} or OpenAI {function: ...}) or a list of them;
    JSON that is merely an answer (e.g. {"name": "John", "age": 3}) is not."""
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(
        isinstance(item, dict)
        and (
            isinstance(item.get("function"), dict)
            or (isinstance(item.get("name"), str) and ("arguments" in item or "parameters" in item))
        )
        for item in items
    )


def _calls_from_json(raw: str, where: str, problems: list[str]) -> list[dict]:
    raw = raw.strip()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        try:  # a valid object followed by stray characters (e.g. an extra "}")
            value, end = _DECODER.raw_decode(raw)
        except json.JSONDecodeError:
            problems.append(f"{where}: not JSON ({exc.msg} at char {exc.pos})")
            return []
        problems.append(f"{where}: extra text after the JSON: {raw[end:].strip()[:40]!r}")
    return _calls_from_value(value, where, problems)


def _calls_from_value(value: Any, where: str, problems: list[str]) -> list[dict]:
    items = value if isinstance(value, list) else [value]
    calls = []
    for n, item in enumerate(items, 1):
        label = f"{where}.{n}" if isinstance(value, list) else where
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]  # an OpenAI-shaped call written out as text
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append(f"{label}: no name")
            continue
        if "arguments" in item:
            raw_arguments = item["arguments"]
        elif "parameters" in item:
            problems.append(f"{label}: 'parameters' used instead of 'arguments'")
            raw_arguments = item["parameters"]
        else:
            problems.append(f"{label}: no arguments")
            raw_arguments = {}
        extra = sorted(set(item) - {"name", "arguments", "parameters", "id", "type"})
        if extra:
            problems.append(f"{label}: unexpected keys beside name and arguments: {extra}")
        arguments = _arguments(raw_arguments, label, problems, double_encoded_is_problem=True)
        calls.append({"name": item["name"], "arguments": arguments})
    return calls


def _openai_call(call: Any, n: int, problems: list[str]) -> dict | None:
    function = call.get("function") if isinstance(call, dict) else None
    function = function if isinstance(function, dict) else call
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        problems.append(f"tool call {n}: no name")
        return None
    raw = function.get("arguments", {})
    arguments = _arguments(raw, f"tool call {n}", problems, double_encoded_is_problem=False)
    return {"name": function["name"], "arguments": arguments}


def _arguments(raw: Any, label: str, problems: list[str], *, double_encoded_is_problem: bool):
    """Arguments as a dict. A JSON string is decoded (twice if it was encoded twice)."""
    value, decoded = raw, 0
    while isinstance(value, str) and decoded < 2:
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            problems.append(f"{label}: arguments are not JSON ({exc.msg})")
            return {}
        decoded += 1
    if decoded > (0 if double_encoded_is_problem else 1):
        problems.append(f"{label}: arguments were a JSON string inside JSON (double encoded)")
    if not isinstance(value, dict):
        problems.append(f"{label}: arguments are {type(value).__name__}, not an object")
        return {}
    return value


def _check_schemas(calls: list[dict], tools: list | str, problems: list[str]) -> bool:
    from jsonschema import SchemaError, validators

    specs = {spec["name"]: spec for spec in function_specs(tools)}
    valid = True
    for call in calls:
        spec = specs.get(call["name"])
        if spec is None:
            problems.append(f"unknown tool {call['name']!r} (offered: {sorted(specs)})")
            valid = False
            continue
        schema = spec.get("parameters") or {"type": "object"}
        try:
            cls = validators.validator_for(schema)
            cls.check_schema(schema)
        except SchemaError as exc:
            problems.append(f"{call['name']}: the tool's schema is invalid ({exc.message})")
            continue
        for error in sorted(cls(schema).iter_errors(call["arguments"]), key=str):
            path = ".".join(str(p) for p in error.absolute_path)
            problems.append(f"{call['name']}{'.' + path if path else ''}: {error.message}")
            valid = False
        known = set((schema.get("properties") or {}).keys())
        invented = sorted(set(call["arguments"]) - known) if known else []
        if invented:
            problems.append(f"{call['name']}: arguments not in the schema: {invented}")
    return valid
