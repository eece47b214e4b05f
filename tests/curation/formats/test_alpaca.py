import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curation.formats import alpaca, alpaca_preference
from curation.formats.base import FormatError, Row
from curation.formats.jsonio import open_text

from .strategies import TEXT, round_trip, same, shuffled, unknown_keys

HISTORY = st.lists(st.lists(TEXT, min_size=2, max_size=2), max_size=2)


@st.composite
def alpaca_rows(draw, answer_keys=("output",)):
    obj = {"instruction": draw(TEXT)}
    for key in answer_keys:
        obj[key] = draw(TEXT)
    optional = {"input": TEXT, "system": TEXT, "history": HISTORY}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            obj[key] = draw(strategy)
    obj.update(draw(unknown_keys(alpaca_preference.KNOWN)))
    return draw(shuffled(obj))


@given(st.lists(alpaca_rows(), min_size=1, max_size=4), st.booleans())
def test_alpaca_rows_round_trip_exactly(objs, array):
    assert same(round_trip(alpaca, objs, array=array), objs)


@given(st.lists(alpaca_rows(("chosen", "rejected")), min_size=1, max_size=4), st.booleans())
def test_alpaca_preference_rows_round_trip_exactly(objs, array):
    assert same(round_trip(alpaca_preference, objs, array=array), objs)


def test_round_trips_the_alpaca_demo(shared_data):
    path = shared_data / "alpaca_zh_demo.json"
    with open_text(path) as f:
        rows = list(alpaca.read(f))
    assert len(rows) == 1000
    out = io.StringIO()
    alpaca.write(rows, out, array=True)
    assert same(json.loads(out.getvalue()), json.loads(path.read_text(encoding="utf-8")))


def test_keeps_missing_and_empty_input_apart():
    text = '{"instruction": "a", "output": "b"}\n{"instruction": "a", "input": "", "output": "b"}\n'
    rows = list(alpaca.read(io.StringIO(text)))
    assert [r.input for r in rows] == [None, ""]
    assert [(r.line, r.index, r.kind) for r in rows] == [
        (1, 0, "instruction"),
        (2, 1, "instruction"),
    ]


def test_names_the_line_of_a_bad_jsonl_row():
    text = '{"instruction": "问", "output": "答"}\n{"instruction": "缺输出"}\n'
    with pytest.raises(
        FormatError,
        match=r'^line 2: "output" is missing or not text\. Fix: give every row both "instruction" '
        r'and "output" as text\.$',
    ):
        list(alpaca.read(io.StringIO(text)))


def test_names_line_and_record_of_a_bad_array_row():
    text = '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "a", "output": 3}\n]'
    with pytest.raises(FormatError, match=r'^line 3 \(record 1\): "output" is missing or not text'):
        list(alpaca.read(io.StringIO(text)))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"output": "b"}, '"instruction" is missing or not text'),
        ({"instruction": "a", "output": "b", "input": None}, '"input" is null, not text'),
        ({"instruction": "a", "output": "b", "system": 1}, '"system" is a number, not text'),
        (
            {"instruction": "a", "output": "b", "history": [["q"]]},
            '"history" is not a list of \\[question, answer\\] text pairs',
        ),
    ],
)
def test_rejects_fields_of_the_wrong_type(row, message):
    with pytest.raises(FormatError, match=f"^line 1: {message}"):
        list(alpaca.read(io.StringIO(json.dumps(row))))


def test_skip_bad_reports_the_bad_row_and_reads_the_rest():
    bad = []
    text = (
        '{"instruction": "a", "output": "b"}\n{"instruction": "a"}\n'
        '{"instruction": "c", "output": "d"}\n'
    )
    rows = list(alpaca.read(io.StringIO(text), on_bad_row=bad.append))
    assert [r.instruction for r in rows] == ["a", "c"]
    assert [str(e) for e in bad] == [
        'line 2: "output" is missing or not text. Fix: give every row both "instruction" and '
        '"output" as text.'
    ]


def test_alpaca_preference_needs_text_answers():
    with pytest.raises(FormatError, match=r'^line 1: "rejected" is missing or not text'):
        list(
            alpaca_preference.read(
                io.StringIO('{"instruction": "a", "chosen": "x", "rejected": ["y"]}')
            )
        )


def test_a_plain_conversation_is_written_as_instruction_and_history():
    row = Row(
        kind="conversation",
        system="sys",
        messages=[
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": "a2", "weight": 1},
        ],
        extra={"id": 7},
    )
    assert alpaca.dump(row) == {
        "instruction": "q2",
        "input": "",
        "output": "a2",
        "system": "sys",
        "history": [["q1", "a1"]],
        "id": 7,
    }


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            ],
            r"message 1 \(assistant\) does not fit alpaca",
        ),
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0}],
            r"message 1 \(assistant\) does not fit alpaca",
        ),
        (
            [{"role": "user", "content": "q"}],
            "the conversation does not end with an assistant answer",
        ),
    ],
)
def test_a_conversation_that_does_not_fit_alpaca_is_refused(messages, message):
    row = Row(kind="conversation", messages=messages, line=4, index=3)
    with pytest.raises(FormatError, match=rf"^line 4 \(record 3\): {message}.*Fix: export"):
        alpaca.dump(row)


def test_preference_rows_are_not_written_as_plain_alpaca():
    row = next(
        alpaca_preference.read(io.StringIO('{"instruction": "a", "chosen": "x", "rejected": "y"}'))
    )
    with pytest.raises(
        FormatError, match=r"the row is preference data.*Fix: export it in a preference format"
    ):
        alpaca.dump(row)


def test_an_extra_key_that_clashes_with_a_field_is_refused():
    row = Row(instruction="a", output="b", extra={"output": "x"})
    with pytest.raises(FormatError, match='the extra field "output" clashes'):
        alpaca.dump(row)
