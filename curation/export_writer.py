"""Writing an export's files: rows rebuilt from database values, the format's own `dump`,
one JSON Lines file per split plus `all`, each hashed as it is written.

Plain Python with no Django in it, so a large export runs it in a helper process (`serve`)
while the exporting process goes on with the database work (reading the next rows, locking
the splits) on the other core.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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
# `extra` and `meta` repeat the same few short texts over a whole import ({"format":
# "alpaca"}); each distinct one is decoded once per export. Rows are read, never changed, on
# the way out, so sharing the decoded object is safe.
_SHARED_POSITIONS = tuple(ROW_FIELDS.index(name) for name in ("extra", "meta"))
_PLAIN_POSITIONS = tuple(i for i in JSON_POSITIONS if i not in _SHARED_POSITIONS)
_SHARED_MAX_CHARS = 200
_SHARED_MAX_ENTRIES = 1000


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


def dumper(format_name: str, template: str) -> Callable[[Row], dict]:
    module = formats.get(format_name)
    if format_name == "template_text":
        return lambda row: {"text": module.render(row, template)}
    return module.dump


def _load(value):
    if value is None or not isinstance(value, str):
        return value
    if value == "{}":
        return {}
    return json.loads(value)


class RowBuilder:
    """Rows from database value tuples: rowprep.ROW_FIELDS values (JSON columns as text), then
    the record's pk and split.

    A record without a split yet takes "test" when its pk is in `to_test`, else "train".
    """

    def __init__(self, to_test: frozenset[int] = frozenset()) -> None:
        self.to_test = to_test
        self.shared: dict[str, object] = {}

    def rows(self, chunk: Iterable[tuple]) -> Iterator[tuple[str, Row]]:
        n = len(ROW_FIELDS)
        shared, to_test = self.shared, self.to_test
        if len(shared) > _SHARED_MAX_ENTRIES:
            shared.clear()
        for item in chunk:
            values = list(item[:n])
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
            split = item[n + 1] or ("test" if pk in to_test else "train")
            yield split, Row(*values, index=pk)


@dataclass
class WrittenFile:
    """One written file: its rows, the sha256 of its bytes and every top-level key used."""

    split: str
    path: Path
    rows: int = 0
    sha256: str = ""
    keys: set[str] = field(default_factory=set)


class _SplitFile:
    def __init__(self, split: str, path: Path) -> None:
        self.written = WrittenFile(split, path)
        self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.sha = hashlib.sha256()
        self.pending: list[bytes] = []

    def flush(self) -> None:
        data = b"".join(self.pending)
        self.sha.update(data)
        self.file.write(data)
        self.pending = []

    def close(self) -> WrittenFile:
        self.flush()
        self.file.close()
        self.written.sha256 = self.sha.hexdigest()
        return self.written


def write_files(
    rows: Iterable[tuple[str, Row]], dump: Callable[[Row], dict], folder: Path
) -> tuple[dict[str, WrittenFile], list[dict], bool]:
    """Write `rows` (split, row) as train/test/all JSON Lines files in `folder`.

    Returns the files, the rows that do not fit the format (at most MAX_ERRORS; with any
    error the files are to be thrown away) and whether there were more.
    """
    files = {split: _SplitFile(split, folder / f"{split}.jsonl") for split in (*SPLITS, "all")}
    every = files["all"]
    errors: list[dict] = []
    more = False
    encode = _line_encoder()
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
            line = (encode(obj) + "\n").encode()
            target = files[split]
            target.pending.append(line)
            target.written.keys.update(obj)
            target.written.rows += 1
            every.pending.append(line)
            every.written.rows += 1
            if len(every.pending) >= FLUSH_LINES:
                for f in files.values():
                    f.flush()
    finally:
        written = {split: f.close() for split, f in files.items()}
    return written, errors, more


def serve(conn, format_name: str, template: str, folder: str) -> None:
    """Run in a helper process: write the files in `folder` from what `conn` announces (the
    pks planned for the test split, then (offset, size) of each pickled chunk of value tuples
    in the folder's SPOOL file, then None), then answer ("done", files, errors, more) (or
    helper_process's "crash")."""

    def work() -> None:
        finished = False
        spool = os.open(Path(folder) / SPOOL, os.O_RDONLY)

        def chunks() -> Iterator[tuple[str, Row]]:
            nonlocal finished
            builder = RowBuilder(conn.recv())
            while (at := conn.recv()) is not None:
                offset, size = at
                yield from builder.rows(pickle.loads(os.pread(spool, size, offset)))
            finished = True

        try:
            result = write_files(chunks(), dumper(format_name, template), Path(folder))
            while not finished:  # stopped early on errors: take the rest of the announcements
                finished = conn.recv() is None
        finally:
            os.close(spool)
        conn.send(("done", *result))

    helper_process.serve(conn, work)
