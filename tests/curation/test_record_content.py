"""One answer per record: the editor, the stored tool name, the exported file, training's
reading of it and the comparison's reference agree, for every shape of record the formats
hold (curation.record_content says what the answer is)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation import answers, formats, record_content, rowprep
from curation.formats.base import FormatError, Row
from training import compare_entry
from training.entry import sft_example

NAMES = ("search_products", "ship", "refund")
TOOLS = [
    {
        "type": "function",
        "function": {"name": name, "parameters": {"type": "object", "properties": {}}},
    }
    for name in NAMES
]
TEXT = st.text(alphabet="ab 中文?？\n", min_size=1, max_size=6).filter(str.strip)
ARGUMENTS = st.dictionaries(
    st.sampled_from(["q", "n"]), st.integers(0, 9) | st.text("xy中", max_size=3), max_size=2
)


@st.composite
def call(draw) -> dict:
    """A tool call in the OpenAI shape, or (as some files write it) bare."""
    function = {
        "name": draw(st.sampled_from(NAMES)),
        "arguments": json.dumps(draw(ARGUMENTS), ensure_ascii=False),
    }
    if draw(st.booleans()):
        return function
    return {"id": f"call_{draw(st.integers(0, 99))}", "type": "function", "function": function}


CALLS = st.lists(call(), min_size=1, max_size=2)
ASSISTANT = st.one_of(
    st.builds(lambda t: {"role": "assistant", "content": t}, TEXT),
    st.builds(lambda c: {"role": "assistant", "content": None, "tool_calls": c}, CALLS),
    st.builds(lambda t, c: {"role": "assistant", "content": t, "tool_calls": c}, TEXT, CALLS),
)
USER = st.builds(lambda t: {"role": "user", "content": t}, TEXT)
TOOL = st.builds(lambda t: {"role": "tool", "content": t, "tool_call_id": "call_0"}, TEXT)


@st.composite
def conversation(draw) -> Row:
    """Messages of any order after a first user turn (what openai_chat holds), with or
    without chosen/rejected candidates."""
    messages = [draw(USER), *draw(st.lists(st.one_of(USER, ASSISTANT, TOOL), max_size=5))]
    row = Row(kind="conversation", messages=messages, system=draw(st.none() | TEXT))
    if draw(st.booleans()):
        row.chosen, row.rejected = [draw(ASSISTANT)], [draw(ASSISTANT)]
    return row


@st.composite
def instruction(draw) -> Row:
    row = Row(kind="instruction", instruction=draw(TEXT), input=draw(st.sampled_from(["", "x"])))
    if draw(st.booleans()):
        row.chosen = [{"role": "assistant", "content": draw(TEXT)}]
        row.rejected = [{"role": "assistant", "content": draw(TEXT)}]
    else:
        row.output = draw(TEXT)
    return row


def record_of(row: Row) -> SimpleNamespace:
    fields = {name: getattr(row, name) for name in rowprep.ROW_FIELDS}
    return SimpleNamespace(**fields, project=SimpleNamespace(tools=TOOLS))


def shown(answer) -> str:
    return record_content.answer_text(answer)


def exported(row: Row) -> list[tuple[str, dict]]:
    """(format, object) for every format that holds this row as it is."""
    preference = row.chosen is not None
    if row.kind == "instruction":
        names = ["alpaca_preference"] if preference else ["alpaca"]
    else:
        names = ["messages_preference", "sharegpt"] if preference else ["openai_chat", "sharegpt"]
    out = []
    for name in names:
        try:
            out.append((name, formats.get(name).dump(row)))
        except FormatError:
            assert name == "sharegpt"  # ShareGPT holds no tool result without a call before it
    return out


def check(row: Row) -> None:
    answer = record_content.answer(row)
    name = record_content.tool_name(row)

    # The stored tool name (import's prepared column) and the agreement label.
    prepared = rowprep.prepare(row, TOOLS)
    assert prepared[rowprep.PREPARED_COLUMNS.index("tool_name")] == name
    label = answers.label_of(answer)[0]
    assert label == name if name else label in (answers.LABEL_TEXT, answers.LABEL_CLARIFY)

    # The editor shows the answer and stores what it shows.
    record = record_of(row)
    state = answers.state_from_record(record)
    kind = answers.editor_kind(record)
    if kind == answers.TOOL_CALL:
        assert state["tool"] == name
    if answer:
        content = answers.content_from_state(record, state)
        assert shown(record_content.answer(record, content)) == shown(answer)
        assert record_content.tool_name(SimpleNamespace(**{**vars(record), **content})) == name

    # The exported file, read back by its format and by training, has the same answer; the
    # comparison's last example scores against it.
    for format_name, obj in exported(row):
        module = formats.get(format_name)
        [back] = list(module.read(io.StringIO(json.dumps(obj, ensure_ascii=False))))
        assert shown(record_content.answer(back)) == shown(answer), format_name
        assert record_content.tool_name(back) == name, format_name
        if format_name == "sharegpt":
            continue  # training and comparison read the openai_chat and preference files
        messages, _tools = sft_example(obj)
        examples = compare_entry.load_examples([obj], project_tools=TOOLS)
        if answer:
            answer_run = record_content.answer_run(row)
            assert messages[-len(answer_run) :] == answer_run, format_name
            last = examples[-1]
            assert last["context"] == messages[: -len(answer_run)], format_name
            expected = record_content.reference(record_content.merge(answer_run))
            assert last["reference"] == expected, format_name
        else:
            assert all(len(e["context"]) < len(messages) for e in examples)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation())
def test_every_conversation_has_one_answer_everywhere(row):
    check(row)


@settings(max_examples=60, deadline=None)
@given(instruction())
def test_every_instruction_pair_has_one_answer_everywhere(row):
    check(row)


CALL_A = {"id": "call_0", "type": "function", "function": {"name": "ship", "arguments": "{}"}}
USER_Q = {"role": "user", "content": "寄到哪里？"}
CALLS_A = {"role": "assistant", "content": None, "tool_calls": [CALL_A]}


@pytest.mark.parametrize(
    ("messages", "expected_name", "expected_text"),
    [
        ([USER_Q, CALLS_A], "ship", "ship {}"),
        ([USER_Q, CALLS_A, {"role": "assistant", "content": "ok"}], "ship", "ok\nship {}"),
        ([USER_Q, {"role": "assistant", "content": "查一下"}, CALLS_A], "ship", "查一下\nship {}"),
        ([USER_Q, CALLS_A, {"role": "user", "content": "算了"}], "", ""),
        ([USER_Q, CALLS_A, {"role": "tool", "content": "{}", "tool_call_id": "call_0"}], "", ""),
    ],
    ids=["call", "call-then-text", "text-then-call", "ends-on-user", "ends-on-tool-result"],
)
def test_the_odd_shapes_follow_the_documented_rule(messages, expected_name, expected_text):
    row = Row(kind="conversation", messages=messages)
    assert record_content.tool_name(row) == expected_name
    assert shown(record_content.answer(row)) == expected_text
    check(row)


def test_a_candidate_answers_after_the_whole_prompt():
    row = Row(
        kind="conversation",
        messages=[USER_Q, CALLS_A],
        chosen=[{"role": "assistant", "content": "好的"}],
        rejected=[CALLS_A],
    )
    assert record_content.prompt_of(row) == [USER_Q, CALLS_A]
    assert record_content.tool_name(row) == ""
    check(replace(row))


def test_the_migration_recomputes_stored_tool_names(project):
    import importlib

    from django.apps import apps

    from curation.models import Record

    migration = importlib.import_module("curation.migrations.0009_recompute_record_tool_name")
    ends_on_user = Record.objects.create(
        project=project,
        kind="conversation",
        messages=[USER_Q, CALLS_A, {"role": "user", "content": "算了"}],
        tool_name="ship",
    )
    call_then_text = Record.objects.create(
        project=project,
        kind="conversation",
        messages=[USER_Q, CALLS_A, {"role": "assistant", "content": "ok"}],
        tool_name="",
    )
    migration.recompute(apps, None)
    ends_on_user.refresh_from_db()
    call_then_text.refresh_from_db()
    assert (ends_on_user.tool_name, call_then_text.tool_name) == ("", "ship")
