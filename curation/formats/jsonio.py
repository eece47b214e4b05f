"""Streaming JSON in and out: a JSON array or JSON Lines, exact line numbers, flat memory.

A JSON array is parsed one record at a time with the C scanner (`raw_decode`) over a sliding
buffer, so a multi-GB file never sits in memory whole; JSON Lines is parsed line by line.
"""

from __future__ import annotations

import codecs
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from .base import BadRow, FormatError, Row

CHUNK = 1 << 20
_WS = re.compile(r"[ \t\n\r]*")
_PARTIAL_TOKEN = re.compile(r"[\w.+\-\\\s]*")


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> float:
    raise _NotJson(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise _NotJson(f"the number {text[:20]} is too large")
    return value


# Python's json reads NaN, Infinity and 1e999 (as inf); none of them is JSON, and a database's
# JSON check (and every other JSON reader) refuses them, so they are refused here.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
NOT_JSON_HINT = "write null or a finite number instead"
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
FLAT_HINT = "give a JSON array of objects, or JSON Lines (one JSON object per line)"
TOO_DEEP = "the record nests arrays or objects too deeply to read"
DEEP_HINT = "flatten the record: a few levels of nesting are all a training example needs"
# Python refuses to read an integer of more than sys.get_int_max_str_digits() digits (4,300 by
# default: converting longer ones takes quadratic time) with a plain ValueError.
TOO_LONG = "a number has more digits than can be read (over 4,300)"
LONG_HINT = "write a number that long as text, in quotes"

OnBadRow = Callable[[FormatError], None]


def kind_of(value: object) -> str:
    """How a JSON value reads to a person: "text", "a number", "an array"…"""
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return "an array" if isinstance(value, list) else "an object"


# --- decoding bytes --------------------------------------------------------------------------


class Utf8Text(io.TextIOBase):
    """A text stream over UTF-8 bytes (a BOM is dropped) that reports bad bytes as FormatError."""

    def __init__(self, raw: BinaryIO, *, owns: bool = False):
        self._raw = raw
        self._owns = owns
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._buf = ""
        self._pos = 0
        self._bytes = 0  # bytes handed to the decoder so far
        self._lines = 0  # newlines decoded so far
        self._eof = False
        self._started = False

    def readable(self) -> bool:
        return True

    def _more(self, want: int = CHUNK) -> bool:
        """Decode about `want` more bytes (at least one chunk) into the buffer; False at the
        end of the input. One join per call: a huge record grows the buffer in a few large
        steps, not a megabyte at a time (each step copies the whole buffer)."""
        parts = []
        got = 0
        while not self._eof and (got < want or not parts):
            data = self._raw.read(max(CHUNK, want - got))
            self._eof = not data
            pending = self._decoder.getstate()[0]
            try:
                text = self._decoder.decode(data, final=self._eof)
            except UnicodeDecodeError as e:
                offset = self._bytes - len(pending) + e.start
                line = self._lines + (pending + data)[: e.start].count(b"\n") + 1
                bad = e.object[e.start : e.end].hex(" ")
                raise FormatError(
                    line,
                    f"the file is not UTF-8 text: byte {offset} ({bad}) cannot be decoded",
                    hint="save the file as UTF-8",
                ) from None
            self._bytes += len(data)
            got += len(data)
            if not self._started and text:
                self._started = True
                text = text.removeprefix("\ufeff")
            if text:
                self._lines += text.count("\n")
                parts.append(text)
        if not parts:
            return False
        self._buf = self._buf[self._pos :] + "".join(parts)
        self._pos = 0
        return True

    def read(self, size: int | None = -1) -> str:
        if size is None or size < 0:
            while self._more():
                pass
            text, self._buf, self._pos = self._buf[self._pos :], "", 0
            return text
        # All of `size` when the input has it: a reader that asks for more (the JSON array
        # reader doubles its read-ahead inside a huge record) must get more, or it re-parses
        # a growing record a megabyte at a time.
        missing = size - (len(self._buf) - self._pos)
        while missing > 0 and self._more(missing):
            missing = size - (len(self._buf) - self._pos)
        text = self._buf[self._pos : self._pos + size]
        self._pos += len(text)
        return text

    def readline(self, size: int | None = -1) -> str:
        searched, want = self._pos, CHUNK
        while True:
            end = self._buf.find("\n", searched)
            if end >= 0:
                break
            searched = len(self._buf) - self._pos  # where the search resumes once rebased
            if not self._more(want):
                break
            want *= 2  # a line of many chunks costs a few copies, not one per chunk
        end = len(self._buf) if end < 0 else end + 1
        text = self._buf[self._pos : end]
        self._pos = end
        return text

    def close(self) -> None:
        if self._owns and not self.closed:
            self._raw.close()
        super().close()


def open_text(source: str | os.PathLike | BinaryIO | IO[str]) -> IO[str]:
    """Open a path or wrap a binary stream as UTF-8 text; a text stream is returned as is."""
    if isinstance(source, str | os.PathLike):
        return Utf8Text(open(source, "rb"), owns=True)  # noqa: SIM115 - closed with the wrapper
    if isinstance(source, io.TextIOBase):
        return source
    return Utf8Text(source)


# --- reading ---------------------------------------------------------------------------------


class _Buffer:
    """A window on the stream: `text[pos:]` is unread, `line` is the line number at `pos`."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.text = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def fill(self, size: int | None = None) -> bool:
        if self.eof:
            return False
        data = self.stream.read(size or CHUNK)
        if not data:
            self.eof = True
            return False
        self.text = self.text[self.pos :] + data
        self.pos = 0
        return True

    def advance(self, end: int) -> None:
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end

    def skip_ws(self) -> None:
        while True:
            self.advance(_WS.match(self.text, self.pos).end())
            if self.pos < len(self.text) or not self.fill():
                return

    def peek(self) -> str:
        """The next unread character after whitespace, "" at the end of the file."""
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def line_at(self, pos: int) -> int:
        return self.line + self.text.count("\n", self.pos, pos)


def _maybe_cut(e: json.JSONDecodeError) -> bool:
    """Whether a decode error could come from the text ending early rather than bad JSON."""
    return e.msg.startswith("Unterminated string") or e.pos >= len(e.doc) - 8


def _cut_at_end(e: json.JSONDecodeError) -> bool:
    """At the end of the file: whether the error is the text running out (truncation)."""
    return (
        e.msg.startswith("Unterminated string")
        or _PARTIAL_TOKEN.fullmatch(e.doc, e.pos) is not None
    )


class ObjectStream:
    """Iterates `(line, index, obj)` over a JSON array or JSON Lines text stream.

    `is_array` tells the two apart once iteration has started (errors in a JSON array also
    name the record index). With `on_bad_row`, rows that can be skipped (a JSON Lines line
    that is not valid JSON, a record that is not an object) are reported to it and skipped;
    damage that hides where the next record starts always raises.
    """

    def __init__(self, stream: IO[str], *, on_bad_row: OnBadRow | None = None):
        self._stream = stream
        self._on_bad_row = on_bad_row
        self.is_array = False

    def _bad(self, error: FormatError) -> None:
        if self._on_bad_row is None:
            raise error
        self._on_bad_row(error)

    def __iter__(self) -> Iterator[tuple[int, int, dict]]:
        buf = _Buffer(self._stream)
        buf.fill()
        if buf.text.startswith("\ufeff"):
            buf.pos = 1
        first = buf.peek()
        if first == "":
            raise FormatError(1, "the file is empty", hint=FLAT_HINT)
        if first == "[":
            self.is_array = True
            return self._array(buf)
        if first == "{":
            return self._lines(buf)
        raise self._not_rows(buf)

    def _not_rows(self, buf: _Buffer) -> FormatError:
        try:
            value, _ = _DECODER.raw_decode(buf.text, buf.pos)
        except (ValueError, RecursionError):
            found = buf.text[buf.pos : buf.pos + 20].split("\n")[0]
            return FormatError(
                buf.line,
                f"the file does not start with a JSON array or object (it starts {found!r})",
                hint=FLAT_HINT + "; for a spreadsheet choose the csv format",
            )
        return FormatError(
            buf.line,
            f"the file holds a single JSON value ({kind_of(value)}), not rows",
            hint=FLAT_HINT,
        )

    def _array(self, buf: _Buffer) -> Iterator[tuple[int, int, dict]]:
        buf.advance(buf.pos + 1)
        index = 0
        if buf.peek() == "]":
            buf.advance(buf.pos + 1)
            self._end(buf)
            return
        while True:
            if buf.peek() == "":
                raise self._cut(buf, index)
            line = buf.line
            obj, escapes = self._decode(buf, index)
            if escapes and (bad := _unpaired_surrogate(obj)):
                self._bad(_surrogate_error(line, bad, index))
            elif type(obj) is dict:
                yield line, index, obj
            else:
                self._bad(
                    FormatError(
                        line,
                        f"the record is {kind_of(obj)}, not a JSON object",
                        index=index,
                        hint=FLAT_HINT,
                    )
                )
            index += 1
            sep = buf.peek()
            if sep == ",":
                comma_line = buf.line
                buf.advance(buf.pos + 1)
                if buf.peek() == "]":
                    raise FormatError(
                        comma_line,
                        "the JSON array has a trailing comma after its last record",
                        index=index - 1,
                        hint="remove the comma before the closing ]",
                    )
                continue
            if sep == "]":
                buf.advance(buf.pos + 1)
                self._end(buf)
                return
            if sep == "":
                raise self._cut(
                    buf, index - 1, "the file ends after this record without closing the JSON array"
                )
            raise FormatError(
                buf.line,
                f"expected a comma or ] after the record but found {sep!r}",
                index=index - 1,
                hint="separate the records of a JSON array with commas",
            )

    def _decode(self, buf: _Buffer, index: int) -> tuple[object, bool]:
        """The next JSON value, and whether its text has surrogate escapes (\\udxxx)."""
        size = None
        while True:
            try:
                obj, end = _DECODER.raw_decode(buf.text, buf.pos)
            except json.JSONDecodeError as e:
                if _maybe_cut(e) and buf.fill(size):
                    size = (
                        size or CHUNK
                    ) * 2  # a huge record: read ahead faster than re-parsing it grows
                    continue
                if buf.eof and _cut_at_end(e):
                    raise self._cut(buf, index) from None
                start = buf.text.rfind("\n", 0, e.pos)
                column = f" at column {e.pos - start}" if start >= 0 else ""
                raise FormatError(
                    buf.line_at(e.pos),
                    f"the record is not valid JSON: {e.msg}{column}",
                    index=index,
                    hint="correct the JSON syntax there (a missing comma or quote is the usual "
                    "cause)",
                ) from None
            except RecursionError:
                raise FormatError(buf.line, TOO_DEEP, index=index, hint=DEEP_HINT) from None
            except _NotJson as e:
                raise FormatError(buf.line, str(e), index=index, hint=NOT_JSON_HINT) from None
            except ValueError:
                raise FormatError(buf.line, TOO_LONG, index=index, hint=LONG_HINT) from None
            escapes = _has_surrogate_escape(buf.text, buf.pos, end)
            buf.advance(end)
            return obj, escapes

    @staticmethod
    def _cut(
        buf: _Buffer, index: int, message: str = "the file ends inside this record"
    ) -> FormatError:
        end = len(buf.text.rstrip())
        line = buf.line_at(end) if end >= buf.pos else buf.line - buf.text.count("\n", end, buf.pos)
        return FormatError(
            line,
            message + " (truncated JSON)",
            index=index,
            hint="the file looks cut off: export or download it again, or close the array with ]",
        )

    @staticmethod
    def _end(buf: _Buffer) -> None:
        if buf.peek() != "":
            raise FormatError(
                buf.line,
                "there is more text after the closing ] of the JSON array",
                hint="keep one JSON array per file, or use JSON Lines",
            )

    def _lines(self, buf: _Buffer) -> Iterator[tuple[int, int, dict]]:
        line, index = buf.line, 0
        # The unfinished line so far, in pieces: joined once its newline arrives, so one
        # huge line costs one copy, not one per chunk.
        pending = [buf.text[buf.pos :]]
        while True:
            data = self._stream.read(CHUNK)
            if data and "\n" not in data:
                pending.append(data)
                continue
            parts = ("".join(pending) + data).split("\n")
            pending = [parts.pop()] if data else []
            for text in parts:
                if text and not text.isspace():
                    obj = self._line(line, index, text)
                    if obj is not None:
                        yield line, index, obj
                    index += 1
                line += 1
            if not data:
                return

    def _line(self, line: int, index: int, text: str) -> dict | None:
        try:
            obj = _DECODER.decode(text)
        except json.JSONDecodeError as e:
            hint = "JSON Lines needs one complete JSON object on every line"
            if index == 0 and text.strip() == "{":
                hint = "this looks like pretty-printed JSON: " + FLAT_HINT
            self._bad(
                FormatError(
                    line, f"the line is not valid JSON: {e.msg} at column {e.colno}", hint=hint
                )
            )
            return None
        except RecursionError:
            self._bad(FormatError(line, TOO_DEEP, hint=DEEP_HINT))
            return None
        except _NotJson as e:
            self._bad(FormatError(line, str(e), hint=NOT_JSON_HINT))
            return None
        except ValueError:
            self._bad(FormatError(line, TOO_LONG, hint=LONG_HINT))
            return None
        if type(obj) is not dict:
            self._bad(
                FormatError(
                    line, f"the line holds {kind_of(obj)}, not a JSON object", hint=FLAT_HINT
                )
            )
            return None
        if _has_surrogate_escape(text, 0, len(text)) and (bad := _unpaired_surrogate(obj)):
            self._bad(_surrogate_error(line, bad, None))
            return None
        return obj


def _has_surrogate_escape(text: str, start: int, end: int) -> bool:
    """A cheap test before the walk: only a \\udxxx escape can put a surrogate in a string."""
    return text.find("\\ud", start, end) >= 0 or text.find("\\uD", start, end) >= 0


def _unpaired_surrogate(obj: object) -> str:
    """The first unpaired surrogate in `obj`'s strings and keys ("" if none): such text is not
    Unicode, so it can be neither stored nor written back out as UTF-8."""
    try:
        _ENCODE(obj).encode()
    except UnicodeEncodeError as e:
        return e.object[e.start : e.end]
    return ""


def unpaired_surrogate(text: str, obj: object) -> str:
    """The first unpaired surrogate in `obj`, parsed from the JSON `text` ("" if none); cheap
    when the text has no \\udxxx escape, the only way JSON text can spell one."""
    return _unpaired_surrogate(obj) if _has_surrogate_escape(text, 0, len(text)) else ""


def _surrogate_error(line: int, bad: str, index: int | None) -> FormatError:
    escape = f"\\u{ord(bad[0]):04x}"
    return FormatError(
        line,
        f"the record holds the escape {escape}, half of a surrogate pair with no other half, "
        "which is not a character",
        index=index,
        hint="remove the escape, or write the character it was meant to be",
    )


def loads(text: str) -> object:
    """A JSON value from JSON text (inside a field, such as ShareGPT's tools), as strict as the
    reader: NaN, Infinity, nesting too deep and numbers too long raise json.JSONDecodeError
    too."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError:
        raise
    except _NotJson as e:
        raise json.JSONDecodeError(str(e), text, 0) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except ValueError:
        raise json.JSONDecodeError(TOO_LONG, text, 0) from None


def iter_objects(stream: IO[str], *, on_bad_row: OnBadRow | None = None) -> ObjectStream:
    """`(line, index, obj)` for each record of a JSON array or JSON Lines stream."""
    return ObjectStream(stream, on_bad_row=on_bad_row)


def read_rows(
    stream: IO[str], parse: Callable[[dict], Row], *, on_bad_row: OnBadRow | None = None
) -> Iterator[Row]:
    """Rows parsed from each record by `parse`, which raises BadRow for a record it rejects."""
    objects = ObjectStream(stream, on_bad_row=on_bad_row)
    for line, index, obj in objects:
        try:
            row = parse(obj)
        except BadRow as e:
            error = FormatError(
                line, e.message, index=index if objects.is_array else None, hint=e.hint
            )
            if on_bad_row is None:
                raise error from None
            on_bad_row(error)
            continue
        row.line = line
        row.index = index
        yield row


# --- writing ---------------------------------------------------------------------------------


@dataclass
class Written:
    """What a writer wrote: the row count and every top-level key used."""

    rows: int = 0
    keys: set[str] = field(default_factory=set)


def write_objects(objs: Iterable[dict], stream: IO[str], *, array: bool = False) -> Written:
    """Write objects as JSON Lines, or as a JSON array with one record per line."""
    written = Written()
    keys = written.keys
    batch: list[str] = ["[\n"] if array else []
    sep = ",\n" if array else "\n"
    n = 0
    for obj in objs:
        keys.update(obj)
        if array and n:
            batch.append(sep)
        batch.append(_ENCODE(obj))
        if not array:
            batch.append(sep)
        n += 1
        if len(batch) >= 2000:
            stream.write("".join(batch))
            batch.clear()
    if array:
        batch.append("\n]\n" if n else "]\n")
    stream.write("".join(batch))
    written.rows = n
    return written


def dumps(obj: object) -> str:
    """Compact JSON text that keeps non-ASCII characters as they are."""
    return _ENCODE(obj)
