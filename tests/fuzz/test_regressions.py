"""The smallest inputs the fuzzers found that crashed a reader or the import, one test each."""

from __future__ import annotations

import io
import json

import pytest

from curation.formats import FORMATS
from curation.formats.base import FormatError
from curation.imports import ImportFailed, import_file
from curation.models import Record


def read(fmt: str, text: str, **options) -> list:
    return list(FORMATS[fmt].read(io.StringIO(text), **options))


def test_a_record_nested_too_deeply_in_a_json_array_is_a_located_error():
    text = '[{"instruction": "a", "output": "b"},\n' + "[" * 100_000 + "]" * 100_000 + "]"
    with pytest.raises(FormatError) as e:
        read("alpaca", text)
    assert str(e.value).startswith("line 2 (record 1): the record nests arrays or objects too")


def test_a_json_lines_line_nested_too_deeply_is_skipped_and_reported():
    deep = '{"instruction": ' + "[" * 100_000 + "]" * 100_000 + ', "output": "b"}'
    skipped = []
    rows = read(
        "alpaca", f'{{"instruction": "a", "output": "b"}}\n{deep}\n', on_bad_row=skipped.append
    )
    assert [r.instruction for r in rows] == ["a"]
    assert [str(e) for e in skipped] == [
        "line 2: the record nests arrays or objects too deeply to read. Fix: flatten the "
        "record: a few levels of nesting are all a training example needs."
    ]


def test_detection_reads_past_a_message_whose_role_is_not_text():
    from curation.formats.detect import detect

    found = detect('{"messages": [{"role": ["user"], "content": "hi"}]}\n')
    assert found.name == "openai_chat"


def test_an_unpaired_surrogate_escape_is_refused_where_it_is():
    text = '[{"instruction": "a", "output": "b"},\n{"instruction": "\\ud800", "output": "b"}]'
    with pytest.raises(FormatError) as e:
        read("alpaca", text)
    assert str(e.value).startswith(
        "line 2 (record 1): the record holds the escape \\ud800, half of a surrogate pair"
    )


def test_a_paired_surrogate_escape_is_the_character_it_spells():
    rows = read("alpaca", '{"instruction": "\\ud83d\\ude00", "output": "b"}\n')
    assert rows[0].instruction == "😀"


@pytest.mark.parametrize(
    "value,message",
    [
        ("NaN", "NaN is not a JSON value"),
        ("-Infinity", "-Infinity is not a JSON value"),
        ("1e999", "the number 1e999 is too large"),
    ],
)
def test_numbers_that_json_does_not_allow_are_refused(value, message):
    text = f'{{"instruction": "a", "output": "b", "score": {value}}}\n'
    with pytest.raises(FormatError) as e:
        read("alpaca", text)
    assert str(e.value) == f"line 1: {message}. Fix: write null or a finite number instead."


def test_a_file_that_is_only_nan_is_not_rows():
    with pytest.raises(FormatError) as e:
        read("alpaca", "NaN\n")
    assert str(e.value).startswith("line 1: the file does not start with a JSON array or object")


def test_a_function_call_nested_too_deeply_is_a_bad_row():
    call = '{"name": "f", "arguments": ' + "[" * 5000 + "]" * 5000 + "}"
    obj = {
        "conversations": [{"from": "human", "value": "q"}, {"from": "function_call", "value": call}]
    }
    with pytest.raises(FormatError) as e:
        read("sharegpt", json.dumps(obj) + "\n")
    assert "turn 1: the function_call is not valid JSON (nested too deeply)" in str(e.value)


def test_tools_text_with_nan_is_a_bad_row():
    obj = {"conversations": [{"from": "human", "value": "q"}], "tools": '[{"name": "f", "x": NaN}]'}
    with pytest.raises(FormatError) as e:
        read("sharegpt", json.dumps(obj) + "\n")
    assert '"tools" is not valid JSON text (NaN is not a JSON value)' in str(e.value)


