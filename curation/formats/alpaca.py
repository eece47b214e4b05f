"""Alpaca: `instruction`, `input`, `output`, optional `system` and `history` ([[q, a], ...]).

Reads a JSON array or JSON Lines; writes JSON Lines, or a JSON array with `array=True`.
A conversation is written as Alpaca when it is alternating user/assistant text: the last
pair becomes `instruction`/`output` (with `input` ""), earlier pairs `history`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from . import convert, jsonio
from .base import BadRow, Row, key_order, ordered

NAME = "alpaca"
CAPABILITIES = ("read", "write")
PROMPT_KEYS = ("instruction", "input", "system", "history")
KNOWN = frozenset(("instruction", "input", "output", "system", "history"))
_ORDER = ("instruction", "input", "output", "system", "history")
_HINT = 'give every row both "instruction" and "output" as text'


def parse_prompt(obj: dict, row: Row, known: frozenset[str], order: tuple[str, ...]) -> None:
    """Fill the prompt fields shared by Alpaca and Alpaca preference, plus extra and meta."""
    instruction = obj.get("instruction")
    if type(instruction) is not str:
        raise BadRow('"instruction" is missing or not text', hint=_HINT)
    row.instruction = instruction
    for key in ("input", "system"):
        if key in obj:
            value = obj[key]
            if type(value) is not str:
                raise BadRow(
                    f'"{key}" is {jsonio.kind_of(value)}, not text',
                    hint=f'make "{key}" text, or leave it out',
                )
            setattr(row, key, value)
    if "history" in obj:
        history = obj["history"]
        if type(history) is not list or not all(
            type(pair) is list and len(pair) == 2 and all(type(t) is str for t in pair)
            for pair in history
        ):
            raise BadRow(
                '"history" is not a list of [question, answer] text pairs',
                hint='write "history" as [["q", "a"], ...]',
            )
        row.history = history
    if not obj.keys() <= known:
        row.extra = {k: v for k, v in obj.items() if k not in known}
    meta = {"format": row.meta["format"]}
    keys = key_order(obj, [k for k in order if k in obj] + list(row.extra))
    if keys:
        meta["keys"] = keys
    row.meta = meta


def _parse(obj: dict) -> Row:
    row = Row(meta={"format": NAME})
    parse_prompt(obj, row, KNOWN, _ORDER)
    output = obj.get("output")
    if type(output) is not str:
        raise BadRow('"output" is missing or not text', hint=_HINT)
    row.output = output
    return row


def read(stream: IO[str], *, on_bad_row: jsonio.OnBadRow | None = None) -> Iterator[Row]:
    return jsonio.read_rows(stream, _parse, on_bad_row=on_bad_row)


def dump_prompt(
    row: Row, fmt: str, pair: convert.Pair, answer: dict, known: frozenset[str]
) -> dict:
    obj = {"instruction": pair.instruction}
    if pair.input is not None:
        obj["input"] = pair.input
    obj.update(answer)
    if pair.system is not None:
        obj["system"] = pair.system
    if pair.history is not None:
        obj["history"] = pair.history
    convert.add_extra(row, obj, known)
    return ordered(obj, convert.source_meta(row, fmt).get("keys"))


def dump(row: Row) -> dict:
    convert.no_preference(row, NAME)
    pair = convert.instruction_pair(row, NAME)
    return dump_prompt(row, NAME, pair, {"output": pair.output}, KNOWN)


def write(rows: Iterable[Row], stream: IO[str], *, array: bool = False) -> jsonio.Written:
    return jsonio.write_objects(map(dump, rows), stream, array=array)
