"""Answer OpenAI-style chat requests with a local model (optionally with a LoRA adapter).

Used by Tunedesk's own `/v1/chat/completions`. A process keeps the few models it served last
(loading the bundled model from its cache takes about a second, generating takes longer),
and serves one request at a time per model, since a CPU has no spare cores for two.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.modelload import ModelSource, Placement, load_model, placement
from training.prompting import PromptError, PromptSpec, build_messages, render_prompt

KEEP_MODELS = 2
#: Every name an OpenAI client may give the answer's token budget in (the first given wins).
MAX_TOKENS_ALIASES = ("max_completion_tokens", "max_tokens", "max_new_tokens")
MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 256


class RequestRefused(Exception):
    """A request this model cannot answer, as an OpenAI error (status, type, param)."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, type_: str = ""
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.type = type_ or "invalid_request_error"


logger = logging.getLogger(__name__)


class _OutOfTime(Exception):
    pass


@dataclass(frozen=True)
class Served:
    """What one model id of the endpoint stands for."""

    id: str
    source: ModelSource
    adapter: str = ""


class ModelPool:
    def __init__(self, *, cache_dir: Path, keep: int = KEEP_MODELS) -> None:
        self.cache_dir = cache_dir
        self.keep = keep
        self._models: OrderedDict[Served, tuple[Any, Any, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()
        # float32 on the CPU as before; a CUDA GPU where the host has one
        self.placement: Placement = placement("auto", cpu_auto="float32")

    def get(self, served: Served) -> tuple[Any, Any, threading.Lock]:
        with self._lock:
            if served in self._models:
                self._models.move_to_end(served)
                return self._models[served]
            where = self.placement
            model, tokenizer = load_model(
                served.source, cache_dir=self.cache_dir, dtype=where.dtype, device=where.device
            )
            logger.info("Serving %s on %s.", served.id, where.describe())
            if served.adapter:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, served.adapter).merge_and_unload()
                model.eval()
            self._models[served] = (model, tokenizer, threading.Lock())
            while len(self._models) > self.keep:
                self._models.popitem(last=False)
            return self._models[served]


def chat_completion(
    pool: ModelPool, served: Served, request: dict, *, time_limit_s: float = 120.0
) -> dict:
    """An OpenAI chat.completion object for a validated request body.

    Raises RequestRefused when the prompt and the answer do not fit the model's context, or
    the answer takes longer than `time_limit_s`."""
    from training.generation import generate_batch

    model, tokenizer, lock = pool.get(served)
    tools = request.get("tools") or None
    # The caller's messages are the whole prompt: no project system prompt is added here.
    spec = PromptSpec(tools=tools)
    try:
        messages = build_messages(spec, messages=request["messages"])
        prompt = render_prompt(tokenizer, spec, messages)
    except PromptError as e:
        raise RequestRefused(400, str(e), param="messages") from None
    max_new_tokens = _max_new_tokens(model, tokenizer, prompt, request)
    with lock, _deadline(model, time_limit_s):
        try:
            generation = generate_batch(
                model,
                tokenizer,
                [prompt],
                max_new_tokens=max_new_tokens,
                temperature=float(request.get("temperature") or 0.0),
                batch_size=1,
                stop=request.get("stop") or None,
                seed=request.get("seed"),
            )[0]
        except _OutOfTime:
            raise RequestRefused(
                503,
                f"The answer took longer than the {time_limit_s:g} s limit of a request.",
                param="max_tokens",
                type_="timeout_error",
            ) from None
    message: dict = {"role": "assistant", "content": generation.text}
    finish_reason = generation.finish_reason
    if tools:
        from training.parsing import parse_output

        parsed = parse_output(generation.text, tools=tools)
        if parsed.kind == "tool_calls":
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{uuid.uuid4().hex[:24]}",
                        "type": "function",
                        "function": {
                            "name": call["name"],
                            "arguments": _json(call.get("arguments", {})),
                        },
                    }
                    for call in parsed.tool_calls
                ],
            }
            finish_reason = "tool_calls"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served.id,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        },
    }


def _max_new_tokens(model: Any, tokenizer: Any, prompt: str, request: dict) -> int:
    """The answer's token budget: the one asked for, if prompt and answer fit the model's
    context; without one, the default or what is left of the context, whichever is less."""
    asked = next((request[k] for k in MAX_TOKENS_ALIASES if request.get(k) is not None), None)
    context = getattr(model.config, "max_position_embeddings", None) or MAX_TOKENS_LIMIT * 2
    prompt_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    room = context - prompt_tokens
    if room < 1 or (asked is not None and asked > room):
        raise RequestRefused(
            400,
            f"This model's context is {context} tokens; the messages take {prompt_tokens}"
            + (f" and the answer asked for {asked}" if asked is not None else "")
            + ". Shorten the messages"
            + (" or ask for fewer tokens." if asked is not None else "."),
            param="messages",
        )
    return asked if asked is not None else min(DEFAULT_MAX_TOKENS, room)


@contextmanager
def _deadline(model: Any, seconds: float) -> Iterator[None]:
    """Stop generating once `seconds` have passed: every forward pass checks the clock."""
    ends = time.monotonic() + seconds

    def check(module, args):
        if time.monotonic() > ends:
            raise _OutOfTime

    handle = model.register_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


def _json(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
