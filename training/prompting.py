"""What the model sees: one place that builds prompts for drafting, training and comparison.

Messages are OpenAI-style dicts: roles system/user/assistant/tool, assistant `tool_calls`
(`{"function": {"name", "arguments"}}`, arguments a dict or a JSON string), tool results as
`tool` messages, and an optional per-message `weight` (0 = not trained).

Instruction pairs (Alpaca) become `[user: instruction (+ "\\n\\n" + input), assistant: output]`
through `curation.record_content.instruction_messages`, which says what a record's prompt and
answer are; the user message keeps the input apart under an `input` key so a prompt template
can still fill `{instruction}` and `{input}` separately.

A chat template that takes `tools=` gets the tools natively. Otherwise (SmolLM2's template
has no tool support) the tool schemas are rendered into the system message, assistant tool
calls become `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` text, and tool
results become a user turn wrapped in `<tool_response>` tags, which any template accepts.

Models without a chat template use the spec's prompt template (`{system}`, `{instruction}`,
`{input}`, `{response}`); each earlier exchange is rendered through the template too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from curation.record_content import call_parts

ToolStyle = Literal["auto", "system", "native", "none"]
Mode = Literal["auto", "chat", "template"]

DEFAULT_TEMPLATE = "### instruction\n{instruction}\n### input\n{input}\n### response\n{response}"
TOOLS_HEADER = (
    "You can call the tools below. To call one, answer only with "
    '<tool_call>{"name": <tool name>, "arguments": <arguments object>}</tool_call>; '
    "otherwise answer in plain text.\n<tools>"
)


class PromptError(Exception):
    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} Fix: {hint}" if hint else message)
        self.message = message
        self.hint = hint


@dataclass
class PromptSpec:
    """How a project shows its data to a model.

    tool_style: "auto" passes tools natively when the chat template supports them, else
    renders them into the system message ("system"); "native" forces the former and "none"
    hides tools. mode: "auto" uses the chat template and falls back to `template` for models
    without one; "template" always uses the prompt template. omit_tools: names of tools the
    prompt leaves out although a record brings them (those a tuned model has learnt).
    """

    system_prompt: str = ""
    tools: list[dict] | None = None
    template: str | None = None
    few_shot: list[list[dict]] = field(default_factory=list)
    tool_style: ToolStyle = "auto"
    mode: Mode = "auto"
    omit_tools: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> PromptSpec:
        known = {"system_prompt", "tools", "template", "few_shot", "tool_style", "mode"}
        known.add("omit_tools")
        return cls(**{k: v for k, v in data.items() if k in known and v is not None})


def function_specs(tools: list | str | None) -> list[dict]:
    """Tool schemas as plain function dicts ({name, description, parameters})."""
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else []
    specs = []
    for tool in tools or []:
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise PromptError(
                f"Tool {tool!r} has no name.",
                hint='give each tool as {"type": "function", "function": {"name": ...}}',
            )
        specs.append(function)
    return specs


def merge_tools(*tool_lists: list | str | None) -> list[dict]:
    """Later lists win on a name clash (a record's own tools override the project's)."""
    merged: dict[str, dict] = {}
    for tools in tool_lists:
        for spec in function_specs(tools):
            merged[spec["name"]] = spec
    return list(merged.values())


def tool_call_text(name: str, arguments: Any) -> str:
    return "<tool_call>" + _dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def supports_native_tools(tokenizer: Any) -> bool:
    template = getattr(tokenizer, "chat_template", None)
    texts = template.values() if isinstance(template, dict) else [template or ""]
    return any("tools" in text for text in texts)


def build_messages(
    spec: PromptSpec,
    *,
    messages: list[dict],
    tools: list | str | None = None,
    native_tools: bool = False,
) -> list[dict]:
    """The chat to send: one system message, the few-shot examples, then the record.

    `tools` are the record's own tools (added to the spec's). With native_tools the messages
    keep OpenAI tool fields for a template that understands them; pass the tools from
    `prompt_tools` to apply_chat_template.
    """
    chat = _build(spec, messages=messages, tools=tools, native_tools=native_tools)
    return [_public(m) for m in chat]


def endpoint_request(
    spec: PromptSpec,
    *,
    messages: list[dict],
    tools: list | str | None = None,
    native_tools: bool = True,
) -> tuple[list[dict], list[dict] | None]:
    """(messages, tools=) to send an OpenAI-compatible server, which applies its own chat
    template. Native: the tools go as `tools=` and earlier tool calls and results keep their
    OpenAI fields (each call an id, its result pointing at it). Otherwise the tools are written
    into the system message and calls into the text, exactly as render_prompt does for a
    local model whose template takes no tools."""
    if not native_tools:
        return build_messages(spec, messages=messages, tools=tools), None
    functions = prompt_tools(spec, tools)
    chat = build_messages(replace(spec, tool_style="none"), messages=messages, native_tools=True)
    pending: list[str] = []
    for n, m in enumerate(chat):
        if m.get("tool_calls"):
            m["tool_calls"] = [
                {
                    "id": f"call_{n}_{k}",
                    "type": "function",
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": c["function"]["arguments"]
                        if isinstance(c["function"]["arguments"], str)
                        else _dumps(c["function"]["arguments"]),
                    },
                }
                for k, c in enumerate(m["tool_calls"])
            ]
            pending = [c["id"] for c in m["tool_calls"]]
        elif m.get("role") == "tool" and pending:
            m["tool_call_id"] = pending.pop(0)
    return chat, [{"type": "function", "function": f} for f in functions] or None


def _build(
    spec: PromptSpec, *, messages: list[dict], tools: list | str | None, native_tools: bool
) -> list[dict]:
    """build_messages with private `_` keys: which turns train, and a user turn's parts."""
    all_tools = prompt_tools(spec, tools)
    record_system = [m.get("content") or "" for m in messages if m.get("role") == "system"]
    system_parts = [spec.system_prompt, *record_system]
    if all_tools and not native_tools and spec.tool_style != "none":
        system_parts.append(tools_block(all_tools))
    system = "\n\n".join(_distinct(p.strip() for p in system_parts if p and p.strip()))
    out = [{"role": "system", "content": system}] if system else []
    for example in spec.few_shot:
        out += _convert(example, native_tools=native_tools, trainable=False)
    out += _convert(messages, native_tools=native_tools, trainable=True)
    return out


