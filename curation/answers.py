"""What an annotator edits: a record's answer as editor state, and the state back as content.

What the prompt and the answer of a record are is `curation.record_content`'s to say; this
module draws them as editor state and turns the posted state back into content fields.

Three editors share one shape of work: `state_from_record` draws the state, the editor posts
it back (`state_from_form`), `content_from_state` turns it into the record's content fields and
`label_of` names the decision (the tool picked, a text answer or a clarifying question) for
agreement. Nothing here knows of HTTP or the database beyond reading a record's fields.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

from core.errors import InvalidInput
from curation import record_content
from curation.formats.jsonio import loads

INSTRUCTION, TOOL_CALL, CONVERSATION = "instruction", "tool_call", "conversation"
MODE_TOOL, MODE_TEXT, MODE_CLARIFY = "tool", "text", "clarify"
#: Labels for the tool-choice classification when no tool is called.
LABEL_TEXT, LABEL_CLARIFY = "(text)", "(clarify)"
MARKS = ("chosen", "rejected", "")


@dataclass(frozen=True)
class AnswerProblem:
    code: str
    message: str
    hint: str = ""


def tools_of(record) -> list[dict]:
    # record_content.tools_of's rule; the project is read only when the record has none.
    return record.tools or record_content.tools_of(record, record.project.tools)


def tool_schema(tools: list[dict], name: str) -> dict | None:
    for tool in tools:
        function = tool.get("function", tool)
        if function.get("name") == name:
            return function
    return None


def editor_kind(record) -> str:
    if record.kind == "instruction":
        return INSTRUCTION
    messages = record.messages or []
    prompt, answer = record_content.split(messages)
    simple = (
        record.chosen is None
        and record.rejected is None
        and len(answer) <= 1
        and all(m.get("role") in ("system", "user") for m in prompt)
        and sum(1 for m in prompt if m.get("role") == "user") == 1
        and len((answer[0].get("tool_calls") or []) if answer else []) <= 1
    )
    return TOOL_CALL if simple and tools_of(record) else CONVERSATION


def pretty(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _text_mode(text: str) -> str:
    return MODE_CLARIFY if text.rstrip().endswith(("?", "？")) else MODE_TEXT


def tool_state(message: dict | None) -> dict:
    """Tool-call editor state of one assistant message (None: nothing chosen yet)."""
    if message is None:
        return {"mode": "", "tool": "", "arguments_json": "{}", "content": ""}
    calls = message.get("tool_calls") or []
    if calls:
        call = calls[0]
        name, arguments = record_content.call_parts(call)
        return {
            "mode": MODE_TOOL,
            "tool": name or "",
            "arguments_json": arguments if isinstance(arguments, str) else pretty(arguments),
            "content": message.get("content") or "",
            "call_id": call.get("id", ""),
            "arguments_as_text": isinstance(call.get("function", call).get("arguments"), str),
        }
    text = message.get("content") or ""
    return {"mode": _text_mode(text), "tool": "", "arguments_json": "{}", "content": text}


def state_from_record(record, drafts=()) -> dict:
    kind = editor_kind(record)
    if kind == INSTRUCTION:
        return {"output": record_content.answer(record)}
    if kind == TOOL_CALL:
        return tool_state(record_content.answer(record))
    prompt = record_content.prompt_of(record)
    answer = [] if record_content.has_candidates(record) else record_content.answer_run(record)
    candidates = []
    for source, mark, messages in (
        ([("answer", "chosen", answer)] if answer else [])
        + [("chosen", "chosen", record.chosen or [])]
        + [("rejected", "rejected", record.rejected or [])]
    ):
        if messages:
            candidates.append({"source": source, "mark": mark, "messages": messages})
    for draft in drafts:
        messages = [record_content.draft_message(draft.tool_calls, draft.text)]
        if all(c["messages"] != messages for c in candidates):
            candidates.append({"source": draft.model_name, "mark": "", "messages": messages})
    return {
        "messages": [_message_state(m) for m in prompt],
        "candidates": candidates,
        "new_answer": "",
    }


def _message_state(message: dict) -> dict:
    calls = message.get("tool_calls")
    return {
        "role": message.get("role", "user"),
        "content": message.get("content") if isinstance(message.get("content"), str) else "",
        "tool_calls_json": pretty(calls) if calls else "",
        "rest": {k: v for k, v in message.items() if k not in ("role", "content", "tool_calls")},
        "content_was_null": message.get("content") is None,
    }


def state_from_form(kind: str, data: Mapping[str, str]) -> dict:
    """The editor's posted fields (a flat mapping) as state; unknown keys are ignored."""
    if kind == INSTRUCTION:
        return {"output": data.get("output", "")}
    if kind == TOOL_CALL:
        # The editor posts one radio "choice": "tool:<name>", "text" or "clarify".
        choice = data.get("choice", "")
        mode, _sep, tool = choice.partition(":") if choice else (data.get("mode", ""), "", "")
        tool = tool or data.get("tool", "")
        return {
            "mode": mode,
            "tool": tool if mode == MODE_TOOL else "",
            "arguments_json": data.get("arguments_json", "{}"),
            "content": data.get("content", ""),
            "call_id": data.get("call_id", ""),
            "arguments_as_text": data.get("arguments_as_text", "1") == "1",
        }
    state = {"messages": [], "candidates": [], "new_answer": data.get("new_answer", "")}
    i = 0
    while f"m-{i}-role" in data:
        state["messages"].append(
            {
                "role": data[f"m-{i}-role"],
                "content": data.get(f"m-{i}-content", ""),
                "tool_calls_json": data.get(f"m-{i}-tool_calls", ""),
                "rest": _loads(data.get(f"m-{i}-rest", "{}"), f"message {i + 1}") or {},
                "content_was_null": data.get(f"m-{i}-null") == "1",
            }
        )
        i += 1
    i = 0
    while f"c-{i}-messages" in data:
        mark = data.get(f"c-{i}-mark", "")
        state["candidates"].append(
            {
                "source": data.get(f"c-{i}-source", ""),
                "mark": mark if mark in MARKS else "",
                "messages": _loads(data[f"c-{i}-messages"], f"answer {i + 1}") or [],
            }
        )
        i += 1
    return state


