"""The smallest inputs the fuzzers found that crashed a reader or the import, one test each."""

from __future__ import annotations

import io

import pytest

from curation.formats import FORMATS
from curation.formats.base import FormatError


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
