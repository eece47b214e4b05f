"""The export writer: rows go to `all` as they come and to train or test by their split; rows
of records without a split yet go where the plan, handed over after the last row, says."""

import hashlib
import json

import pytest

from curation import export_writer
from curation.export_writer import OPEN, RowBuilder, write_files
from curation.formats import jsonio
from curation.formats.base import FormatError, Row


def dump(row: Row) -> dict:
    if row.output == "refuse":
        raise FormatError(0, "cannot hold this row", hint="drop it")
    obj = {"instruction": row.instruction, "output": row.output}
    if row.system is not None:
        obj["system"] = row.system
    return obj


def lines(path):
    # Not splitlines(): that also breaks at U+2028, which JSON leaves unescaped.
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


@pytest.fixture
def rows():
    texts = ["问题", "line\nbreak", "sep\u2028arator", 'quote " and \\', "🙂"]
    splits = ["train", OPEN, "test", OPEN, OPEN, "train", OPEN, "test", OPEN, OPEN, OPEN]
    return [
        (split, Row(instruction=f"{texts[i % len(texts)]} {i}", output=str(i / 3), index=i + 1))
        for i, split in enumerate(splits)
    ]


def test_each_line_is_the_rows_json_text_as_jsonio_writes_it(tmp_path, rows):
    rows = [(split or "train", row) for split, row in rows]
    files, errors, _ = write_files(iter(rows), dump, tmp_path)
    assert not errors
    for split in ("all", "train", "test"):
        expected = [dump(row) for s, row in rows if split in ("all", s)]
        data = (tmp_path / f"{split}.jsonl").read_bytes()
        assert data == "".join(jsonio.dumps(obj) + "\n" for obj in expected).encode()
        assert files[split].rows == len(expected)


def test_open_rows_go_where_the_plan_says_which_is_asked_after_the_last_row(
    tmp_path, rows, monkeypatch
):
    monkeypatch.setattr(export_writer, "FLUSH_LINES", 3)  # several batches per file
    rows[1][1].system = "系统"  # an open row that goes to test: its key is test's only
    read = []

    def stream():
        for item in rows:
            read.append(item)
            yield item

    def plan():
        assert len(read) == len(rows)
        return {2, 5, 11}

    files, errors, more = write_files(stream(), dump, tmp_path, plan)
    assert not errors and not more
    by_split = {
        "all": [row.index for _, row in rows],
        "train": [1, 4, 6, 7, 9, 10],
        "test": [2, 3, 5, 8, 11],
    }
    for split, indexes in by_split.items():
        expected = [dump(row) for _, row in rows if row.index in indexes]
        assert lines(tmp_path / f"{split}.jsonl") == expected, split
        data = (tmp_path / f"{split}.jsonl").read_bytes()
        assert files[split].rows == len(expected)
        assert files[split].sha256 == hashlib.sha256(data).hexdigest()
    assert files["test"].keys == {"instruction", "output", "system"}
    assert files["train"].keys == {"instruction", "output"}


def test_rows_the_format_cannot_hold_are_reported_and_the_plan_is_not_asked(tmp_path, rows):
    rows[4][1].output = "refuse"

    def plan():
        raise AssertionError("the plan of a failed export is not needed")

    _, errors, more = write_files(iter(rows), dump, tmp_path, plan)
    assert [e["record"] for e in errors] == [5] and not more
    assert errors[0]["text"] == "record #5: cannot hold this row"


def test_an_empty_split_is_an_empty_file(tmp_path, rows):
    files, _, _ = write_files(((OPEN, row) for _, row in rows), dump, tmp_path, frozenset)
    assert (tmp_path / "test.jsonl").read_bytes() == b""
    assert files["test"].rows == 0 and files["test"].keys == set()
    assert files["test"].sha256 == hashlib.sha256(b"").hexdigest()
    assert files["train"].rows == len(rows)


def test_rows_are_the_same_from_text_values_and_from_their_utf8_bytes():
    text = (
        "instruction", "系统", "问题", "", None, None,
        '[{"role": "user", "content": "你好"}]', None, None, None, "{}", '{"format": "alpaca"}',
    )  # fmt: skip
    as_bytes = tuple(v.encode() if isinstance(v, str) else v for v in text)
    rows = [row for _, row in RowBuilder().rows([(*text, 7, "test"), (*as_bytes, 7, "test")])]
    assert rows[0] == rows[1]
    assert rows[0].system == "系统" and rows[0].messages == [{"role": "user", "content": "你好"}]
    assert rows[0].meta == {"format": "alpaca"} and rows[0].index == 7
