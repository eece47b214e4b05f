import json

import pytest

from curation.formats import sharegpt
from curation.formats.base import Row
from curation.formats.jsonio import open_text
from curation.toolcheck import check_tool_calls, tool_parameters

STOCK = {
    "name": "check_stock",
    "description": "查询库存",
    "parameters": {
        "type": "object",
        "properties": {
            "product": {"type": "string"},
            "count": {"type": "integer"},
            "unit": {"enum": ["件", "箱"]},
        },
        "required": ["product"],
    },
}
OPENAI_TOOLS = [{"type": "function", "function": STOCK}]


def call(name, arguments):
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return [
        {"role": "user", "content": "有货吗"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": name, "arguments": args}}
            ],
        },
    ]


@pytest.mark.parametrize("tools", [OPENAI_TOOLS, [STOCK], json.dumps([STOCK])])
def test_a_valid_call_has_no_problems_in_any_tool_shape(tools):
    assert (
        check_tool_calls(call("check_stock", {"product": "口红", "count": 2, "unit": "件"}), tools)
        == []
    )


@pytest.mark.parametrize(
    ("name", "arguments", "code", "message"),
    [
        (
            "ship",
            {},
            "unknown_tool",
            'message 1 calls "ship", which is not one of the tools ("check_stock")',
        ),
        (
            "check_stock",
            "{product: 1}",
            "bad_json",
            'message 1: the arguments of "check_stock" are not valid JSON',
        ),
        (
            "check_stock",
            "[1, 2]",
            "arguments_not_object",
            'message 1: the arguments of "check_stock" are an array, not a JSON object',
        ),
        ("check_stock", json.dumps("口红"), "arguments_not_object", "are text, not a JSON object"),
        (
            "check_stock",
            json.dumps(json.dumps({"product": "口红"})),
            "arguments_double_encoded",
            'message 1: the arguments of "check_stock" are a JSON object encoded twice',
        ),
        (
            "check_stock",
            {"count": 1},
            "schema_violation",
            "message 1: argument product of "
            "\"check_stock\": 'product' is a required property (required)",
        ),
        (
            "check_stock",
            {"product": "口红", "count": "two"},
            "schema_violation",
            "message 1: argument count of \"check_stock\": 'two' is not of type 'integer' (type)",
        ),
        (
            "check_stock",
            {"product": "口红", "unit": "盒"},
            "schema_violation",
            "message 1: argument unit of \"check_stock\": '盒' is not one of ['件', '箱'] (enum)",
        ),
    ],
)
def test_problems_name_code_place_tool_and_fix(name, arguments, code, message):
    [problem] = check_tool_calls(call(name, arguments), OPENAI_TOOLS)
    assert problem.code == code
    assert problem.message.startswith(message) or message in problem.message
    assert problem.hint and str(problem).endswith(problem.hint.rstrip(".") + ".")


def test_double_encoded_arguments_are_also_checked_against_the_schema():
    problems = check_tool_calls(
        call("check_stock", json.dumps(json.dumps({"count": 1}))), OPENAI_TOOLS
    )
    assert [p.code for p in problems] == ["arguments_double_encoded", "schema_violation"]
    assert problems[1].path == "product"


def test_a_row_is_checked_with_its_own_tools_including_its_answers():
    bad = call("check_stock", {"count": "x"})[1]
    row = Row(
        kind="conversation",
        messages=call("check_stock", {"product": "a"}),
        tools=OPENAI_TOOLS,
        chosen=[bad],
        rejected=[bad],
    )
    assert [(p.where, p.path) for p in check_tool_calls(row)] == [
        ("chosen 0", "count"),
        ("chosen 0", "product"),
        ("rejected 0", "count"),
        ("rejected 0", "product"),
    ]


def test_an_invalid_schema_is_reported_not_raised():
    tools = [{"name": "f", "parameters": {"type": "objekt"}}]
    [problem] = check_tool_calls(call("f", {}), tools)
    assert problem.code == "bad_schema" and 'the schema of tool "f" is invalid' in problem.message


def test_finds_the_real_schema_violations_in_the_glaive_demo(shared_data):
    with open_text(shared_data / "glaive_toolcall_zh_demo.json") as f:
        rows = list(sharegpt.read(f))
    problems = [p for row in rows for p in check_tool_calls(row)]
    assert problems and {p.code for p in problems} == {"schema_violation"}
    for p in problems:
        assert p.tool in tool_parameters(rows[0].tools) or p.tool
