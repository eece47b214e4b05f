"""Parser tests; the bundled model's real outputs are in fixtures/smollm2_outputs.json
(regenerate with fixtures/make_smollm2_outputs.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.parsing import parse_output

REAL = json.loads(
    (Path(__file__).parent / "fixtures" / "smollm2_outputs.json").read_text(encoding="utf-8")
)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def well_formed(output: str) -> dict | None:
    """The call inside an output that is exactly one closed, valid <tool_call> block."""
    found = re.fullmatch(r"<tool_call>(.*)</tool_call>", output.strip(), re.DOTALL)
    try:
        return json.loads(found.group(1)) if found else None
    except json.JSONDecodeError:
        return None


def test_reads_every_well_formed_real_tool_call_of_the_bundled_model():
    checked = 0
    for fixture in REAL:
        call = well_formed(fixture["output"])
        if call is None:
            continue
        parsed = parse_output(fixture["output"])
        assert parsed.kind == "tool_calls", fixture["output"]
        assert parsed.tool_calls == [{"name": call["name"], "arguments": call["arguments"]}]
        assert parsed.text == ""
        checked += 1
    assert checked >= 5


def test_a_real_call_cut_off_by_max_tokens_is_kept_verbatim_and_flagged():
    fixture = next(
        f for f in REAL if "<tool_call>" in f["output"] and "</tool_call>" not in f["output"]
    )
    parsed = parse_output(fixture["output"], tools=fixture["tools"])
    assert parsed.kind == "unparseable"
    assert parsed.text == fixture["output"]
    assert any("no closing </tool_call>" in p for p in parsed.problems)
    assert any("not JSON" in p for p in parsed.problems)


def test_a_real_call_to_a_tool_that_was_not_offered_is_named():
    fixture = next(
        f
        for f in REAL
        if (call := well_formed(f["output"]))
        and f["tools"]
        and call["name"] not in {t["name"] for t in f["tools"]}
    )
    parsed = parse_output(fixture["output"], tools=fixture["tools"])
    assert parsed.kind == "tool_calls" and parsed.schema_valid is False
    assert any(p.startswith("unknown tool") for p in parsed.problems)


def test_a_real_call_with_a_stray_brace_keeps_the_call_and_says_what_was_extra():
    fixture = next(
        f for f in REAL if "</tool_call>" in f["output"] and not well_formed(f["output"])
    )
    parsed = parse_output(fixture["output"])
    assert parsed.kind == "tool_calls" and len(parsed.tool_calls) == 1
    assert any("extra text after the JSON" in p for p in parsed.problems)


def test_a_real_plain_answer_is_text_verbatim():
    fixture = next(f for f in REAL if "<tool_call>" not in f["output"])
    parsed = parse_output(fixture["output"], tools=fixture["tools"])
    assert (parsed.kind, parsed.text, parsed.problems) == ("text", fixture["output"], [])


def test_reads_several_tool_call_blocks_in_order_and_the_text_around_them():
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "%s"}}</tool_call>'
    text = "Checking both.\n" + call % "北京" + "\n" + call % "上海"
    parsed = parse_output(text, tools=[WEATHER])
    assert parsed.kind == "tool_calls" and parsed.schema_valid is True and parsed.problems == []
    assert [c["arguments"]["city"] for c in parsed.tool_calls] == ["北京", "上海"]
    assert parsed.text == "Checking both."


def test_an_unclosed_block_followed_by_another_keeps_both_calls():
    one = '{"name": "a", "arguments": {}}'
    parsed = parse_output(f"<tool_call>{one}<tool_call>{one}</tool_call>")
    assert [c["name"] for c in parsed.tool_calls] == ["a", "a"]
    assert any("no closing" in p for p in parsed.problems)


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        '[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        'Sure:\n```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        '{"function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}',
    ],
    ids=["bare-object", "bare-array", "fenced", "openai-shape-as-text"],
)
def test_reads_tool_calls_written_as_json(text):
    parsed = parse_output(text, tools=[WEATHER])
    assert parsed.kind == "tool_calls"
    assert parsed.tool_calls == [{"name": "get_weather", "arguments": {"city": "Paris"}}]


def test_reads_openai_tool_calls_from_an_http_backend():
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 2}'},
        }
    ]
    parsed = parse_output(None, tool_calls=calls, tools=[WEATHER])
    assert parsed.kind == "tool_calls" and parsed.problems == [] and parsed.schema_valid
    assert parsed.tool_calls == [{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]


def test_decodes_double_encoded_arguments_and_says_so():
    inner = json.dumps(json.dumps({"city": "Paris"}))
    parsed = parse_output(f'<tool_call>{{"name": "get_weather", "arguments": {inner}}}</tool_call>')
    assert parsed.tool_calls[0]["arguments"] == {"city": "Paris"}
    assert any("double encoded" in p for p in parsed.problems)
    http = parse_output("", tool_calls=[{"function": {"name": "x", "arguments": inner}}])
    assert http.tool_calls[0]["arguments"] == {"city": "Paris"}
    assert any("double encoded" in p for p in http.problems)


def test_checks_arguments_against_the_tool_schema():
    text = '<tool_call>{"name": "get_weather", "arguments": {"days": "two", "mood": 1}}</tool_call>'
    parsed = parse_output(text, tools=[WEATHER])
    assert parsed.kind == "tool_calls" and parsed.schema_valid is False
    assert "get_weather: 'city' is a required property" in parsed.problems
    assert "get_weather.days: 'two' is not of type 'integer'" in parsed.problems
    assert "get_weather: arguments not in the schema: ['mood']" in parsed.problems


def test_a_broken_bare_call_is_unparseable_and_kept():
    text = '{"name": "get_weather", "arguments": {"city": "Par'
    parsed = parse_output(text)
    assert (parsed.kind, parsed.text) == ("unparseable", text)


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "John", "age": 30}',
        'Here is code:\n```python\nx = {"name": "a", "arguments": {}}\n```',
        "The answer is 42.",
        "",
    ],
    ids=["json-answer", "python-fence", "plain", "empty"],
)
def test_answers_that_merely_contain_json_are_text(text):
    parsed = parse_output(text)
    assert (parsed.kind, parsed.text, parsed.tool_calls) == ("text", text, [])


PIECES = st.sampled_from(
    [
        "<tool_call>",
        "</tool_call>",
        "{",
        "}",
        "[",
        '"name"',
        ":",
        '"a"',
        '"arguments"',
        "```",
        "json\n",
        " ",
        "文本",
        ",",
    ]
)


@given(st.lists(PIECES, max_size=20).map("".join))
def test_never_loses_an_answer(text):
    parsed = parse_output(text, tools=[WEATHER])
    assert parsed.kind in ("tool_calls", "text", "unparseable")
    if parsed.kind != "tool_calls":
        assert parsed.text == text
    else:
        assert all(isinstance(c["arguments"], dict) for c in parsed.tool_calls)