def _loads(text: str, where: str):
    try:
        return loads(text) if text.strip() else None
    except json.JSONDecodeError as e:  # also too deep, NaN, a number past 4,300 digits
        raise InvalidInput(
            _("This is not valid JSON: %(error)s") % {"error": e.msg},
            hint=_("Fix the JSON at line %(line)s, column %(col)s.")
            % {"line": e.lineno, "col": e.colno},
            where=where,
        ) from None


def tool_message(state: dict, tools: list[dict]) -> dict:
    """The assistant message a tool-call state stands for; raises InvalidInput if incomplete."""
    mode = state.get("mode")
    if mode == MODE_TOOL:
        name = state.get("tool", "")
        if tool_schema(tools, name) is None:
            raise InvalidInput(
                _("Pick a tool."),
                hint=_("Press 1–9 for a tool, 0 for a text answer, q to ask a question."),
                where="tool",
            )
        arguments = _loads(state.get("arguments_json", ""), _("arguments"))
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise InvalidInput(
                _("The arguments must be a JSON object."),
                hint=_('Wrap them in { }, e.g. {"product_name": "T恤"}.'),
                where=_("arguments"),
            )
        as_text = state.get("arguments_as_text", True)
        call = {
            "id": state.get("call_id") or "call_" + secrets.token_hex(12),
            "type": "function",
            "function": {
                "name": name,
                "arguments": json.dumps(arguments, ensure_ascii=False) if as_text else arguments,
            },
        }
        return {"role": "assistant", "content": state.get("content") or None, "tool_calls": [call]}
    if mode in (MODE_TEXT, MODE_CLARIFY):
        text = state.get("content", "")
        if not text.strip():
            raise InvalidInput(
                _("The answer is empty."),
                hint=_("Write the answer or pick a tool."),
                where="content",
            )
        return {"role": "assistant", "content": text}
    raise InvalidInput(
        _("Choose what the assistant does."),
        hint=_("Press 1–9 for a tool, 0 for a text answer, q to ask a question."),
        where="tool",
    )


