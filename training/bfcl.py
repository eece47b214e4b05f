"""The Berkeley Function Calling Leaderboard (BFCL) as a yardstick for tool calling.

BFCL's data ships in the `bfcl-eval` wheel (Apache 2.0), installed with `--no-deps`
(requirements-nodeps.txt): its declared dependencies pin numpy 1.26 and a dozen provider SDKs,
and its checker module imports all of them through its model table, so Tunedesk neither imports
the package nor depends on its code. It reads the data files (questions and `possible_answer`)
from the installed folder and scores calls by BFCL's documented AST rules, re-stated here; a
test (tests/training/test_bfcl.py) holds this module to BFCL's own checker on every case of the
three categories below, for the reference answers and for systematic corruptions of them.

BFCL's rules for one call (Python categories `simple`, `multiple`, `live_simple`):
- exactly one call (for `multiple`: one call, checked against the function the answer names);
- the function name matches exactly;
- every required parameter is present, and no parameter is given that the function or the
  possible answer does not know;
- each value has the declared type (`integer`, `float`, `string`, `boolean`, `array`, `tuple`,
  `dict`, `any`), with Python's int -> float allowance (no float -> int, no "5" for 5);
- each value is one of the possible answer's values; strings compare after BFCL's
  `standardize_string` (lower case, the characters ` ,./-_*^` removed, ' -> "), also inside
  lists and dicts; an optional parameter (its possible values include "") may be left out.

How Tunedesk's own tool-call metrics (`training/metrics.py`) differ, by design, is in
ARCHITECTURE.md and shown by the agreement test: they score against one reference answer (no
alternatives), read numeric strings as numbers and ignore all Unicode punctuation and spaces in
strings (Chinese data), and compare numbers by value whatever the declared type.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.metrics import Answer, parse_calls

# Tunedesk's name for a category -> BFCL's file stem.
CATEGORIES = {
    "simple": "BFCL_v4_simple_python",
    "multiple": "BFCL_v4_multiple",
    "live_simple": "BFCL_v4_live_simple",
}

_PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
# BFCL's own parameter types -> JSON Schema, so the functions can be offered as OpenAI tools.
_JSON_TYPES = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "any": None,
}


class BfclUnavailable(RuntimeError):
    """The BFCL data files are not installed."""


@dataclass(frozen=True)
class Case:
    id: str
    messages: list[dict]  # the question's first turn, chat messages
    functions: list[dict]  # BFCL's function descriptions
    possible: dict[str, dict[str, list]]  # the one expected call: {name: {param: [accepted]}}

    @property
    def tools(self) -> list[dict]:
        """The functions as OpenAI tools, with JSON Schema types."""
        return [{"type": "function", "function": _json_schema(fn)} for fn in self.functions]

    def reference(self) -> list[dict] | None:
        """One answer BFCL accepts: the first possible value of each parameter (inside dicts
        too), optional ones (whose first value is "") left out; None where a parameter has no
        possible value at all (a few live cases: nothing can pass them)."""
        ((name, params),) = self.possible.items()
        if any(not values for values in params.values()):
            return None
        function = next(fn for fn in self.functions if fn["name"] == name)
        required = set(function["parameters"].get("required", []))
        # A required parameter whose listed values start with "" (one case) takes its first
        # real value.
        params = {
            k: [v for v in values if v != ""] or values if k in required else values
            for k, values in params.items()
        }
        return [{"name": name, "arguments": _first_of_each(params)}]


@dataclass(frozen=True)
class Verdict:
    valid: bool
    error: str = ""  # BFCL's error kind, e.g. "wrong_func_name", "type_error", "value_error"


def data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")  # finds the folder without importing it
    if spec is None or not spec.submodule_search_locations:
        raise BfclUnavailable(
            "BFCL's data is not installed. Fix: pip install --no-deps -r requirements-nodeps.txt"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load(category: str, *, limit: int | None = None, seed: int = 0) -> list[Case]:
    """The cases of one category, in file order; with `limit`, a seeded sample of that many."""
    if category not in CATEGORIES:
        known = ", ".join(CATEGORIES)
        raise ValueError(f'unknown BFCL category "{category}". Fix: use one of {known}')
    stem = CATEGORIES[category]
    root = data_dir()
    answers = {
        row["id"]: row["ground_truth"] for row in _jsonl(root / "possible_answer" / f"{stem}.json")
    }
    cases = [
        Case(
            id=row["id"],
            messages=row["question"][0],
            functions=row["function"],
            possible=answers[row["id"]][0],
        )
        for row in _jsonl(root / f"{stem}.json")
    ]
    if limit is not None and limit < len(cases):
        picked = sorted(random.Random(seed).sample(range(len(cases)), limit))
        cases = [cases[i] for i in picked]
    return cases


def check(case: Case, answer: Answer) -> Verdict:
    """Is `answer` (text or tool calls, as metrics.parse_calls reads them) right by BFCL's rules?"""
    calls = parse_calls(answer)
    if len(calls) != 1:
        return Verdict(False, "wrong_count")
    call = calls[0]
    if call.arguments is None:
        return Verdict(False, "bad_json")
    ((name, possible),) = case.possible.items()
    function = next((fn for fn in case.functions if fn["name"] == name), None)
    if function is None or call.name != name:
        return Verdict(False, "wrong_func_name")
    details = function["parameters"].get("properties", {})
    for param in function["parameters"].get("required", []):
        if param not in call.arguments:
            return Verdict(False, "missing_required")
    for param, value in call.arguments.items():
        if param not in details or param not in possible:
            return Verdict(False, "unexpected_param")
        error = _check_value(details[param], value, possible[param])
        if error:
            return Verdict(False, error)
    for param, values in possible.items():
        if param not in call.arguments and "" not in values:
            return Verdict(False, "missing_optional")
    return Verdict(True)