@pytest.mark.parametrize(
    "fmt,obj,where",
    [
        (
            "openai_chat",
            {"messages": [{"role": "assistant", "tool_calls": 5}]},
            'message 0 of "messages"',
        ),
        (
            "messages_preference",
            {
                "messages": [{"role": "user", "content": "q"}],
                "chosen": {"role": "assistant", "tool_calls": True},
                "rejected": {"role": "assistant", "content": "no"},
            },
            '"chosen"',
        ),
    ],
)
def test_tool_calls_that_are_not_a_list_are_a_bad_row(fmt, obj, where):
    with pytest.raises(FormatError) as e:
        read(fmt, json.dumps(obj) + "\n")
    assert f'line 1: {where} has "tool_calls" that is ' in str(e.value)
    assert "not a list" in str(e.value)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        b'{"messages": [{"role": "user", "content": "q", "score": NaN}]}\n',
        b'{"messages": [{"role": "user", "content": "\\udfff"}]}\n',
        b'{"messages": [{"role": "assistant", "tool_calls": 1}]}\n',
    ],
    ids=["nan", "surrogate", "tool-calls-number"],
)
def test_an_import_of_such_a_file_fails_cleanly_and_writes_nothing(
    project, make_user, tmp_path, data
):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"messages": [{"role": "user", "content": "fine"}]}\n' + data)
    with pytest.raises(ImportFailed) as e:
        import_file(project, path, actor=make_user("u"), format_name="openai_chat")
    assert e.value.report.errors[0]["line"] == 2
    assert not Record.objects.filter(project=project).exists()
    report = import_file(
        project, path, actor=make_user("v"), format_name="openai_chat", skip_bad=True
    )
    assert (report.imported, len(report.skipped)) == (1, 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"instruction": "\ud800"},
        {"extra": {"score": float("nan")}},
        {"output": "a\x00b"},
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": "x" * 0,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "a\x00", "arguments": "{}"}}
                    ],
                }
            ],
            "kind": "conversation",
        },
    ],
    ids=["surrogate", "nan", "nul", "nul-tool-name"],
)
def test_import_rows_refuses_a_row_that_cannot_be_stored(project, make_user, fields):
    from core.errors import CurationError
    from curation.formats.base import Row
    from curation.imports import import_rows

    row = Row(**{"instruction": "q", "output": "a", **fields})
    with pytest.raises(CurationError, match=r"line 0 \(record 0\): the row (holds|has) "):
        import_rows(project, [row], actor=make_user("u"), format_name="alpaca")
    assert not Record.objects.filter(project=project).exists()
    good = Row(instruction="fine", output="ok", index=1)
    report = import_rows(
        project, [row, good], actor=make_user("v"), format_name="alpaca", skip_bad=True
    )
    assert (report.imported, len(report.skipped)) == (1, 1)


def test_detection_of_a_first_line_too_long_for_csv_says_it_cannot_tell():
    from curation.formats.detect import detect

    with pytest.raises(FormatError) as e:
        detect('"' + "x" * 200_000)
    assert str(e.value).startswith("line 1: could not tell the format: the file starts '\"xxx")


def test_detection_reads_past_messages_that_are_not_a_list():
    from curation.formats.detect import detect

    assert detect('{"messages": true}\n').name == "openai_chat"


@pytest.mark.django_db
def test_tool_call_arguments_with_a_number_past_4300_digits_are_flagged_not_a_crash(
    project, make_user, tmp_path
):
    arguments = json.dumps({"product": "9" * 5000}).replace('"9', "9").replace('9"', "9")
    call = {"type": "function", "function": {"name": "check_stock", "arguments": arguments}}
    row = {
        "messages": [
            {"role": "user", "content": "有货吗"},
            {"role": "assistant", "tool_calls": [call]},
        ]
    }
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    report = import_file(project, path, actor=make_user("e"), format_name="openai_chat")
    assert (report.imported, report.flagged) == (1, 1)
    record = Record.objects.get(project=project)
    assert "more digits than can be read" in json.dumps(record.problems)


def test_the_editor_refuses_a_number_past_4300_digits_as_invalid_json():
    from core.errors import InvalidInput
    from curation.answers import _loads

    with pytest.raises(InvalidInput, match="not valid JSON: a number has more digits"):
        _loads('{"q": ' + "9" * 5000 + "}", "arguments")
