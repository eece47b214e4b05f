"""Alpaca preference (LLaMA-Factory `ranking`): `instruction`, `input`, `chosen`, `rejected` text.

Optional `system` and `history` as in Alpaca. In a Row, `chosen`/`rejected` are one assistant
message each and `output` stays None.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from . import convert, jsonio
from .alpaca import dump_prompt, parse_prompt
from .base import BadRow, Row

NAME = "alpaca_preference"
CAPABILITIES = ("read", "write")
KNOWN = frozenset(("instruction", "input", "chosen", "rejected", "system", "history"))
_ORDER = ("instruction", "input", "chosen", "rejected", "system", "history")


def _parse(obj: dict) -> Row:
    row = Row(meta={"format": NAME})
    parse_prompt(obj, row, KNOWN, _ORDER)
    for key in ("chosen", "rejected"):
        value = obj.get(key)
        if type(value) is not str:
            raise BadRow(
                f'"{key}" is missing or not text',
                hint='give every row "chosen" and "rejected" answers as text',
            )
        setattr(row, key, [{"role": "assistant", "content": value}])
    return row


def read(stream: IO[str], *, on_bad_row: jsonio.OnBadRow | None = None) -> Iterator[Row]:
    return jsonio.read_rows(stream, _parse, on_bad_row=on_bad_row)


def dump(row: Row) -> dict:
    chosen, rejected = convert.answers(row, NAME)
    answer = {
        "chosen": convert.single_text(row, chosen, "chosen", NAME),
        "rejected": convert.single_text(row, rejected, "rejected", NAME),
    }
    return dump_prompt(row, NAME, convert.instruction_pair(row, NAME), answer, KNOWN)


def write(rows: Iterable[Row], stream: IO[str], *, array: bool = False) -> jsonio.Written:
    return jsonio.write_objects(map(dump, rows), stream, array=array)
