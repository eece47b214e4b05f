import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curation.formats import openai_chat, sharegpt, sharegpt_messages
from curation.formats.base import FormatError, Row
from curation.formats.jsonio import dumps, open_text

from .strategies import (
    JSON,
    TEXT,
    glaive_tool,
    openai_tool,
    round_trip,
    same,
    shuffled,
    unknown_keys,
)

TURN_EXTRA = unknown_keys({"from", "value", "role", "content", "tool_calls", "tool_call_id"})


def call_value(draw) -> str:
    def one():
        args = draw(st.one_of(st.dictionaries(TEXT, JSON, max_size=3), TEXT.map(json.dumps), JSON))
        return draw(shuffled({"name": draw(TEXT), "arguments": args}))

    calls = [one() for _ in range(draw(st.integers(1, 2)))]
    value = calls[0] if len(calls) == 1 and draw(st.booleans()) else calls
    return json.dumps(
        value, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 2]))
    )


@st.composite
def turns(draw, role_key, content_key, tags, n):
    out = []
    for _ in range(n):
        tag = draw(st.sampled_from(tags))
        value = call_value(draw) if tag == "function_call" else draw(TEXT)
        turn = {role_key: tag, content_key: value} | draw(TURN_EXTRA)
        out.append(draw(shuffled(turn)))
    return out


@st.composite
def tools_value(draw):
    tools = draw(st.lists(st.one_of(glaive_tool(), openai_tool()), max_size=2))
    if draw(st.booleans()):
        return tools
    return json.dumps(
        tools, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1]))
    )


@st.composite
def sharegpt_rows(draw, dialect=sharegpt.SHAREGPT):
    tags = ["human", "gpt", "system", "function_call", "observation", "user", "assistant", "tool"]
    d = dialect
    obj = {d.messages: draw(turns(d.role, d.content, tags, draw(st.integers(0, 5))))}
    if draw(st.booleans()):
        obj["system"] = draw(TEXT)
    if draw(st.booleans()):
        obj["tools"] = draw(tools_value())
    if draw(st.booleans()):
        obj["chosen"], obj["rejected"] = draw(turns(d.role, d.content, ["gpt", "function_call"], 2))
    obj.update(draw(unknown_keys(d.known)))
    return draw(shuffled(obj))


@given(st.lists(sharegpt_rows(), min_size=1, max_size=3), st.booleans())
def test_sharegpt_rows_round_trip_exactly(objs, array):
    assert same(round_trip(sharegpt, objs, array=array), objs)


@given(st.lists(sharegpt_rows(sharegpt_messages.DIALECT), min_size=1, max_size=3))
def test_sharegpt_messages_rows_round_trip_exactly(objs):
    assert same(round_trip(sharegpt_messages, objs), objs)


@pytest.mark.parametrize(
    ("name", "count"), [("glaive_toolcall_zh_demo.json", 300), ("dpo_zh_demo.json", 300)]
)
def test_round_trips_the_real_sharegpt_files(shared_data, name, count):
    path = shared_data / name
    with open_text(path) as f:
        rows = list(sharegpt.read(f))
    assert len(rows) == count
    out = io.StringIO()
    sharegpt.write(rows, out, array=True)
    assert same(json.loads(out.getvalue()), json.loads(path.read_text(encoding="utf-8")))


def test_glaive_tool_calls_survive_openai_chat_and_back(shared_data):
    path = shared_data / "glaive_toolcall_zh_demo.json"
    with open_text(path) as f:
        rows = list(sharegpt.read(f))
    chat = io.StringIO()
    openai_chat.write(rows, chat)
    first = json.loads(chat.getvalue().split("\n")[0])
    call = first["messages"][1]["tool_calls"][0]["function"]
    assert call["name"] == "generate_invoice"
    assert json.loads(call["arguments"])["customer_name"] == "约翰·多伊"
    assert first["messages"][2] == first["messages"][2] | {"role": "tool", "tool_call_id": "call_0"}
    assert first["tools"][0]["type"] == "function"
    back = io.StringIO()
    sharegpt.write(openai_chat.read(io.StringIO(chat.getvalue())), back, array=True)
    assert same(json.loads(back.getvalue()), json.loads(path.read_text(encoding="utf-8")))


def test_a_function_call_becomes_openai_tool_calls():
    obj = {
        "conversations": [
            {"from": "system", "value": "sys"},
            {"from": "human", "value": "天气?"},
            {
                "from": "function_call",
                "value": json.dumps(
                    [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": "{}"}]
                ),
            },
            {"from": "observation", "value": "r1"},
            {"from": "observation", "value": "r2"},
            {"from": "gpt", "value": "好"},
        ],
        "tools": [{"name": "a", "parameters": {"type": "object"}}],
    }
    row = next(sharegpt.read(io.StringIO(json.dumps(obj))))
    assert row.system == "sys"
    assert row.tools == [
        {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}}
    ]
    assert row.messages[1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "a", "arguments": '{"x": 1}'},
            },
            {"id": "call_1", "type": "function", "function": {"name": "b", "arguments": "{}"}},
        ],
    }
    assert [m.get("tool_call_id") for m in row.messages[2:4]] == ["call_0", "call_1"]