def content_from_state(record, state: dict) -> dict:
    """Content fields to write; raises InvalidInput when the state cannot become a record."""
    kind = editor_kind(record)
    if kind == INSTRUCTION:
        if record_content.has_candidates(record):  # the text shown is the chosen candidate's
            return {"chosen": [{"role": "assistant", "content": state.get("output", "")}]}
        return {"output": state.get("output", "")}
    if kind == TOOL_CALL:
        prompt = record_content.prompt_of(record)
        return {"messages": [*prompt, tool_message(state, tools_of(record))]}
    prompt = []
    for i, m in enumerate(state.get("messages", [])):
        message = {"role": m["role"], **m.get("rest", {})}
        message["content"] = (
            None if (m.get("content_was_null") and not m.get("content")) else m.get("content", "")
        )
        calls = _loads(m.get("tool_calls_json", ""), _("message %(n)s") % {"n": i + 1})
        if calls:
            message["tool_calls"] = calls
        prompt.append({k: message[k] for k in ("role", "content", "tool_calls") if k in message})
        prompt[-1].update({k: v for k, v in message.items() if k not in prompt[-1]})
    candidates = list(state.get("candidates", []))
    if state.get("new_answer", "").strip():
        better = {"role": "assistant", "content": state["new_answer"]}
        for c in candidates:
            if c["mark"] == "chosen":
                c["mark"] = ""
        candidates.append({"source": "human", "mark": "chosen", "messages": [better]})
    chosen = [c for c in candidates if c["mark"] == "chosen"]
    rejected = [c for c in candidates if c["mark"] == "rejected"]
    if len(chosen) != 1:
        raise InvalidInput(
            _("Mark exactly one answer as chosen (%(n)s are).") % {"n": len(chosen)},
            hint=_("Press c on the best answer, or write a better one with w."),
            where=_("answers"),
        )
    if len(rejected) > 1:
        raise InvalidInput(
            _("Mark at most one answer as rejected (%(n)s are).") % {"n": len(rejected)},
            hint=_("Press x again on an answer to clear its mark."),
            where=_("answers"),
        )
    if rejected or record.chosen is not None or record.rejected is not None:
        return {
            "messages": prompt,
            "chosen": chosen[0]["messages"],
            "rejected": rejected[0]["messages"] if rejected else [],
        }
    return {"messages": [*prompt, *chosen[0]["messages"]]}


def label_of(answer: dict | str | None, *, mode: str = "") -> tuple[str, dict | None]:
    """(tool-choice label, arguments) of an answer: the classification agreement compares."""
    if not isinstance(answer, dict):
        return LABEL_TEXT, None
    calls = answer.get("tool_calls") or []
    if calls:
        name, arguments = record_content.call_parts(calls[0])
        return name or "", arguments if isinstance(arguments, dict) else {"(raw)": arguments}
    if mode == MODE_CLARIFY or (
        not mode and _text_mode(answer.get("content") or "") == MODE_CLARIFY
    ):
        return LABEL_CLARIFY, None
    return LABEL_TEXT, None


def answer_problems(record, content: dict) -> list[AnswerProblem]:
    """Schema problems of the answer's tool calls (empty for text answers)."""
    answer = record_content.answer(record, content)
    if not isinstance(answer, dict) or not answer.get("tool_calls"):
        return []
    from curation.toolcheck import check_tool_calls

    return [
        AnswerProblem(p.code, *_describe(p)) for p in check_tool_calls([answer], tools_of(record))
    ]


