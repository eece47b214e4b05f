import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curation.formats import openai_chat
from curation.formats.base import FormatError, Row

from .strategies import JSON, TEXT, openai_tool, round_trip, same, shuffled, unknown_keys

MESSAGE_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id", "weight"}


@st.composite
def tool_call(draw):
    arguments = draw(st.one_of(st.dictionaries(TEXT, JSON, max_size=2).map(json.dumps), TEXT))
    call = {
        "id": draw(TEXT),
        "type": "function",
        "function": draw(shuffled({"name": draw(TEXT), "arguments": arguments})),
    }
    return draw(shuffled(call))


@st.composite
def message(draw):
    role = draw(st.sampled_from(["system", "user", "assistant", "tool"]))
    msg = {"role": role}
    if draw(st.booleans()):
        msg["content"] = draw(
            st.one_of(TEXT, st.none(), st.just([{"type": "text", "text": "片段"}]))
        )
    if role == "assistant" and draw(st.booleans()):
        msg["tool_calls"] = draw(st.lists(tool_call(), min_size=1, max_size=2))
    if role == "assistant" and draw(st.booleans()):
        msg["weight"] = draw(st.sampled_from([0, 1]))
    if role == "tool":
        msg["tool_call_id"] = draw(TEXT)
    if draw(st.booleans()):
        msg["name"] = draw(TEXT)
    msg.update(draw(unknown_keys(MESSAGE_KEYS)))
    return draw(shuffled(msg))


@st.composite
def chat_rows(draw):
    obj = {"messages": draw(st.lists(message(), max_size=4))}
    if draw(st.booleans()):
        obj["tools"] = draw(st.lists(openai_tool(), max_size=2))
    if draw(st.booleans()):
        obj["parallel_tool_calls"] = draw(st.booleans())
    obj.update(draw(unknown_keys({"messages", "tools", "parallel_tool_calls"})))
    return draw(shuffled(obj))


@given(st.lists(chat_rows(), min_size=1, max_size=3), st.booleans())
def test_openai_chat_rows_round_trip_exactly(objs, array):
    assert same(round_trip(openai_chat, objs, array=array), objs)


def test_a_plain_leading_system_message_becomes_the_row_system():
    obj = {
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
        "parallel_tool_calls": False,
    }
    row = next(openai_chat.read(io.StringIO(json.dumps(obj))))
    assert (row.system, row.messages, row.extra) == (
        "s",
        [{"role": "user", "content": "q"}],
        {"parallel_tool_calls": False},
    )


def test_alpaca_rows_become_chat_messages():
    row = Row(system="s", instruction="q", input="", output="a")
    assert openai_chat.dump(row) == {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ]
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "x"}', '"messages" is missing or not a list'),
        ('{"messages": [{"content": "x"}]}', 'message 0 of "messages" has no "role"'),
        ('{"messages": [], "tools": "[]"}', '"tools" is text, not a list'),
    ],
)
def test_bad_chat_rows_say_what_is_wrong(line, message):
    with pytest.raises(FormatError, match=f"^line 2: {message}.*Fix: "):
        list(openai_chat.read(io.StringIO('{"messages": []}\n' + line)))


def test_preference_rows_are_not_written_as_chat():
    row = Row(
        kind="conversation", messages=[{"role": "user", "content": "q"}], chosen=[], rejected=[]
    )
    with pytest.raises(FormatError, match="the row is preference data"):
        openai_chat.dump(row)
