"""The canonical row every format reads into and writes from, and the format errors."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Row:
    """One training example, whatever file it came from.

    `kind` is "instruction" (an Alpaca-style pair in `instruction`/`input`/`output`) or
    "conversation" (OpenAI-style `messages`). Preference data keeps the prompt in the same
    fields and the candidate answers in `chosen`/`rejected` as lists of assistant messages.
    `system` is the system prompt for both kinds (a leading system message is lifted out of
    `messages`). `meta` records how the source spelt things, so that writing back in the
    source format (`meta["format"]`) reproduces it exactly; other formats ignore it.
    """

    kind: str = "instruction"
    system: str | None = None
    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    history: list | None = None
    messages: list[dict] | None = None
    tools: list | None = None
    chosen: list[dict] | None = None
    rejected: list[dict] | None = None
    extra: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    line: int = 0
    index: int = 0


class FormatError(ValueError):
    """A file or row that a format cannot read or write: what, where, and how to fix it."""

    def __init__(self, line: int, message: str, *, index: int | None = None, hint: str = ""):
        self.line = line
        self.index = index
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = (
            f"line {self.line}" if self.index is None else f"line {self.line} (record {self.index})"
        )
        text = f"{where}: {self.message}."
        if not self.hint:
            return text
        return f"{text} Fix: {self.hint.rstrip('.')}."


class BadRow(ValueError):
    """A row-level problem raised by a format's parser; the reader adds line and record."""

    def __init__(self, message: str, *, hint: str = ""):
        self.message = message
        self.hint = hint
        super().__init__(message)


def write_error(row: Row, message: str, hint: str = "") -> FormatError:
    """An error about a row being written, located at its source line and record."""
    return FormatError(row.line, message, index=row.index, hint=hint)


def ordered(obj: dict, order: list | None) -> dict:
    """`obj` with its keys in the source's `order`, when that order still fits the keys."""
    if order and len(order) == len(obj) and set(order) == obj.keys():
        return {key: obj[key] for key in order}
    return obj


def key_order(obj: dict, default: list) -> list | None:
    """The source's key order when it differs from what a writer produces by default."""
    keys = list(obj)
    return None if keys == default else keys
