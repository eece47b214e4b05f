"""Writing an export's files: rows rebuilt from database values, the format's own `dump`,
one JSON Lines file per split plus `all`, each hashed as it is written.

The split of a record that has none yet is only known once every record was read (the plan
ranks them all), so rows are written to `all` as they come and the train and test files are
copied out of it at the end, when the plan is handed over.

Plain Python with no Django in it, so a large export runs it in a helper process (`serve`)
while the exporting process goes on with the database work (reading the next rows, locking
the splits) on the other core.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, islice
from json import encoder as json_encoder
from pathlib import Path

from curation import formats, helper_process
from curation.formats import jsonio
from curation.formats.base import FormatError, Row
from curation.rowprep import JSON_CONTENT_FIELDS, ROW_FIELDS

SPLITS = ("train", "test")
#: Where the exporting process leaves the value chunks for `serve` (removed afterwards).
SPOOL = ".rows.spool"
MAX_ERRORS = 50
FLUSH_LINES = 2000
JSON_POSITIONS = tuple(
    i for i, name in enumerate(ROW_FIELDS) if name in JSON_CONTENT_FIELDS | {"extra", "meta"}
)
#: The split a row has before the plan is known (a record that was never exported).
OPEN = ""
# `extra` and `meta` repeat the same few short texts over a whole import ({"format":
# "alpaca"}); each distinct one is decoded once per export. Rows are read, never changed, on
# the way out, so sharing the decoded object is safe.
_SHARED_POSITIONS = tuple(ROW_FIELDS.index(name) for name in ("extra", "meta"))
_PLAIN_POSITIONS = tuple(i for i in JSON_POSITIONS if i not in _SHARED_POSITIONS)
_TEXT_POSITIONS = tuple(i for i in range(len(ROW_FIELDS)) if i not in JSON_POSITIONS)
_SHARED_MAX_CHARS = 200
_SHARED_MAX_ENTRIES = 1000
_CODES = {"train": 0, "test": 1, OPEN: 2}
_FLIP = bytes.maketrans(b"\x00\x01", b"\x01\x00")


def _line_encoder() -> Callable[[object], str]:
    """jsonio.dumps (same text) without its set-up on every call: the C encoder is made once,
    with no circular-reference bookkeeping (rows decoded from JSON cannot be circular)."""
    like = json.JSONEncoder(ensure_ascii=False)  # jsonio's encoder
    if json_encoder.c_make_encoder is None:
        return jsonio.dumps
    encode = json_encoder.c_make_encoder(
        None,
        like.default,
        json_encoder.encode_basestring,
        like.indent,
        like.key_separator,
        like.item_separator,
        like.sort_keys,
        like.skipkeys,
        like.allow_nan,
    )
    join = "".join
    return lambda obj: join(encode(obj, 0))


def dumper(
    format_name: str, template: str, *, tools: list | None = None, omit_tools: bool = False
) -> Callable[[Row], dict]:
    """The row -> object function of a format. In a format that holds tool schemas, a row
    without its own is written with `tools` (the project's); `omit_tools` writes none."""
    module = formats.get(format_name)
    if format_name == "template_text":
        return lambda row: {"text": module.render(row, template)}
    dump = module.dump
    if not getattr(module, "HOLDS_TOOLS", False) or not (tools or omit_tools):
        return dump

    def with_tools(row: Row) -> dict:
        # The row is built for this one write (RowBuilder), so setting its field is safe.
        if omit_tools:
            row.tools = None
        elif not row.tools:
            row.tools = tools
        return dump(row)

    return with_tools


def _load(value):
    if value is None or not isinstance(value, str | bytes):
        return value
    if value == "{}" or value == b"{}":
        return {}
    return json.loads(value)


class RowBuilder:
    """Rows from database value tuples: rowprep.ROW_FIELDS values (text, or its UTF-8 bytes;
    JSON columns as JSON text), then the record's pk and split (anything after is ignored).

    A record without a split yet takes "test" when its pk is in `to_test`, else "train"; with
    `to_test=None` it keeps the split OPEN, for write_files to settle with the plan.
    """

    def __init__(self, to_test: Collection[int] | None = frozenset()) -> None:
        self.to_test = to_test
        self.shared: dict[str, object] = {}

    def rows(self, chunk: Iterable[tuple]) -> Iterator[tuple[str, Row]]:
        n = len(ROW_FIELDS)
        shared, to_test = self.shared, self.to_test
        if len(shared) > _SHARED_MAX_ENTRIES:
            shared.clear()
        for item in chunk:
            values = list(item[:n])
            for i in _TEXT_POSITIONS:
                value = values[i]
                if value.__class__ is bytes:
                    values[i] = value.decode()
            for i in _PLAIN_POSITIONS:
                value = values[i]
                if value is not None:
                    values[i] = _load(value)
            for i in _SHARED_POSITIONS:
                value = values[i]
                if value is None:
                    continue
                if len(value) <= _SHARED_MAX_CHARS:
                    decoded = shared.get(value)
                    if decoded is None:
                        decoded = shared[value] = _load(value)
                    values[i] = decoded
                else:
                    values[i] = _load(value)
            pk = item[n]
            split = item[n + 1]
            if not split and to_test is not None:
                split = "test" if pk in to_test else "train"
            yield split, Row(*values, index=pk)


@dataclass
class WrittenFile:
    """One written file: its rows, the sha256 of its bytes and every top-level key used."""

    split: str
    path: Path
    rows: int = 0
    sha256: str = ""
    keys: set[str] = field(default_factory=set)


class _HashedFile:
    def __init__(self, split: str, path: Path) -> None:
        self.written = WrittenFile(split, path)
        self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.file.write(data)

    def close(self) -> WrittenFile:
        self.file.close()
        self.written.sha256 = self.sha.hexdigest()
        return self.written


def write_files(
    rows: Iterable[tuple[str, Row]],
    dump: Callable[[Row], dict],
    folder: Path,
    to_test: Callable[[], Collection[int]] = frozenset,
) -> tuple[dict[str, WrittenFile], list[dict], bool]:
    """Write `rows` (split, row) as train/test/all JSON Lines files in `folder`.

    A row whose split is OPEN goes to test when its index is in `to_test()`, asked once every
    row was read, else to train. Returns the files, the rows that do not fit the format (at
    most MAX_ERRORS; with any error the files are to be thrown away) and whether there were
    more.
    """
    every = _HashedFile("all", folder / "all.jsonl")
    errors: list[dict] = []
    more = False
    encode = _line_encoder()
    lines: list[str] = []
    splits = _Splits()
    try:
        for split, row in rows:
            try:
                obj = dump(row)
            except FormatError as e:
                if len(errors) >= MAX_ERRORS:
                    more = True
                    break
                errors.append(
                    {
                        "record": row.index,
                        "message": e.message,
                        "hint": e.hint,
                        "text": f"record #{row.index}: {e.message}",
                    }
                )
                continue
            if errors:
                continue
            lines.append(encode(obj))
            splits.add(split, row.index, obj)
            if len(lines) >= FLUSH_LINES:
                every.write(("\n".join(lines) + "\n").encode())
                lines = []
        if lines:
            every.write(("\n".join(lines) + "\n").encode())
    finally:
        every.close()
    every.written.rows = len(splits.codes)
    if errors:
        return {"all": every.written}, errors, more
    return {**splits.write(every.written.path, to_test()), "all": every.written}, errors, more


class _Splits:
    """Which split each line of all.jsonl goes to, for copying them out at the end."""

    def __init__(self) -> None:
        self.codes = bytearray()  # per line: _CODES of its split
        self.keys: tuple[set[str], set[str]] = (set(), set())  # train's and test's so far
        self.open_pks = array("q")  # the OPEN lines' row indexes (record pks)
        self.open_keys = array("I")  # and their top-level keys, as positions in key_ids
        self.key_ids: dict[tuple[str, ...], int] = {}

    def add(self, split: str, index: int, obj: dict) -> None:
        code = _CODES[split]
        self.codes.append(code)
        if code < 2:
            self.keys[code].update(obj)
            return
        self.open_pks.append(index)
        key = tuple(obj)
        key_id = self.key_ids.get(key)
        if key_id is None:
            key_id = self.key_ids[key] = len(self.key_ids)
        self.open_keys.append(key_id)

    def write(self, source: Path, to_test: Collection[int]) -> dict[str, WrittenFile]:
        """Copy each line of `source` to its split's file; OPEN ones by `to_test`."""
        in_test = bytes(pk in to_test for pk in self.open_pks)  # per OPEN line: 1 = test
        opened = iter(in_test)
        tests = bytes(code if code < 2 else next(opened) for code in self.codes)
        # Which lines go where as masks for itertools.compress, so the copying runs in C.
        masks = (tests.translate(_FLIP), tests)
        files = [_HashedFile(split, source.with_name(f"{split}.jsonl")) for split in SPLITS]
        try:
            with open(source, "rb") as lines:
                start = 0
                while block := list(islice(lines, FLUSH_LINES)):
                    end = start + len(block)
                    for file, mask in zip(files, masks, strict=True):
                        file.write(b"".join(compress(block, mask[start:end])))
                    start = end
            if start != len(tests):
                raise RuntimeError(f"{source} has {start} lines, not the {len(tests)} written")
        finally:
            written = [file.close() for file in files]
        key_sets = list(self.key_ids)
        open_in = (in_test.translate(_FLIP), in_test)
        for code, file in enumerate(written):
            file.rows = masks[code].count(1)
            file.keys = self.keys[code].union(
                *(key_sets[i] for i in set(compress(self.open_keys, open_in[code])))
            )
        return {file.split: file for file in written}


def serve(conn, format_name: str, template: str, folder: str, tools: dict) -> None:
    """Run in a helper process: write the files in `folder` from what `conn` announces, each
    a pickle in the folder's SPOOL file: ("rows", offset, size) for each chunk of value tuples
    (see RowBuilder), then ("plan", offset, size) for the pks planned for the test split
    among the records without a split; then answer ("done", files, errors, more) (or
    helper_process's "crash"). `tools` are dumper's keyword arguments."""

    def work() -> None:
        plan: tuple | None = None
        spool = os.open(Path(folder) / SPOOL, os.O_RDONLY)

        def load(offset: int, size: int):
            return pickle.loads(os.pread(spool, size, offset))

        def chunks() -> Iterator[tuple[str, Row]]:
            nonlocal plan
            builder = RowBuilder(None)
            while (message := conn.recv())[0] == "rows":
                yield from builder.rows(load(*message[1:]))
            plan = message

        try:
            result = write_files(
                chunks(),
                dumper(format_name, template, **tools),
                Path(folder),
                lambda: load(*plan[1:]),
            )
            while plan is None:  # stopped early on errors: take the rest of the announcements
                if (message := conn.recv())[0] == "plan":
                    plan = message
        finally:
            os.close(spool)
        conn.send(("done", *result))

    helper_process.serve(conn, work)