def standardize(text: str) -> str:
    """BFCL's `standardize_string`."""
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def _check_value(detail: Mapping, value: Any, possible: list) -> str:
    declared = detail["type"]
    expected = _PYTHON_TYPES[declared]
    if declared == "float" and type(value) is int:  # Python's int -> float allowance
        value = float(value)
    answer_type = _answer_type(possible)
    # BFCL treats a value of the possible answers' type (when that differs from the declared
    # one) as a variable name, compared as it is.
    variable = answer_type is not None and answer_type is not expected
    if type(value) is not expected:
        if answer_type is not None and type(value) is answer_type:
            variable = True
        else:
            return "type_error"
    elif declared in ("array", "tuple"):
        # BFCL checks one level deep: each item has the declared item type, or the type of the
        # option's own items; an option that is not a list ("" for optional) passes.
        inner = _PYTHON_TYPES[detail["items"]["type"]]
        if not any(
            not isinstance(option, list)
            or all(type(item) in (inner, _answer_type(option)) for item in value)
            for option in possible
        ):
            return "type_error"
    if not variable:
        if expected is dict:
            return "" if _dict_ok(value, possible) else "value_error"
        if expected is list and detail.get("items", {}).get("type") == "dict":
            return "" if _list_of_dicts_ok(value, possible) else "value_error"
        if expected is str:
            accepted = [standardize(v) for v in possible if isinstance(v, str)]
            return "" if standardize(value) in accepted else "value_error"
        if expected is list:
            accepted = [[_std(item) for item in option] for option in possible if option != ""]
            return "" if [_std(item) for item in value] in accepted else "value_error"
    return "" if value in possible else "value_error"


def _first_of_each(options: Mapping[str, list]) -> dict:
    return {k: _concrete(values[0]) for k, values in options.items() if values[0] != ""}


def _concrete(option: Any) -> Any:
    """A possible value as a call would write it: dicts in possible answers list each key's
    accepted values."""
    if isinstance(option, dict):
        return _first_of_each(option)
    if isinstance(option, list):
        return [_concrete(item) if isinstance(item, dict) else item for item in option]
    return option


def _answer_type(values: Sequence) -> type | None:
    return next((type(v) for v in values if v != ""), None)


def _std(value: Any) -> Any:
    return standardize(value) if isinstance(value, str) else value


def _dict_ok(value: Mapping, options: Sequence) -> bool:
    for option in options:
        if option == "":
            continue
        if all(
            key in option and _std(item) in [_std(v) for v in option[key]]
            for key, item in value.items()
        ) and all(key in value or "" in accepted for key, accepted in option.items()):
            return True
    return False


def _list_of_dicts_ok(value: Sequence, options: Sequence) -> bool:
    return any(
        option != ""
        and len(value) == len(option)
        and all(_dict_ok(item, [want]) for item, want in zip(value, option, strict=True))
        for option in options
    )


def _json_schema(function: Mapping) -> dict:
    def convert(schema: Any) -> Any:
        if not isinstance(schema, Mapping):
            return schema
        out = {k: convert(v) for k, v in schema.items() if k not in ("type", "properties")}
        if "type" in schema:
            kind = _JSON_TYPES.get(schema["type"], schema["type"])
            if kind:
                out["type"] = kind
        if "properties" in schema:
            out["properties"] = {k: convert(v) for k, v in schema["properties"].items()}
        return out

    return {**function, "parameters": convert(function.get("parameters") or {})}


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]
