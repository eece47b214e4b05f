import io
import itertools
import json
import tracemalloc

import pytest

from curation.formats import jsonio
from curation.formats.base import FormatError


def objects(text: str, **kw) -> list[tuple[int, int, dict]]:
    return list(jsonio.iter_objects(io.StringIO(text), **kw))


def test_reads_a_pretty_json_array_with_the_line_of_each_record():
    rows = [{"a": 1, "b": "x\ny"}, {"a": 2}, {"a": 3}]
    text = json.dumps(rows, indent=2)
    got = objects(text)
    assert [obj for _, _, obj in got] == rows
    assert [index for _, index, _ in got] == [0, 1, 2]
    lines = text.splitlines()
    for line, _, obj in got:
        assert lines[line - 1].strip() == "{" and f'"a": {obj["a"]}' in lines[line]


def test_reads_json_lines_skipping_blank_lines():
    got = objects('{"a": 1}\n\n{"a": 2}\r\n   \n{"a": 3}')
    assert got == [(1, 0, {"a": 1}), (3, 1, {"a": 2}), (5, 2, {"a": 3})]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_records_split_across_buffer_chunks_keep_content_and_lines(monkeypatch, chunk):
    monkeypatch.setattr(jsonio, "CHUNK", chunk)
    rows = [
        {"text": "长文本" * 30, "n": i, "nested": {"list": [1, 2, {"k": "v"}]}} for i in range(5)
    ]
    text = json.dumps(rows, indent=1, ensure_ascii=False)
    got = objects(text)
    assert [obj for _, _, obj in got] == rows
    expected_lines = [i + 1 for i, line in enumerate(text.splitlines()) if line == " {"]
    assert [line for line, _, _ in got] == expected_lines
    assert [obj for _, _, obj in objects(jsonio_lines(rows))] == rows


