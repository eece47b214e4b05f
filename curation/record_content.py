"""A record's content: the one place that says what its prompt and its answer are.

Everything that asks "what does this record answer?" asks here: the editor's state, the
stored `Record.tool_name` (records filter, split strata), import, export (corrected drafts as
preference pairs), drafting (the prompt to draft from), training rendering, and the
comparison's reference. No Django: child processes and the import helper use it too. It reads
anything with a record's content fields (a `Record`, a formats `Row`, a namespace).

The rule, for every shape the formats allow:

- **One reply is a run of assistant messages.** Consecutive assistant messages with no user
  or tool message between them answer the same turn, so they are one reply: read together,
  their texts joined by a blank line and their tool calls in order (`merge`).
- **A conversation's answer is its final reply**: the assistant messages after the last user
  or tool message. A conversation that ends on a user or tool message has no answer yet
  (it awaits one); the calls before it are history, not the answer.
    - `[user, call A]` -> call A;
    - `[user, call A, assistant "ok"]` -> one reply: call A with the text "ok";
    - `[user, "let me check", call A]` -> one reply: the text, then call A;
    - `[user, call A, user]` and `[user, call A, tool result]` -> no answer.
- **A record with candidates** (a non-empty `chosen`) answers with the chosen candidate;
  all of `messages` is then the prompt. `rejected` is the other candidate.
- **An instruction pair** answers with its `output`, or its chosen candidate's text.
- **The tool name** is the name of the first tool the answer calls; "" for a text answer
  and for no answer.
- **The reference** a comparison scores against is the answer's calls as
  `{"name", "arguments"}` when it calls tools, else its text.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from curation.formats.jsonio import loads

ASSISTANT = "assistant"
#: How many characters of each side a diff compares (difflib is quadratic in the worst case).
MAX_DIFF_CHARS = 4000


# --- messages --------------------------------------------------------------------------------


def _is_assistant(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") == ASSISTANT


def split(messages: list[dict] | None) -> tuple[list[dict], list[dict]]:
    """(prompt, final reply's messages): the trailing run of assistant messages is the reply."""
    messages = messages or []
    end = len(messages)
    while end and _is_assistant(messages[end - 1]):
        end -= 1
    return messages[:end], messages[end:]


def merge(run: list[dict]) -> dict | None:
    """One reply from a run of assistant messages (None for an empty run).

    A run of one message is that message as it is; longer runs join their texts with a blank
    line and list their tool calls in order.
    """
    if not run:
        return None
    if len(run) == 1:
        return run[0]
    texts = [m.get("content") for m in run if isinstance(m.get("content"), str) and m["content"]]
    calls = [call for m in run for call in (m.get("tool_calls") or [])]
    reply: dict = {"role": ASSISTANT, "content": "\n\n".join(texts) if texts else None}
    if calls:
        reply["tool_calls"] = calls
    return reply


def replies(messages: list[dict]) -> list[tuple[list[dict], dict]]:
    """(context, reply) for every reply of a conversation, a reply being a run of assistant
    messages merged (`merge`); the last one is the answer when the conversation ends on it."""
    out = []
    i = 0
    while i < len(messages):
        if not _is_assistant(messages[i]):
            i += 1
            continue
        end = i
        while end < len(messages) and _is_assistant(messages[end]):
            end += 1
        out.append((messages[:i], merge(messages[i:end])))
        i = end
    return out


def replies_with(messages: list[dict], candidate: list[dict] | None) -> list[tuple[list, dict]]:
    """`replies(messages)`, then a chosen `candidate` as a reply of its own to all of
    `messages` (a record with candidates answers after its whole prompt)."""
    out = replies(messages)
    if candidate:
        out.append((list(messages), merge(candidate)))
    return out


def instruction_messages(
    instruction: str,
    input: str = "",
    output: str | None = None,
    *,
    system: str = "",
    history: list[list[str]] | None = None,
) -> list[dict]:
    """An Alpaca row as messages; `output=None` leaves the answer off (for drafting). The
    user message keeps the input apart under an `input` key, so a prompt template can still
    fill `{instruction}` and `{input}` separately."""
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    for question, answer in history or []:
        messages += [{"role": "user", "content": question}]
        messages += [{"role": ASSISTANT, "content": answer}]
    user = {"role": "user", "content": instruction}
    if input:
        user["input"] = input
    messages.append(user)
    if output is not None:
        messages.append({"role": ASSISTANT, "content": output})
    return messages


# --- a record's parts ------------------------------------------------------------------------

_FIELDS = ("kind", "system", "instruction", "input", "output", "history", "messages", "chosen")


def _field(record: Any, name: str, content: dict | None = None) -> Any:
    """A content field of a Record, Row or dict, or of `content` (fields about to be
    written) where it has it."""
    if content and name in content:
        return content[name]
    if isinstance(record, dict):
        return record.get(name)
    return getattr(record, name, None)


def _fields(record: Any, content: dict | None = None) -> dict:
    return {name: _field(record, name, content) for name in _FIELDS}


def is_instruction(record: Any) -> bool:
    return _field(record, "kind") == "instruction"


def has_candidates(record: Any, content: dict | None = None) -> bool:
    """Whether the answer is a chosen candidate (and all of `messages` the prompt)."""
    return bool(_field(record, "chosen", content))


def answer_run(record: Any, content: dict | None = None) -> list[dict]:
    """The assistant messages the record answers with ([] when it has no answer)."""
    chosen = _field(record, "chosen", content)
    if chosen:
        return list(chosen)
    if _field(record, "kind", content) == "instruction":
        output = _field(record, "output", content)
        return [] if output is None else [{"role": ASSISTANT, "content": output}]
    return split(_field(record, "messages", content))[1]


def prompt_of(record: Any, content: dict | None = None) -> list[dict]:
    """A conversation's messages before its answer (all of them for a record with
    candidates); the system prompt is not among them."""
    messages = _field(record, "messages", content) or []
    if has_candidates(record, content):
        return list(messages)
    return split(messages)[0]


def answer(record: Any, content: dict | None = None) -> dict | str | None:
    """The answer as one value: an instruction pair's text, a conversation's reply (one
    assistant message), None when there is none. What the editor edits, agreement labels and
    the reviewer's diff compares."""
    reply = merge(answer_run(record, content))
    if is_instruction(record):
        if reply is None:
            return ""
        return reply.get("content") if isinstance(reply.get("content"), str) else ""
    return reply


def tool_name(record: Any) -> str:
    """Name of the first tool the answer calls ("" for a text answer or none), as stored in
    `Record.tool_name` (at most 100 characters)."""
    for message in answer_run(record):  # the merged reply's calls, without parsing arguments
        for call in (message.get("tool_calls") or ()) if isinstance(message, dict) else ():
            function = call.get("function", call) if isinstance(call, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            if isinstance(name, str):
                return name[:100]
    return ""


def chat_messages(record: Any, *, with_answer: bool = True) -> list[dict]:
    """A record as OpenAI-style messages, the system prompt first: what drafting, training
    and comparison feed to training.prompting. Without the answer: the prompt to draft from."""
    fields = _fields(record)
    answer_messages = [dict(m) for m in answer_run(record)] if with_answer else []
    if fields["kind"] == "instruction":
        output = None
        if answer_messages:
            output = merge(answer_messages).get("content") or ""
        return instruction_messages(
            fields["instruction"] or "",
            fields["input"] or "",
            output,
            system=fields["system"] or "",
            history=fields["history"],
        )
    messages = [{"role": "system", "content": fields["system"]}] if fields["system"] else []
    return messages + [dict(m) for m in prompt_of(record)] + answer_messages


# --- tool calls ------------------------------------------------------------------------------


def call_parts(call: Any) -> tuple[Any, Any]:
    """(name, arguments) of a call in either shape (OpenAI `{"function": {...}}` or bare
    `{"name", "arguments"}`); arguments given as JSON text are parsed when they parse."""
    if not isinstance(call, dict):
        return None, None
    function = call.get("function", call)
    if not isinstance(function, dict):
        return None, None
    return function.get("name"), arguments_of(function)


def arguments_of(call: dict) -> Any:
    """A call's arguments, parsed from JSON text when they are text that parses ({} for
    empty text); text that does not parse stays as it is."""
    function = call.get("function", call) if isinstance(call, dict) else {}
    arguments = function.get("arguments", {}) if isinstance(function, dict) else {}
    if isinstance(arguments, str):
        try:
            return loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:  # also too deep, NaN, a number past 4,300 digits
            return arguments
    return arguments


def calls(message: dict | None) -> list[tuple[Any, Any]]:
    """(name, arguments) of every tool call of an assistant message."""
    if not isinstance(message, dict):
        return []
    return [call_parts(call) for call in message.get("tool_calls") or ()]


def reference(message: dict | str | None) -> str | list[dict]:
    """What a comparison scores against: the calls as {"name", "arguments"} (arguments as
    written), else the text."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    found = message.get("tool_calls") or []
    if found:
        out = []
        for call in found:
            function = call.get("function", call) if isinstance(call, dict) else {}
            out.append(
                {"name": function.get("name", ""), "arguments": function.get("arguments", {})}
            )
        return out
    text = message.get("content")
    return text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)


def same_answer(a: dict | str | None, b: dict | str | None) -> bool:
    """Whether two answers say the same: the same calls (name and parsed arguments) when
    either calls a tool, else the same text up to surrounding whitespace."""
    a, b = _as_message(a), _as_message(b)
    if calls(a) or calls(b):
        return calls(a) == calls(b)
    return (a.get("content") or "").strip() == (b.get("content") or "").strip()


def _as_message(answer: dict | str | None) -> dict:
    if isinstance(answer, dict):
        return answer
    return {"role": ASSISTANT, "content": answer or ""}


def draft_message(tool_calls: list | None, text: str | None) -> dict:
    """A model draft (its parsed calls, else its text) as the assistant message it proposes:
    OpenAI-shaped calls with stable ids (`call_<i>` where the draft has none) and arguments
    as JSON text."""
    if not tool_calls:
        return {"role": ASSISTANT, "content": text}
    normal = []
    for i, call in enumerate(tool_calls):
        function = call.get("function", call) if isinstance(call, dict) else {}
        arguments = function.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        normal.append(
            {
                "id": (call.get("id") if isinstance(call, dict) else None) or f"call_{i}",
                "type": "function",
                "function": {"name": function.get("name", ""), "arguments": arguments},
            }
        )
    return {"role": ASSISTANT, "content": None, "tool_calls": normal}


def draft_answer(record: Any, draft: Any) -> dict | str | None:
    """A draft (anything with `tool_calls` and `text`) as an answer of `record`, comparable
    with `answer(record)`: its text for an instruction pair, else its message."""
    if is_instruction(record):
        return draft.text
    return draft_message(draft.tool_calls, draft.text)


def tools_of(record: Any, project_tools: list | None) -> list:
    """The tool schemas a record is answered with: its own, else the project's."""
    own = record.get("tools") if isinstance(record, dict) else getattr(record, "tools", None)
    return own or project_tools or []


# --- as people read it -----------------------------------------------------------------------


def answer_text(answer: dict | str | list | None) -> str:
    """An answer as the text a person reads: the text, then one `name {arguments}` line per
    call. Takes an answer (text or assistant message) or a list of calls (a reference or a
    parsed model output)."""
    if answer is None:
        return ""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, list):
        answer = {"tool_calls": answer}
    lines = [answer["content"]] if isinstance(answer.get("content"), str) else []
    for name, arguments in calls(answer):
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
        lines.append(f"{name or ''} {arguments}")
    return "\n".join(line for line in lines if line)


_TOKEN = re.compile(r"[\u3000-\u9fff\uff00-\uffef]|\w+|\s+|[^\w\s]", re.UNICODE)


def diff_segments(
    before: str, after: str, *, limit: int | None = MAX_DIFF_CHARS
) -> list[tuple[str, str]]:
    """(op, text) runs turning `before` into `after`; op is equal, insert or delete.

    Chinese is compared character by character, other scripts word by word; each side is
    cut at `limit` characters."""
    before, after = (before or "")[:limit], (after or "")[:limit]
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    segments: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            segments.append(("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            segments.append(("delete", "".join(a[i1:i2])))
        if j2 > j1:
            segments.append(("insert", "".join(b[j1:j2])))
    return segments
