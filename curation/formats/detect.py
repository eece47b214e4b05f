"""Guess a file's format from its first kilobytes, before anything is imported."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass

from . import csv_in, jsonio
from .base import FormatError

SAMPLE_ROWS = 20
_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')


@dataclass(frozen=True)
class Detection:
    name: str
    confidence: float  # 0..1
    reason: str


def _names() -> str:
    from . import FORMATS

    return ", ".join(name for name, m in FORMATS.items() if "read" in m.CAPABILITIES)


def _sample(head: str) -> list[dict]:
    """The complete records at the start of `head` (the last one may be cut off)."""
    objs = []
    try:
        for _, _, obj in jsonio.iter_objects(io.StringIO(head), on_bad_row=lambda e: None):
            objs.append(obj)
            if len(objs) == SAMPLE_ROWS:
                break
    except FormatError:
        pass  # the sample ends inside a record
    return objs


def _list(value: object) -> list:
    return value if type(value) is list else []


def _roles(messages: object) -> set:
    if type(messages) is not list:
        return set()
    return {m.get("role") for m in messages if type(m) is dict and type(m.get("role")) is str}


def _classify(obj: dict) -> tuple[str, float, str] | None:
    keys = obj.keys()
    if "conversations" in keys:
        extra = " with chosen/rejected" if "chosen" in keys else ""
        return "sharegpt", 1.0, f'"conversations" of from/value turns{extra}'
    if "input" in keys and "preferred_output" in keys:
        return "openai_dpo", 1.0, '"input", "preferred_output" and "non_preferred_output"'
    if "messages" in keys:
        messages = obj["messages"]
        if type(obj.get("chosen")) is dict:
            return (
                "messages_preference",
                1.0,
                '"messages" with one "chosen" and one "rejected" message',
            )
        roles = _roles(messages)
        if roles & {"function_call", "observation"} or type(obj.get("tools")) is str:
            return (
                "sharegpt_messages",
                0.9,
                "role/content messages with LLaMA-Factory tool turns "
                '("function_call"/"observation")',
            )
        openai_keys = {"tool_calls", "tool_call_id", "weight"}
        if "tool" in roles or any(
            type(m) is dict and m.keys() & openai_keys for m in _list(messages)
        ):
            return "openai_chat", 1.0, "OpenAI messages with tool_calls, tool results or weights"
        return (
            "openai_chat",
            0.8,
            "role/content messages (sharegpt_messages has the same shape without tool turns)",
        )
    if {"prompt", "chosen", "rejected"} <= keys:
        style = "conversational" if type(obj["prompt"]) is list else "standard"
        return "trl_preference", 1.0, f'"prompt", "chosen" and "rejected" ({style})'
    if {"instruction", "chosen", "rejected"} <= keys:
        return "alpaca_preference", 1.0, '"instruction" with "chosen" and "rejected"'
    if {"instruction", "output"} <= keys:
        return "alpaca", 1.0, '"instruction" and "output"'
    if "instruction" in keys:
        return "alpaca", 0.5, '"instruction" but no "output" seen'
    if list(keys) == ["text"]:
        return (
            "template_text",
            0.9,
            'only "text" (prompt-template text, which can be exported but not imported)',
        )
    return None


def detect(head_text: str) -> Detection:
    """The most likely format of a file that starts with `head_text`."""
    text = head_text.lstrip("\ufeff \t\r\n")
    if not text:
        raise FormatError(1, "the file is empty", hint=jsonio.FLAT_HINT)
    if text[0] in "[{":
        objs = _sample(text)
        partial = not objs
        if partial:  # even the first record is longer than the sample: go by its key names
            objs = [dict.fromkeys(_KEY.findall(text[:65536]))]
        votes = Counter()
        reasons = {}
        for obj in objs:
            found = _classify(obj)
            if found:
                votes[found[0]] += found[1]
                reasons.setdefault(found[0], found[2])
        if not votes:
            keys = ", ".join(f'"{k}"' for k in list(objs[0])[:8])
            raise FormatError(
                1,
                f"could not tell the format from the keys {keys or '(none)'}",
                hint="name the format: " + _names(),
            )
        name, score = votes.most_common(1)[0]
        confidence = score / len(objs) * (0.5 if partial else 1.0)
        where = "the first record (cut off)" if partial else f"{len(objs)} sampled rows"
        reason = f"{reasons[name]} in {where}"
        if len(votes) > 1:
            reason += "; other rows look like " + ", ".join(n for n in votes if n != name)
        return Detection(name, round(confidence, 2), reason)
    try:
        header = next(csv.reader([text.split("\n", 1)[0]]))
    except csv.Error:  # e.g. a quoted first cell over the csv module's field limit
        header = []
    if len(header) > 1:
        known = set(header) & set(csv_in.FIELDS)
        complete = {"instruction", "output"} <= known or {
            "instruction",
            "chosen",
            "rejected",
        } <= known
        columns = ", ".join(header[:8])
        return Detection("csv", 0.9 if complete else 0.5, f"a comma-separated header: {columns}")
    raise FormatError(
        1,
        f"could not tell the format: the file starts {text[:30]!r}",
        hint="name the format: " + _names(),
    )
