"""CSV, import only: one row per record, a header naming the columns.

Columns map to Row fields by name (instruction, input, output, system, chosen, rejected);
`mapping={"instruction": "question", "output": "answer"}` names other columns. With chosen
and rejected columns the rows are Alpaca-preference rows. Other columns go to `Row.extra`
as text. CSV cannot tell an empty cell from a missing value: an empty cell is "".
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from .base import FormatError, Row
from .jsonio import OnBadRow

NAME = "csv"
CAPABILITIES = ("read",)
FIELDS = ("instruction", "input", "output", "system", "chosen", "rejected")


def read(
    stream: IO[str],
    *,
    mapping: dict[str, str] | None = None,
    delimiter: str = ",",
    on_bad_row: OnBadRow | None = None,
) -> Iterator[Row]:
    mapping = mapping or {}
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise FormatError(
            0,
            f'the mapping names "{unknown[0]}", which is not a field',
            hint="map these fields: " + ", ".join(FIELDS),
        )
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise FormatError(
            1, f"the CSV header is malformed ({e})", hint="save the file as CSV with a header row"
        ) from None
    if not header or not any(h.strip() for h in header):
        raise FormatError(1, "the file is empty", hint="give a header row and one row per record")
    header = [h.removeprefix("\ufeff") for h in header]
    columns = {field: mapping.get(field, field) for field in FIELDS}
    preference = columns["chosen"] in header or columns["rejected"] in header
    required = ("instruction", "chosen", "rejected") if preference else ("instruction", "output")
    for field in required:
        if columns[field] not in header:
            raise FormatError(
                1,
                f'the column "{columns[field]}" for "{field}" is missing; the file has the columns '
                + ", ".join(f'"{h}"' for h in header),
                hint=f'name the column to use, e.g. mapping={{"{field}": "{header[0]}"}}',
            )
    position = {field: header.index(col) for field, col in columns.items() if col in header}
    used = set(position.values())
    others = [(i, h) for i, h in enumerate(header) if i not in used]
    return _rows(reader, header, position, others, preference, on_bad_row)


def _rows(reader, header, position, others, preference, on_bad_row) -> Iterator[Row]:
    index, line = 0, reader.line_num + 1
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as e:
            raise FormatError(
                line,
                f"the CSV is malformed ({e})",
                index=index,
                hint="check the quoting around this row",
            ) from None
        if cells is None:
            return
        start, line = line, reader.line_num + 1
        if not cells:
            continue
        if len(cells) != len(header):
            error = FormatError(
                start,
                f"the row has {len(cells)} cells but the header has {len(header)} columns",
                index=index,
                hint="quote cells that contain the delimiter, and give every row all columns",
            )
            if on_bad_row is None:
                raise error
            on_bad_row(error)
            index += 1
            continue
        values = {field: cells[i] for field, i in position.items()}
        row = Row(
            instruction=values["instruction"],
            input=values.get("input"),
            output=None if preference else values["output"],
            system=values.get("system"),
            extra={h: cells[i] for i, h in others},
            meta={"format": NAME},
            line=start,
            index=index,
        )
        if preference:
            row.chosen = [{"role": "assistant", "content": values["chosen"]}]
            row.rejected = [{"role": "assistant", "content": values["rejected"]}]
        yield row
        index += 1
