"""Tunedesk's tool-call scoring held against BFCL's own AST checker.

Every case of BFCL's `simple`, `multiple` and `live_simple` categories is answered with its
reference answer and with systematic changes of it; each answer is scored by BFCL's checker
(the real code from the `bfcl-eval` wheel), by `training.bfcl.check` (BFCL's rules as Tunedesk
states them) and by Tunedesk's everyday metrics (`training.metrics.tool_call_metrics` against the
reference answer). The first two must agree on every answer; the third may differ only in the
ways that are Tunedesk's by design (see `DESIGN_DIFFERENCES`).

BFCL's checker module imports its model table, which imports every provider SDK; the test puts a
stand-in model table (every model: no "." -> "_" renaming) in its place and nothing else.
"""

from __future__ import annotations

import copy
import sys
import types
from collections import Counter, defaultdict
from types import SimpleNamespace

import pytest

from training import bfcl
from training.metrics import tool_call_metrics

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("bfcl_eval") is None,
    reason="bfcl-eval is not installed (requirements-nodeps.txt)",
)

# The answers where Tunedesk's everyday metrics and BFCL differ, and why:
DESIGN_DIFFERENCES = {
    # BFCL accepts any listed value; a Tunedesk comparison has one reference answer.
    "alternative",
    # BFCL lets an optional parameter be given or left out; Tunedesk wants the reference's keys.
    "optional_given",
    # Tunedesk reads "10" as 10 (annotated data writes numbers both ways; the schema-valid rate
    # catches the type); BFCL calls it a type error.
    "number_as_string",
    # Tunedesk compares numbers by value, 5.0 == 5 for an integer parameter; BFCL wants an int.
    "float_for_int",
    # Tunedesk drops every Unicode punctuation mark and space ("“包邮”" == "包邮"); BFCL drops
    # only ` ,./-_*^`.
    "punctuation",
}


@pytest.fixture(scope="module")
def bfcl_checker():
    stand_in = types.ModuleType("bfcl_eval.constants.model_config")
    stand_in.MODEL_CONFIG_MAPPING = defaultdict(lambda: SimpleNamespace(underscore_to_dot=False))
    saved = sys.modules.get(stand_in.__name__)
    sys.modules[stand_in.__name__] = stand_in
    try:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    finally:
        if saved is None:
            sys.modules.pop(stand_in.__name__)
        else:
            sys.modules[stand_in.__name__] = saved

    def check(case: bfcl.Case, category: str, answer) -> bool:
        if isinstance(answer, str):
            return False  # BFCL's AST category: text is no call
        output = [{call["name"]: call["arguments"]} for call in answer]
        verdict = ast_checker(
            case.functions, output, [case.possible], Language.PYTHON, category, "tunedesk"
        )
        return verdict["valid"]

    return check


def _variants(case: bfcl.Case) -> dict[str, object]:
    """The reference answer and its systematic changes, by kind."""
    ref = case.reference()
    if ref is None:
        return {}
    ((name, possible),) = case.possible.items()
    args = ref[0]["arguments"]
    function = next(fn for fn in case.functions if fn["name"] == name)
    details = function["parameters"].get("properties", {})
    required = function["parameters"].get("required", [])
    out: dict[str, object] = {"reference": ref, "text": "I cannot call a tool for this."}

    def changed(**arguments) -> list[dict]:
        return [{"name": name, "arguments": arguments}]

    out["wrong_name"] = [{"name": name + "_v2", "arguments": args}]
    out["two_calls"] = ref + ref
    out["extra_argument"] = changed(**args, unexpected_flag=True)
    if required and required[0] in args:
        out["missing_required"] = changed(**{k: v for k, v in args.items() if k != required[0]})
    for key, values in possible.items():
        options = [v for v in values if v != ""]
        if key in args and len(options) > 1:
            out["alternative"] = changed(**{**args, key: options[1]})
            break
    for key, values in possible.items():
        if key not in args and "" in values and any(v != "" for v in values):
            out["optional_given"] = changed(**args, **{key: next(v for v in values if v != "")})
            break
    for key, value in args.items():
        kind = details.get(key, {}).get("type")
        if kind == "integer" and type(value) is int:
            out.setdefault("number_as_string", changed(**{**args, key: str(value)}))
            out.setdefault("float_for_int", changed(**{**args, key: float(value)}))
            out.setdefault("wrong_value", changed(**{**args, key: value + 7}))
        if kind == "float" and type(value) is float and value.is_integer():
            out.setdefault("int_for_float", changed(**{**args, key: int(value)}))
        if kind == "string" and isinstance(value, str) and value:
            out.setdefault("case_and_spaces", changed(**{**args, key: f" {value.upper()} "}))
            out.setdefault("punctuation", changed(**{**args, key: value + "!"}))
            out.setdefault("wrong_value", changed(**{**args, key: value + " zzz"}))
            out.setdefault("wrong_type", changed(**{**args, key: 12345}))
        if kind == "boolean" and type(value) is bool and (not value) not in possible[key]:
            out.setdefault("wrong_value", changed(**{**args, key: not value}))
    return out


