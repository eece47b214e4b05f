"""TRL preference rows: `prompt`, `chosen`, `rejected`, either all text or all message lists.

Standard (text) rows become instruction rows (`instruction` = prompt, `input` None) with one
assistant message each in `chosen`/`rejected`; conversational rows become conversation rows
(`messages` = prompt, a plain leading system message lifted to `system`). TRL's implicit-prompt
rows (no `prompt`) are not read. Instruction rows are written in the standard style unless
`conversational=True`; conversation rows always in the conversational style.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from . import convert, jsonio
from .base import BadRow, Row, key_order, ordered, write_error
from .openai_chat import check_messages, parse_messages

NAME = "trl_preference"
CAPABILITIES = ("read", "write")
KNOWN = frozenset(("prompt", "chosen", "rejected"))
_ORDER = ["prompt", "chosen", "rejected"]
_HINT = 'give "prompt", "chosen" and "rejected" as text, or all three as lists of messages'


def _parse(obj: dict) -> Row:
    if "prompt" not in obj:
        raise BadRow('"prompt" is missing (implicit-prompt rows are not supported)', hint=_HINT)
    prompt, chosen, rejected = obj["prompt"], obj.get("chosen"), obj.get("rejected")
    if type(prompt) is str and type(chosen) is str and type(rejected) is str:
        row = Row(
            instruction=prompt,
            chosen=[{"role": "assistant", "content": chosen}],
            rejected=[{"role": "assistant", "content": rejected}],
        )
    elif type(prompt) is list:
        system, messages = parse_messages(prompt, "prompt")
        row = Row(
            kind="conversation",
            system=system,
            messages=messages,
            chosen=check_messages(chosen, "chosen"),
            rejected=check_messages(rejected, "rejected"),
        )
    else:
        raise BadRow('"prompt", "chosen" and "rejected" are not all text', hint=_HINT)
    if not obj.keys() <= KNOWN:
        row.extra = {k: v for k, v in obj.items() if k not in KNOWN}
    row.meta = {"format": NAME}
    keys = key_order(obj, [k for k in _ORDER if k in obj] + list(row.extra))
    if keys:
        row.meta["keys"] = keys
    return row


def read(stream: IO[str], *, on_bad_row: jsonio.OnBadRow | None = None) -> Iterator[Row]:
    return jsonio.read_rows(stream, _parse, on_bad_row=on_bad_row)


def dump(row: Row, *, conversational: bool = False) -> dict:
    chosen, rejected = convert.answers(row, NAME)
    if row.kind == "conversation" or conversational:
        obj = {
            "prompt": convert.with_system(row, convert.chat(row)),
            "chosen": chosen,
            "rejected": rejected,
        }
    else:
        if row.system is not None or row.history:
            raise write_error(
                row,
                "the row has a system prompt or history, which standard TRL rows cannot hold",
                hint="write conversational rows (conversational=True)",
            )
        obj = {
            "prompt": convert.prompt_text(row),
            "chosen": convert.single_text(row, chosen, "chosen", NAME),
            "rejected": convert.single_text(row, rejected, "rejected", NAME),
        }
    convert.add_extra(row, obj, KNOWN)
    return ordered(obj, convert.source_meta(row, NAME).get("keys"))


def write(
    rows: Iterable[Row], stream: IO[str], *, array: bool = False, conversational: bool = False
) -> jsonio.Written:
    return jsonio.write_objects(
        (dump(r, conversational=conversational) for r in rows), stream, array=array
    )
