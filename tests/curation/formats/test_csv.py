import io

import pytest

from curation.formats import alpaca, csv_in
from curation.formats.base import FormatError
from curation.formats.jsonio import open_text


def test_reads_alpaca_columns_and_keeps_other_columns_as_extra():
    text = 'instruction,input,output,source\n问,"多行\n输入",答,web\n'
    [row] = list(csv_in.read(io.StringIO(text)))
    assert (row.instruction, row.input, row.output, row.extra) == (
        "问",
        "多行\n输入",
        "答",
        {"source": "web"},
    )
    assert (row.line, row.index) == (2, 0)
    assert alpaca.dump(row) == {
        "instruction": "问",
        "input": "多行\n输入",
        "output": "答",
        "source": "web",
    }


def test_a_mapping_names_other_columns():
    text = "question,answer\nq1,a1\nq2,a2\n"
    rows = list(
        csv_in.read(io.StringIO(text), mapping={"instruction": "question", "output": "answer"})
    )
    assert [(r.instruction, r.input, r.output, r.line) for r in rows] == [
        ("q1", None, "a1", 2),
        ("q2", None, "a2", 3),
    ]


def test_chosen_and_rejected_columns_make_preference_rows():
    [row] = list(csv_in.read(io.StringIO("instruction,chosen,rejected\nq,good,bad\n")))
    assert (row.output, row.chosen, row.rejected) == (
        None,
        [{"role": "assistant", "content": "good"}],
        [{"role": "assistant", "content": "bad"}],
    )


def test_a_missing_column_names_the_columns_found():
    with pytest.raises(FormatError) as e:
        list(
            csv_in.read(
                io.StringIO("question,reply\nq,a\n"),
                mapping={"instruction": "question", "output": "answer"},
            )
        )
    assert str(e.value) == (
        'line 1: the column "answer" for "output" is missing; the file has the columns "question", '
        '"reply". '
        'Fix: name the column to use, e.g. mapping={"output": "question"}.'
    )


def test_a_row_with_the_wrong_number_of_cells_is_named_and_can_be_skipped():
    text = "instruction,output\nq1,a1\nq2,a2,extra\nq3,a3\n"
    with pytest.raises(
        FormatError,
        match=r"^line 3 \(record 1\): the row has 3 cells but the "
        r"header has 2 columns",
    ):
        list(csv_in.read(io.StringIO(text)))
    bad = []
    rows = list(csv_in.read(io.StringIO(text), on_bad_row=bad.append))
    assert [r.instruction for r in rows] == ["q1", "q3"] and [e.line for e in bad] == [3]


def test_an_empty_csv_is_an_error():
    with pytest.raises(FormatError, match="^line 1: the file is empty"):
        list(csv_in.read(io.StringIO("")))


def test_an_unknown_mapping_field_is_refused():
    with pytest.raises(FormatError, match='the mapping names "answer", which is not a field'):
        list(csv_in.read(io.StringIO("a,b\n"), mapping={"answer": "b"}))


def test_reads_a_utf8_file_with_a_bom_and_crlf(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes("\ufeffinstruction,output\r\n问,答\r\n".encode())
    with open_text(path) as f:
        [row] = list(csv_in.read(f))
    assert (row.instruction, row.output) == ("问", "答")


def test_is_import_only():
    assert csv_in.CAPABILITIES == ("read",) and not hasattr(csv_in, "write")