def prompt_tools(spec: PromptSpec, tools: list | str | None = None) -> list[dict]:
    """The tool schemas the prompt shows: the spec's and the record's, less those omitted."""
    if spec.tool_style == "none":
        return []
    left_out = set(spec.omit_tools)
    return [f for f in merge_tools(spec.tools, tools) if f["name"] not in left_out]


def tools_block(tools: list[dict]) -> str:
    lines = [_dumps(spec) for spec in function_specs(tools)]
    return "\n".join([TOOLS_HEADER, *lines, "</tools>"])


def render_prompt(
    tokenizer: Any, spec: PromptSpec, messages: list[dict], *, tools: list | str | None = None
) -> str:
    """The generation prompt for the answer that follows `messages` (which end before it)."""
    if messages and messages[-1].get("role") == "assistant":
        raise PromptError(
            "The messages end with an assistant turn, so there is nothing to generate.",
            hint="pass the messages before the answer (see record_content.replies)",
        )
    text, _ = _render(tokenizer, spec, messages, tools=tools, generation=True)
    return text


def render_training_example(
    tokenizer: Any,
    spec: PromptSpec,
    messages: list[dict],
    *,
    tools: list | str | None = None,
    max_length: int | None = 1024,
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) with labels -100 everywhere except the record's assistant turns.

    The trained spans are found by rendering each prefix of the conversation and checking it
    is a prefix of the full text, so this works for templates without `{% generation %}`
    markers; the prompt before each answer is tokenized exactly as `render_prompt` renders it.
    Past max_length the oldest context is dropped so the last answer stays whole; an answer
    longer than max_length keeps its start, after up to max_length // 2 tokens of context.
    """
    text, spans = _render(tokenizer, spec, messages, tools=tools, generation=False)
    if not spans:
        raise PromptError(
            "The record has no assistant turn to learn from.",
            hint="give it an answer (or a non-zero weight on one)",
        )
    ids, labels = _tokenize_with_spans(tokenizer, text, spans)
    if max_length is not None and len(ids) > max_length:
        ids, labels = _truncate(ids, labels, max_length)
    return ids, labels


def render_template_text(template: str, *, system: str, instruction: str, input: str) -> str:
    """The template filled up to `{response}` (str.replace, since JSON has braces)."""
    head = template.split("{response}")[0]
    if system and "{system}" not in template:
        head = system + "\n\n" + head
    for key, value in (("{system}", system), ("{instruction}", instruction), ("{input}", input)):
        head = head.replace(key, value)
    return head


# --- internals ------------------------------------------------------------------------------


def _render(
    tokenizer: Any,
    spec: PromptSpec,
    messages: list[dict],
    *,
    tools: list | str | None,
    generation: bool,
) -> tuple[str, list[tuple[int, int]]]:
    """Full text and the character spans of trainable assistant turns."""
    if _use_template(tokenizer, spec):
        return _render_template(tokenizer, spec, messages, tools=tools, generation=generation)
    native = spec.tool_style == "native" or (
        spec.tool_style == "auto" and supports_native_tools(tokenizer)
    )
    chat = _build(spec, messages=messages, tools=tools, native_tools=native)
    functions = prompt_tools(spec, tools) if native else []
    kwargs = {"tools": [{"type": "function", "function": f} for f in functions]} if native else {}

    def apply(msgs: list[dict], gen: bool) -> str:
        return tokenizer.apply_chat_template(
            [_public(m) for m in msgs], tokenize=False, add_generation_prompt=gen, **kwargs
        )

    if generation:
        return apply(chat, True), []
    full = apply(chat, False)
    spans = []
    for i, message in enumerate(chat):
        if not message.get("_train"):
            continue
        before, through = apply(chat[:i], True), apply(chat[: i + 1], False)
        if through.startswith(before) and full.startswith(through):
            start, end = len(before), len(through.rstrip())
        else:
            # A template that renders past turns differently (e.g. strips reasoning): find the
            # answer text itself after the previous span.
            start = full.find(message.get("content") or "", spans[-1][1] if spans else 0)
            if start < 0 or not message.get("content"):
                raise PromptError(
                    "The chat template renders earlier turns differently once later turns "
                    "follow, and the answer text was not found in the full conversation.",
                    hint="set a prompt template and mode='template' for this model",
                )
            end = start + len(message["content"])
        spans.append((start, end))
    return full, spans


def _use_template(tokenizer: Any, spec: PromptSpec) -> bool:
    if spec.mode == "template":
        return True
    if getattr(tokenizer, "chat_template", None):
        return False
    if spec.mode == "chat" or not spec.template:
        raise PromptError(
            "This model has no chat template and the project has no prompt template.",
            hint="set a prompt template with {instruction} and {response} on the project",
        )
    return True


def _render_template(
    tokenizer: Any,
    spec: PromptSpec,
    messages: list[dict],
    *,
    tools: list | str | None,
    generation: bool,
) -> tuple[str, list[tuple[int, int]]]:
    template = spec.template or DEFAULT_TEMPLATE
    chat = _build(spec, messages=messages, tools=tools, native_tools=False)
    system = chat[0]["content"] if chat and chat[0]["role"] == "system" else ""
    eos = tokenizer.eos_token or ""
    text, spans, pending = "", [], ("", "")

    def head(instruction: str, input: str) -> str:
        first = system if not text else ""
        return render_template_text(template, system=first, instruction=instruction, input=input)

    for message in chat:
        if message["role"] == "user":  # consecutive user turns share one instruction
            instruction = "\n\n".join(p for p in (pending[0], message["_instruction"]) if p)
            pending = (instruction, pending[1] or message["_input"])
        elif message["role"] == "assistant":
            prompt, answer = head(*pending), message["content"] + eos
            if message.get("_train"):
                start = len(text) + len(prompt)
                spans.append((start, start + len(answer)))
            text += prompt + answer + "\n\n"
            pending = ("", "")
    if generation:
        text += head(*pending)
    return text, spans


def _public(message: dict) -> dict:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _convert(messages: list[dict], *, native_tools: bool, trainable: bool) -> list[dict]:
    """Record messages in the shape the template accepts (system messages are merged away)."""
    out: list[dict] = []
    for m in messages:
        role = m.get("role")
        if role == "system":
            continue
        if role == "user":
            content, input = m.get("content") or "", m.get("input") or ""
            joined = content + "\n\n" + input if input else content
            out.append(
                {"role": "user", "content": joined, "_instruction": content, "_input": input}
            )
        elif role == "assistant":
            entry = _assistant(m, native_tools=native_tools)
            if trainable and m.get("weight", 1) != 0:
                entry["_train"] = True
            out.append(entry)
        elif role == "tool":
            if native_tools:
                out.append({k: v for k, v in m.items() if k in ("role", "content", "name")})
                continue
            response = "<tool_response>\n" + _content_text(m.get("content")) + "\n</tool_response>"
            if out and out[-1].get("_tool_results"):
                out[-1]["content"] += "\n" + response
                out[-1]["_instruction"] = out[-1]["content"]
            else:
                entry = {"role": "user", "content": response, "_tool_results": True}
                out.append(entry | {"_instruction": response, "_input": ""})
        else:
            raise PromptError(
                f"Message role {role!r} is not one of system/user/assistant/tool.",
                hint="convert the record to OpenAI chat messages first",
            )
    for entry in out:
        entry.pop("_tool_results", None)
    return out


def _assistant(m: dict, *, native_tools: bool) -> dict:
    calls = [(n or "", a) for n, a in map(call_parts, m.get("tool_calls") or [])]
    content = m.get("content") or ""
    if native_tools:
        entry = {"role": "assistant", "content": content}
        if calls:
            entry["tool_calls"] = [
                {"type": "function", "function": {"name": n, "arguments": a}} for n, a in calls
            ]
        return entry
    parts = ([content] if content else []) + [tool_call_text(n, a) for n, a in calls]
    return {"role": "assistant", "content": "\n".join(parts)}


def _content_text(content: Any) -> str:
    return content if isinstance(content, str) else _dumps(content)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _distinct(parts: Any) -> list[str]:
    """Parts not already said verbatim by another part, so that messages which went through
    build_messages once come out the same when built again."""
    parts = list(dict.fromkeys(parts))
    return [p for p in parts if not any(p in other for other in parts if other != p)]


def _tokenize_with_spans(
    tokenizer: Any, text: str, spans: list[tuple[int, int]]
) -> tuple[list[int], list[int]]:
    """Tokenize piece by piece, cut at every answer's start and end.

    Tokenizing the whole text at once could merge the end of a prompt with the start of its
    answer (e.g. "\n" + "\n..." into one token), and the model would then learn from a prompt
    it never gets when drafting; cutting keeps each prompt tokenized exactly as it is alone.
    """
    cuts = sorted({0, len(text), *(p for span in spans for p in span)})
    trained = set(spans)
    ids: list[int] = []
    labels: list[int] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        piece = tokenizer(text[start:end], add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if (start, end) in trained else [-100] * len(piece)
    return ids, labels


def _truncate(ids: list[int], labels: list[int], max_length: int) -> tuple[list, list]:
    trained = [i for i, label in enumerate(labels) if label != -100]
    end = trained[-1] + 1
    if end <= max_length:
        return ids[:max_length], labels[:max_length]
    start = end - 1  # walk back to the first token of the last answer
    while start > 0 and labels[start - 1] != -100:
        start -= 1
    if end - start <= max_length:
        lo = end - max_length  # the whole last answer and as much recent context as fits
    else:
        lo = max(0, start - max_length // 2)  # an overlong answer keeps its start and context
    return ids[lo : lo + max_length], labels[lo : lo + max_length]