def _kind(kind: str) -> str:
    return {
        "text": _("text"),
        "true/false": _("true/false"),
        "a number": _("a number"),
        "null": _("null"),
        "an array": _("an array"),
        "an object": _("an object"),
    }.get(kind, kind)


def _describe(problem) -> tuple[str, str]:
    """(message, hint) of a toolcheck Problem in the reader's language. The checker's own
    words (jsonschema's, json's) stay as they are inside the translated sentence."""
    d, tool = problem.detail, problem.tool
    code = problem.code
    if code == "bad_call":
        return _("A tool call has no function name"), _("Give every tool call a function name.")
    if code == "unknown_tool":
        known = ", ".join(f'"{n}"' for n in d.get("known", ())) or _("none are defined")
        return (
            _('It calls "%(tool)s", which is not one of the tools (%(known)s)')
            % {"tool": tool, "known": known},
            _("Call a defined tool, or add this tool to the tool schemas."),
        )
    if code == "bad_json":
        return (
            _('The arguments of "%(tool)s" are not valid JSON (%(error)s)')
            % {"tool": tool, "error": d.get("error", "")},
            _("Write the arguments as a JSON object."),
        )
    if code == "arguments_double_encoded":
        return (
            _('The arguments of "%(tool)s" are a JSON object encoded twice (a JSON string '
              "holding JSON)") % {"tool": tool},
            _('Store the object once: {"a": 1}, not "{\\"a\\": 1}".'),
        )  # fmt: skip
    if code == "arguments_not_object":
        return (
            _('The arguments of "%(tool)s" are %(kind)s, not a JSON object')
            % {"tool": tool, "kind": _kind(d.get("kind", ""))},
            _("Give the arguments as a JSON object of parameter names and values."),
        )
    if code == "bad_schema":
        return (
            _('The schema of tool "%(tool)s" is invalid (%(error)s)')
            % {"tool": tool, "error": d.get("error", "")},
            _("Correct the tool schema."),
        )
    if code == "schema_violation":
        validator, expected = d.get("validator"), d.get("expected")
        message = (
            _('Argument %(path)s of "%(tool)s": %(error)s')
            if problem.path
            else _('The arguments of "%(tool)s": %(error)s')
        ) % {"path": problem.path, "tool": tool, "error": d.get("error", "")}
        if validator == "required":
            hint = _("Fill in the required argument.")
        elif validator == "type":
            hint = _("Give it the type %(type)s.") % {"type": expected}
        elif validator == "enum":
            values = ", ".join(json.dumps(v, ensure_ascii=False) for v in expected or ())
            hint = _("Use one of %(values)s.") % {"values": values}
        elif validator == "additionalProperties":
            hint = _("Remove the argument the tool does not define.")
        else:
            hint = _("Make the arguments match the tool schema.")
        return message, hint
    return problem.message, problem.hint


@dataclass(frozen=True)
class ArgumentRow:
    name: str
    before: object
    after: object

    @property
    def change(self) -> str:
        if self.before == self.after:
            return "same"
        if self.before is _MISSING:
            return "added"
        if self.after is _MISSING:
            return "removed"
        return "changed"

    def shown(self, value) -> str:
        return "" if value is _MISSING else json.dumps(value, ensure_ascii=False)

    @property
    def before_text(self) -> str:
        return self.shown(self.before)

    @property
    def after_text(self) -> str:
        return self.shown(self.after)


_MISSING = object()


def argument_rows(before, after) -> list[ArgumentRow]:
    """Field-by-field comparison of two answers' tool calls: the tool, then each argument."""
    label_a, args_a = label_of(before)
    label_b, args_b = label_of(after)
    rows = [ArgumentRow(_("tool"), label_a, label_b)]
    args_a, args_b = args_a or {}, args_b or {}
    for name in [*args_a, *(k for k in args_b if k not in args_a)]:
        rows.append(ArgumentRow(name, args_a.get(name, _MISSING), args_b.get(name, _MISSING)))
    return rows