def test_preference_turns_become_chosen_and_rejected_messages(shared_data):
    with open_text(shared_data / "dpo_zh_demo.json") as f:
        row = next(sharegpt.read(f))
    assert row.kind == "conversation" and row.messages[-1]["role"] == "user"
    assert [m["role"] for m in row.chosen + row.rejected] == ["assistant", "assistant"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"conversation": []}, '"conversations" is missing or not a list'),
        (
            {"conversations": [{"from": "bot", "value": "x"}]},
            "turn 0 has an unknown \"from\" 'bot'",
        ),
        (
            {"conversations": [{"from": "human", "value": 1}]},
            'turn 0 "value" is a number, not text',
        ),
        (
            {
                "conversations": [
                    {"from": "human", "value": "q"},
                    {"from": "function_call", "value": "f(x)"},
                ]
            },
            "turn 1: the function_call is not valid JSON",
        ),
        (
            {"conversations": [{"from": "function_call", "value": '{"name": "f"}'}]},
            'turn 0: the function_call lacks a "name" or "arguments"',
        ),
        ({"conversations": [], "tools": "[{"}, '"tools" is not valid JSON text'),
        ({"conversations": [], "tools": {"name": "f"}}, '"tools" is not a list of tool objects'),
        ({"conversations": [], "system": None}, '"system" is null, not text'),
        (
            {"conversations": [{"from": "human", "value": "q", "tool_calls": []}]},
            'turn 0 has "tool_calls", which ShareGPT does not define',
        ),
    ],
)
def test_bad_sharegpt_rows_say_what_is_wrong(obj, message):
    with pytest.raises(FormatError) as e:
        list(sharegpt.read(io.StringIO("[" + json.dumps(obj) + "]")))
    assert str(e.value).startswith(f"line 1 (record 0): {message}")
    assert "Fix: " in str(e.value)


def test_an_assistant_message_with_text_and_tool_calls_cannot_be_sharegpt():
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    row = Row(
        kind="conversation",
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "sure", "tool_calls": [call]},
        ],
    )
    with pytest.raises(FormatError, match="message 1 has both text and tool calls"):
        sharegpt.dump(row)


def test_an_edited_call_is_written_from_the_row_not_the_stale_source_text():
    value = json.dumps({"name": "f", "arguments": {"a": 1}}, indent=2)
    row = next(
        sharegpt.read(
            io.StringIO(json.dumps({"conversations": [{"from": "function_call", "value": value}]}))
        )
    )
    assert sharegpt.dump(row)["conversations"][0]["value"] == value
    row.messages[0]["tool_calls"][0]["function"]["arguments"] = '{"a": 2}'
    assert sharegpt.dump(row)["conversations"][0]["value"] == '{"name": "f", "arguments": {"a": 2}}'


def test_alpaca_rows_are_written_as_conversations_with_a_system_turn():
    row = Row(system="s", instruction="q", input="ctx", output="a", history=[["q0", "a0"]])
    assert sharegpt.dump(row) == {
        "conversations": [
            {"from": "system", "value": "s"},
            {"from": "human", "value": "q0"},
            {"from": "gpt", "value": "a0"},
            {"from": "human", "value": "q\nctx"},
            {"from": "gpt", "value": "a"},
        ]
    }
    assert sharegpt.dump(row, system_as="key")["system"] == "s"


def test_openai_rows_with_weights_and_names_keep_them_as_turn_fields():
    obj = {
        "messages": [
            {"role": "user", "content": "q", "name": "ann"},
            {"role": "assistant", "content": "a", "weight": 0},
        ]
    }
    row = next(openai_chat.read(io.StringIO(json.dumps(obj))))
    turns = sharegpt.dump(row)["conversations"]
    assert turns == [
        {"from": "human", "value": "q", "name": "ann"},
        {"from": "gpt", "value": "a", "weight": 0},
    ]
    assert sharegpt.parse({"conversations": turns}).messages == obj["messages"]


def test_tools_list_default_is_a_glaive_json_string():
    tool = {
        "type": "function",
        "function": {"name": "f", "parameters": {"properties": {}, "type": "object"}},
    }
    row = Row(
        kind="conversation",
        messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        tools=[tool],
    )
    assert sharegpt.dump(row)["tools"] == dumps([tool["function"]])