def _ours_everyday(reference, answer) -> bool:
    example = tool_call_metrics([(reference, answer)]).examples[0]
    return bool(example.name_correct and example.arguments_exact)


@pytest.mark.parametrize("category", sorted(bfcl.CATEGORIES))
def test_tunedesk_scores_agree_with_bfcls_checker(category, bfcl_checker):
    cases = bfcl.load(category)
    assert len(cases) >= 200
    tried = Counter()
    rules_disagree = []
    everyday_disagree = Counter()
    unanswerable = sum(case.reference() is None for case in cases)
    assert unanswerable <= 5  # BFCL cases with a parameter no value can pass
    for case in cases:
        for kind, answer in _variants(case).items():
            answer_copy = copy.deepcopy(answer)  # neither scorer may change what it reads
            theirs = bfcl_checker(case, category, answer)
            rules = bfcl.check(case, answer).valid
            everyday = _ours_everyday(case.reference(), answer)
            assert answer == answer_copy
            tried[kind, theirs] += 1
            if rules != theirs:
                rules_disagree.append((case.id, kind, theirs))
            if everyday != theirs:
                everyday_disagree[kind] += 1
    summary = {f"{kind} ({'valid' if ok else 'invalid'})": n for (kind, ok), n in tried.items()}
    scored = sum(tried.values())
    print(f"\n{category}: {len(cases)} cases ({unanswerable} unanswerable), {scored} answers")
    print(f"{category}: BFCL's verdicts by kind of answer: {summary}")
    print(f"{category}: everyday metrics differ from BFCL on {dict(everyday_disagree)}")
    assert not rules_disagree, rules_disagree[:10]
    # The reference answer is right by both, every systematic error wrong by both.
    assert tried["reference", False] == 0
    for kind in ("wrong_name", "two_calls", "extra_argument", "missing_required", "text"):
        assert tried[kind, True] == 0, kind
    assert set(everyday_disagree) <= DESIGN_DIFFERENCES, everyday_disagree


def test_the_rules_accept_any_listed_value_and_optional_omissions():
    case = bfcl.Case(
        id="t",
        messages=[{"role": "user", "content": "area of a 10 by 5 triangle"}],
        functions=[
            {
                "name": "area",
                "parameters": {
                    "type": "dict",
                    "properties": {
                        "base": {"type": "float"},
                        "unit": {"type": "string"},
                        "sides": {"type": "array", "items": {"type": "integer"}},
                    },
                    "required": ["base"],
                },
            }
        ],
        possible={
            "area": {"base": [10.0], "unit": ["cm", "centimetre", ""], "sides": [[3, 4], ""]}
        },
    )
    assert bfcl.check(case, [{"name": "area", "arguments": {"base": 10}}]).valid  # int -> float
    assert bfcl.check(
        case, [{"name": "area", "arguments": {"base": 10, "unit": "Centi-metre"}}]
    ).valid
    assert bfcl.check(case, '{"name": "area"}') == bfcl.Verdict(False, "wrong_count")
    assert bfcl.check(case, [{"name": "area", "arguments": {"base": "10"}}]).error == "type_error"
    assert bfcl.check(case, [{"name": "area", "arguments": {"base": 10, "unit": "m"}}]).error == (
        "value_error"
    )
    assert bfcl.check(case, [{"name": "area", "arguments": {"unit": "cm"}}]).error == (
        "missing_required"
    )
    assert case.tools[0]["function"]["parameters"]["type"] == "object"
    assert case.tools[0]["function"]["parameters"]["properties"]["base"]["type"] == "number"


def test_load_samples_reproducibly_and_refuses_unknown_categories():
    first = [c.id for c in bfcl.load("simple", limit=20, seed=3)]
    assert first == [c.id for c in bfcl.load("simple", limit=20, seed=3)]
    assert first != [c.id for c in bfcl.load("simple", limit=20, seed=4)]
    with pytest.raises(ValueError, match="unknown BFCL category"):
        bfcl.load("parallel_java")
