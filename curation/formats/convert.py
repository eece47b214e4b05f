"""Views of a Row in the shape another format needs; raise when the information does not fit.

Instruction rows become chats as LLaMA-Factory does: history pairs, then one user turn of
`instruction` + "\\n" + `input` (when `input` is not empty), then the `output`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Row, write_error

CHAT_FORMATS = "sharegpt or openai_chat"


def prompt_text(row: Row) -> str:
    """The user turn of an instruction row: instruction, then input on the next line."""
    if row.instruction is None:
        raise write_error(row, '"instruction" is empty', hint="give the row an instruction")
    return f"{row.instruction}\n{row.input}" if row.input else row.instruction


def chat(row: Row) -> list[dict]:
    """The row's messages (for preference rows: the prompt), without the system prompt."""
    if row.kind == "conversation":
        return row.messages or []
    messages: list[dict] = []
    for question, answer in row.history or ():
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": prompt_text(row)})
    if row.chosen is None and row.rejected is None:
        if row.output is None:
            raise write_error(row, '"output" is empty', hint="give the row an answer")
        messages.append({"role": "assistant", "content": row.output})
    return messages


def is_plain(message: dict) -> bool:
    """A message that is nothing but a role and text (a weight of 1 is the default anyway)."""
    if not isinstance(message.get("content"), str):
        return False
    return all(k in ("role", "content") or (k == "weight" and v == 1) for k, v in message.items())


@dataclass
class Pair:
    """An instruction row's fields, taken from either kind of row."""

    system: str | None
    instruction: str
    input: str | None
    output: str | None
    history: list | None


def instruction_pair(row: Row, fmt: str) -> Pair:
    """The row as Alpaca fields; a conversation must be alternating user/assistant text."""
    preference = row.chosen is not None or row.rejected is not None
    if row.kind != "conversation":
        if row.instruction is None:
            raise write_error(row, '"instruction" is empty', hint="give the row an instruction")
        if row.output is None and not preference:
            raise write_error(row, '"output" is empty', hint="give the row an answer")
        if row.tools:
            raise write_error(
                row,
                f"the row has tools, which {fmt} cannot hold",
                hint=f"export it as {CHAT_FORMATS}",
            )
        return Pair(row.system, row.instruction, row.input, row.output, row.history)
    if row.tools:
        raise write_error(
            row, f"the row has tools, which {fmt} cannot hold", hint=f"export it as {CHAT_FORMATS}"
        )
    texts = []
    for i, message in enumerate(row.messages or ()):
        expected = "user" if i % 2 == 0 else "assistant"
        if message.get("role") != expected or not is_plain(message):
            raise write_error(
                row,
                f"message {i} ({message.get('role')}) does not fit {fmt}, which holds only "
                "alternating user and assistant text",
                hint=f"export conversations with tool calls, other roles or extra fields as "
                f"{CHAT_FORMATS}",
            )
        texts.append(message["content"])
    if len(texts) % 2 != (1 if preference else 0) or not texts:
        last = "a user message" if preference else "an assistant answer"
        raise write_error(
            row, f"the conversation does not end with {last}", hint=f"export it as {CHAT_FORMATS}"
        )
    output = None if preference else texts.pop()
    instruction = texts.pop()
    history = [[texts[k], texts[k + 1]] for k in range(0, len(texts), 2)] or None
    return Pair(row.system, instruction, "", output, history)


def answers(row: Row, fmt: str) -> tuple[list[dict], list[dict]]:
    """The chosen and rejected answers of a preference row."""
    if row.chosen is None or row.rejected is None:
        raise write_error(
            row,
            f"the row has no chosen and rejected answers, which {fmt} needs",
            hint="export rows without a preference pair in an SFT format such as alpaca or "
            "openai_chat",
        )
    return row.chosen, row.rejected


def single_text(row: Row, messages: list[dict], which: str, fmt: str) -> str:
    """The text of a one-message answer, for formats that hold an answer as a string."""
    if len(messages) != 1 or messages[0].get("role") != "assistant" or not is_plain(messages[0]):
        raise write_error(
            row,
            f'"{which}" is not a single assistant text, which {fmt} needs',
            hint="export it as messages_preference, openai_dpo or conversational trl_preference",
        )
    return messages[0]["content"]


def no_preference(row: Row, fmt: str) -> None:
    if row.chosen is not None or row.rejected is not None:
        raise write_error(
            row,
            f"the row is preference data (chosen/rejected), which {fmt} cannot hold",
            hint="export it in a preference format such as alpaca_preference or "
            "messages_preference",
        )


def add_extra(row: Row, obj: dict, reserved: frozenset[str] | set[str]) -> dict:
    """`obj` plus the row's unknown top-level keys; a clash with a format key is an error."""
    for key, value in row.extra.items():
        if key in reserved or key in obj:
            raise write_error(
                row,
                f'the extra field "{key}" clashes with a field of this format',
                hint=f'rename or remove "{key}" before exporting',
            )
        obj[key] = value
    return obj


def source_meta(row: Row, fmt: str) -> dict:
    """The row's meta when it was read in `fmt` (only then does it describe this format)."""
    meta = row.meta
    return meta if meta.get("format") == fmt else {}


def lift_system(messages: list[dict]) -> tuple[str | None, list[dict]]:
    """Split a leading plain system message (just role and text) off a message list."""
    if messages:
        first = messages[0]
        if first.get("role") == "system" and len(first) == 2 and type(first.get("content")) is str:
            if next(iter(first)) == "role":
                return first["content"], messages[1:]
    return None, messages


def with_system(row: Row, messages: list[dict]) -> list[dict]:
    """`messages` with the row's system prompt put back in front as a system message."""
    if row.system is None:
        return messages
    return [{"role": "system", "content": row.system}, *messages]