def jsonio_lines(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@pytest.mark.parametrize("text", ["", "   \n\n  "])
def test_an_empty_file_is_an_error(text):
    with pytest.raises(FormatError, match=r"^line 1: the file is empty\. Fix: give a JSON array"):
        objects(text)


def test_an_empty_array_has_no_rows():
    assert objects("[ \n ]") == []


@pytest.mark.parametrize("cut", [10, 25, 40])
def test_a_truncated_array_names_the_record_and_says_truncated(cut):
    text = json.dumps([{"a": "一二三四五六七八九十"}, {"b": [1, 2, 3, 4, 5, 6]}, {"c": True}])[
        : len('[{"a": "一二三四五六七八九十"}, ') + cut - 10
    ]
    with pytest.raises(
        FormatError,
        match=r"^line 1 \(record \d\): the file ends inside this record \(truncated JSON\)\. Fix: "
        r"the file looks cut off",
    ):
        objects(text)


def test_an_array_without_its_closing_bracket_is_truncated():
    with pytest.raises(
        FormatError,
        match=r"^line 3 \(record 1\): the file ends after this record without closing the JSON "
        r"array \(truncated JSON\)",
    ):
        objects('[\n{"a": 1},\n{"a": 2}\n')


def test_a_trailing_comma_names_the_last_record():
    with pytest.raises(
        FormatError,
        match=r"^line 3 \(record 1\): the JSON array has a trailing comma .* Fix: remove the comma",
    ):
        objects('[\n{"a": 1},\n{"a": 2},\n]')


def test_bad_json_inside_an_array_names_line_and_record():
    with pytest.raises(
        FormatError,
        match=r"^line 4 \(record 1\): the record is not valid JSON: Expecting ':' delimiter at "
        r"column 6",
    ):
        objects('[\n{"a": 1},\n{"a": 2,\n "b" 3},\n{"a": 4}\n]')


def test_a_missing_comma_between_records_is_named():
    with pytest.raises(
        FormatError,
        match=r"^line 2 \(record 0\): expected a comma or \] after the record but found '\{'",
    ):
        objects('[{"a": 1}\n{"a": 2}]')


def test_text_after_the_array_is_an_error():
    with pytest.raises(FormatError, match=r"^line 2: there is more text after the closing \]"):
        objects('[{"a": 1}]\n[{"a": 2}]')


@pytest.mark.parametrize(
    ("text", "kind"),
    [("42", "a number"), ('"hi"', "text"), ("null", "null"), ("true", "true/false")],
)
def test_a_top_level_scalar_is_an_error(text, kind):
    with pytest.raises(
        FormatError, match=rf"^line 1: the file holds a single JSON value \({kind}\), not rows"
    ):
        objects(text)


def test_text_that_is_not_json_says_what_it_starts_with():
    with pytest.raises(
        FormatError,
        match=r"^line 1: the file does not start with a JSON array or object \(it starts "
        r"'instruction,output'\).*csv",
    ):
        objects("instruction,output\nq,a\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [("[1]", "the record is a number"), ('[{"a": 1}, ["x"]]', "the record is an array")],
)
def test_non_object_records_in_an_array_are_errors(text, message):
    with pytest.raises(FormatError, match=rf"^line 1 \(record \d\): {message}, not a JSON object"):
        objects(text)


def test_an_invalid_json_lines_line_names_its_line_and_column():
    with pytest.raises(
        FormatError,
        match=r"^line 2: the line is not valid JSON: Expecting ',' delimiter at column 9\. Fix: "
        r"JSON Lines needs",
    ):
        objects('{"a": 1}\n{"a": 2 "b": 3}\n{"a": 3}\n')


def test_a_non_object_json_lines_line_is_an_error():
    with pytest.raises(FormatError, match=r"^line 2: the line holds an array, not a JSON object"):
        objects('{"a": 1}\n[1, 2]\n')


def test_a_pretty_printed_single_object_gets_a_hint():
    with pytest.raises(FormatError, match=r"Fix: this looks like pretty-printed JSON"):
        objects('{\n  "a": 1\n}\n')


def test_skipping_bad_lines_reports_each_and_keeps_the_rest():
    bad = []
    got = objects('{"a": 1}\nnot json\n[2]\n{"a": 4}\n', on_bad_row=bad.append)
    assert got == [(1, 0, {"a": 1}), (4, 3, {"a": 4})]
    assert [(e.line, e.message.split(":")[0]) for e in bad] == [
        (2, "the line is not valid JSON"),
        (3, "the line holds an array, not a JSON object"),
    ]


def test_open_text_decodes_utf8_and_drops_a_bom(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes("\ufeff".encode() + '{"a": "中文"}\n'.encode())
    with jsonio.open_text(path) as f:
        assert objects(f.read()) == [(1, 0, {"a": "中文"})]
    with jsonio.open_text(path) as f:
        assert list(jsonio.iter_objects(f)) == [(1, 0, {"a": "中文"})]


@pytest.mark.parametrize("chunk", [2, 1 << 20])
def test_open_text_names_the_byte_and_line_of_non_utf8_input(monkeypatch, chunk):
    monkeypatch.setattr(jsonio, "CHUNK", chunk)
    data = '{"a": "中文"}\n{"a": "'.encode() + "é".encode("latin-1") + b'"}\n'
    offset = data.index(b"\xe9")
    stream = jsonio.open_text(io.BytesIO(data))
    with pytest.raises(
        FormatError,
        match=rf"^line 2: the file is not UTF-8 text: byte {offset} \(e9\) cannot be decoded\. "
        r"Fix: save the file as UTF-8\.$",
    ):
        list(jsonio.iter_objects(stream))


def test_open_text_iterates_lines():
    stream = jsonio.open_text(io.BytesIO("a,b\n中,文\r\nlast".encode()))
    assert list(stream) == ["a,b\n", "中,文\r\n", "last"]


class LazyArray(io.TextIOBase):
    """A JSON array of `n` rows produced on demand, never whole in memory."""

    def __init__(self, n: int):
        rows = (
            ("," if i else "") + json.dumps({"i": i, "text": "数据" * 200}) + "\n" for i in range(n)
        )
        self.parts = itertools.chain(["[\n"], rows, ["]"])
        self.pending = ""

    def readable(self):
        return True

    def read(self, size=-1):
        while len(self.pending) < size:
            part = next(self.parts, None)
            if part is None:
                break
            self.pending += part
        text, self.pending = self.pending[:size], self.pending[size:]
        return text


def test_memory_stays_flat_on_a_large_array():
    n = 20_000  # about 25 MB of JSON text
    tracemalloc.start()
    count = sum(1 for _ in jsonio.iter_objects(LazyArray(n)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == n
    assert peak < 16 * jsonio.CHUNK  # 25 MB of text went through


def test_writes_json_lines_and_arrays_with_non_ascii_text():
    rows = [{"a": "中"}, {"b": [1]}]
    out = io.StringIO()
    written = jsonio.write_objects(rows, out)
    assert out.getvalue() == '{"a": "中"}\n{"b": [1]}\n'
    assert (written.rows, written.keys) == (2, {"a", "b"})
    out = io.StringIO()
    jsonio.write_objects(iter(rows), out, array=True)
    assert json.loads(out.getvalue()) == rows
    out = io.StringIO()
    jsonio.write_objects([], out, array=True)
    assert json.loads(out.getvalue()) == []


def test_read_returns_all_it_is_asked_for_when_the_input_has_it():
    text = "数据abc" * 900_000  # 8 MB of UTF-8, 4.5M characters: several chunks
    stream = jsonio.open_text(io.BytesIO(text.encode()))
    assert stream.read(3 * jsonio.CHUNK) == text[: 3 * jsonio.CHUNK]
    assert stream.read(1) == text[3 * jsonio.CHUNK]
    assert stream.read() == text[3 * jsonio.CHUNK + 1 :]
    assert stream.read(5) == ""


class CountingDecoder(json.JSONDecoder):
    def __init__(self, decoder: json.JSONDecoder):
        super().__init__(parse_constant=decoder.parse_constant, parse_float=decoder.parse_float)
        self.attempts = 0
        self.scanned = 0

    def raw_decode(self, s, idx=0):
        self.attempts += 1
        self.scanned += len(s) - idx
        return super().raw_decode(s, idx)


@pytest.mark.parametrize("layout", ["array", "jsonl"])
def test_one_huge_record_is_read_whole_and_parsed_a_few_times(monkeypatch, layout):
    # 2,000 chunks of 512 characters: a reader that grows its read-ahead one chunk at a time
    # parses the record 2,000 times (quadratic); doubling parses it about 11 times.
    monkeypatch.setattr(jsonio, "CHUNK", 512)
    counting = CountingDecoder(jsonio._DECODER)
    monkeypatch.setattr(jsonio, "_DECODER", counting)
    text = "商品 check_stock\n" * 60_000  # a newline inside the string: escaped in the file
    body = json.dumps({"instruction": "总结", "input": text}, ensure_ascii=False)
    data = (f"[\n{body}\n]" if layout == "array" else body + "\n").encode()
    rows = list(jsonio.iter_objects(jsonio.open_text(io.BytesIO(data))))
    assert [(line, index) for line, index, _ in rows] == [(2 if layout == "array" else 1, 0)]
    assert rows[0][2]["input"] == text
    if layout == "array":
        assert counting.attempts < 30
        assert counting.scanned < 4 * len(body)


def test_a_line_of_many_chunks_is_read_whole(monkeypatch):
    monkeypatch.setattr(jsonio, "CHUNK", 64)
    long = "中" * 100_000
    stream = jsonio.open_text(io.BytesIO(f"{long}\nnext\n".encode()))
    assert stream.readline() == long + "\n"
    assert stream.readline() == "next\n"
    assert stream.readline() == ""


@pytest.mark.parametrize("layout", ["array", "jsonl"])
@pytest.mark.parametrize("digits", [4301, 100_000])
def test_a_number_past_4300_digits_is_a_clear_error(layout, digits):
    record = '{"instruction": "a", "output": ' + "9" * digits + "}"
    text = f"[{record}]" if layout == "array" else record + "\n"
    with pytest.raises(
        FormatError, match=r"^line 1\b.*: a number has more digits than can be read"
    ):
        list(jsonio.iter_objects(io.StringIO(text)))
    with pytest.raises(json.JSONDecodeError, match="more digits than can be read"):
        jsonio.loads("9" * digits)
