import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curation.formats import (
    alpaca_preference,
    messages_preference,
    openai_dpo,
    sharegpt,
    trl_preference,
)
from curation.formats.base import FormatError, Row
from curation.formats.jsonio import open_text

from .strategies import TEXT, openai_tool, round_trip, same, shuffled, unknown_keys
from .test_openai_chat import message

ASSISTANT = st.builds(
    lambda c, extra: {"role": "assistant", "content": c, **extra},
    TEXT,
    unknown_keys({"role", "content"}),
).flatmap(shuffled)


@st.composite
def trl_rows(draw):
    if draw(st.booleans()):
        obj = {"prompt": draw(TEXT), "chosen": draw(TEXT), "rejected": draw(TEXT)}
    else:
        obj = {
            "prompt": draw(st.lists(message(), max_size=3)),
            "chosen": draw(st.lists(ASSISTANT, min_size=1, max_size=2)),
            "rejected": draw(st.lists(ASSISTANT, min_size=1, max_size=2)),
        }
    obj.update(draw(unknown_keys(trl_preference.KNOWN)))
    return draw(shuffled(obj))


@st.composite
def dpo_rows(draw):
    given_ = {"messages": draw(st.lists(message(), max_size=3))}
    if draw(st.booleans()):
        given_["tools"] = draw(st.lists(openai_tool(), max_size=2))
    if draw(st.booleans()):
        given_["parallel_tool_calls"] = draw(st.booleans())
    inner = draw(unknown_keys(openai_dpo.INPUT_KNOWN | {"parallel_tool_calls"}))
    outer = draw(unknown_keys(openai_dpo.KNOWN | inner.keys() | {"parallel_tool_calls"}))
    obj = {
        "input": draw(shuffled(given_ | inner)),
        "preferred_output": draw(st.lists(ASSISTANT, min_size=1, max_size=2)),
        "non_preferred_output": draw(st.lists(ASSISTANT, min_size=1, max_size=2)),
    }
    return draw(shuffled(obj | outer))


@st.composite
def seed_rows(draw):
    obj = {
        "messages": draw(st.lists(message(), max_size=3)),
        "chosen": draw(ASSISTANT),
        "rejected": draw(ASSISTANT),
    }
    if draw(st.booleans()):
        obj["tools"] = draw(st.lists(openai_tool(), max_size=1))
    obj.update(draw(unknown_keys(messages_preference.KNOWN)))
    return draw(shuffled(obj))


@given(st.lists(trl_rows(), min_size=1, max_size=3))
def test_trl_rows_round_trip_exactly(objs):
    assert same(round_trip(trl_preference, objs), objs)


@given(st.lists(dpo_rows(), min_size=1, max_size=3))
def test_openai_dpo_rows_round_trip_exactly(objs):
    assert same(round_trip(openai_dpo, objs), objs)


@given(st.lists(seed_rows(), min_size=1, max_size=3), st.booleans())
def test_messages_preference_rows_round_trip_exactly(objs, array):
    assert same(round_trip(messages_preference, objs, array=array), objs)


def test_the_dpo_demo_converts_through_every_preference_format_and_back(shared_data):
    path = shared_data / "dpo_zh_demo.json"
    original = json.loads(path.read_text(encoding="utf-8"))
    for fmt in (messages_preference, openai_dpo, trl_preference):
        with open_text(path) as f:
            text = io.StringIO()
            fmt.write(sharegpt.read(f), text)
        back = io.StringIO()
        sharegpt.write(fmt.read(io.StringIO(text.getvalue())), back, array=True)
        assert same(json.loads(back.getvalue()), original), fmt.NAME


def test_alpaca_preference_becomes_standard_trl_and_seed_rows():
    row = next(
        alpaca_preference.read(
            io.StringIO(
                '{"instruction": "问", "input": "上下文", "chosen": "好", "rejected": "坏"}'
            )
        )
    )
    assert trl_preference.dump(row) == {"prompt": "问\n上下文", "chosen": "好", "rejected": "坏"}
    assert trl_preference.dump(row, conversational=True) == {
        "prompt": [{"role": "user", "content": "问\n上下文"}],
        "chosen": [{"role": "assistant", "content": "好"}],
        "rejected": [{"role": "assistant", "content": "坏"}],
    }
    assert messages_preference.dump(row) == {
        "messages": [{"role": "user", "content": "问\n上下文"}],
        "chosen": {"role": "assistant", "content": "好"},
        "rejected": {"role": "assistant", "content": "坏"},
    }


def test_openai_dpo_keeps_parallel_tool_calls_inside_input_across_formats():
    obj = {
        "input": {"messages": [{"role": "user", "content": "q"}], "parallel_tool_calls": False},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }
    row = next(openai_dpo.read(io.StringIO(json.dumps(obj))))
    assert row.extra == {"parallel_tool_calls": False}
    assert (
        openai_dpo.dump(
            next(messages_preference.read(io.StringIO(json.dumps(messages_preference.dump(row)))))
        )
        == obj
    )


@pytest.mark.parametrize(
    ("module", "line", "message"),
    [
        (trl_preference, '{"chosen": "a", "rejected": "b"}', '"prompt" is missing'),
        (
            trl_preference,
            '{"prompt": "q", "chosen": ["a"], "rejected": "b"}',
            '"prompt", "chosen" and "rejected" are not all text',
        ),
        (
            trl_preference,
            '{"prompt": [], "chosen": "a", "rejected": "b"}',
            '"chosen" is missing or not a list',
        ),
        (
            openai_dpo,
            '{"input": [], "preferred_output": [], "non_preferred_output": []}',
            '"input" is missing or not an object',
        ),
        (
            openai_dpo,
            '{"input": {"messages": []}, "preferred_output": []}',
            '"non_preferred_output" is missing or not a list',
        ),
        (
            messages_preference,
            '{"messages": [], "chosen": "a", "rejected": {"role": "assistant"}}',
            '"chosen" is missing or not a message',
        ),
    ],
)
def test_bad_preference_rows_say_what_is_wrong(module, line, message):
    with pytest.raises(FormatError) as e:
        list(module.read(io.StringIO(line)))
    assert str(e.value).startswith(f"line 1: {message}")
    assert "Fix: " in str(e.value)


def test_a_row_without_answers_cannot_be_written_as_preference():
    row = Row(instruction="q", output="a", line=9, index=8)
    for module in (trl_preference, openai_dpo, messages_preference, alpaca_preference):
        with pytest.raises(
            FormatError, match=r"^line 9 \(record 8\): the row has no chosen and rejected answers"
        ):
            module.dump(row)


def test_multi_message_answers_do_not_fit_one_message_formats():
    answer = [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]
    row = Row(
        kind="conversation",
        messages=[{"role": "user", "content": "q"}],
        chosen=answer,
        rejected=answer[:1],
    )
    with pytest.raises(FormatError, match='"chosen" has 2 messages'):
        messages_preference.dump(row)
    with pytest.raises(FormatError, match='"chosen" is not a single assistant text'):
        alpaca_preference.dump(row)
