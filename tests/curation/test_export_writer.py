"""The export writer: rows go to `all` as they come and to train or test by their split."""

import pytest

from curation.export_writer import write_files
from curation.formats import jsonio
from curation.formats.base import FormatError, Row


def dump(row: Row) -> dict:
    if row.output == "refuse":
        raise FormatError(0, "cannot hold this row", hint="drop it")
    obj = {"instruction": row.instruction, "output": row.output}
    if row.system is not None:
        obj["system"] = row.system
    return obj


@pytest.fixture
def rows():
    texts = ["问题", "line\nbreak", "sep\u2028arator", 'quote " and \\', "🙂"]
    splits = ["train", "train", "test", "train", "train", "train", "test", "train", "test"]
    return [
        (split, Row(instruction=f"{texts[i % len(texts)]} {i}", output=str(i / 3), index=i + 1))
        for i, split in enumerate(splits)
    ]


def test_each_line_is_the_rows_json_text_as_jsonio_writes_it(tmp_path, rows):
    files, errors, _ = write_files(iter(rows), dump, tmp_path)
    assert not errors
    for split in ("all", "train", "test"):
        expected = [dump(row) for s, row in rows if split in ("all", s)]
        data = (tmp_path / f"{split}.jsonl").read_bytes()
        assert data == "".join(jsonio.dumps(obj) + "\n" for obj in expected).encode()
        assert files[split].rows == len(expected)
